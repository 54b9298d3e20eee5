"""The client side of a live drag (SPEC.md, "Live drags"), for the editor plugins and the benchmark.

    drag = client.live_drag(session, [PointPair((40, 50), (44, 50), key="nose")])
    # from a Qt timer or a GLib timeout, every ~20-50 ms:
    reply = drag.poll()              # newest DragProgress (acknowledged), the final DragResult, or None
    drag.update([("nose", (48, 52))])  # new targets (known keys keep their tracked handles) -> revision
    result = drag.commit()           # or drag.cancel(): ends it, returns the DragResult

A `LiveDrag` belongs to the thread that drives it (one editor timer); the `DragdClient` under it may be
shared. `poll(0)` never waits for the daemon beyond one non-blocking read of the socket; `update`, `commit`
and `cancel` wait for the daemon's answer, which the daemon gives at once (they are not queued).
Latest-wins: the daemon keeps at most one progress in flight per live drag until it is acknowledged; `poll`
acknowledges the newest one it returns (older ones that arrived with it are dropped), so a slow caller sees
fewer frames, never old ones.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from .errors import DragdError, DragdTimeout, ErrorCode, ProtocolError
from .messages import (
    DragProgress,
    DragRequest,
    DragResult,
    LivePoint,
    LiveUpdateRequest,
    LiveUpdateResult,
    PairKey,
    Point,
    RequestId,
    pair_keys,
)

if TYPE_CHECKING:
    from .client import DragdClient

# (key, target), (key, handle, target) with handle None for a known key, or LivePoint
LivePointsLike = Iterable[LivePoint | tuple[PairKey, Sequence[float]] | tuple[PairKey, Sequence[float] | None,
                                                                               Sequence[float]]]


class LiveDrag:
    """One live drag in flight. Made by `DragdClient.live_drag`; every method raises DragdError."""

    def __init__(self, client: DragdClient, request_id: RequestId, request: DragRequest) -> None:
        self.client = client
        self.id = request_id
        self.session = request.session
        self.keys: tuple[PairKey, ...] = tuple(pair_keys(request.points))  # of the last points sent
        self.revision = 0  # of the last update sent that changed points
        self.latest: DragProgress | None = None  # the newest progress `poll` returned
        self.result: DragResult | None = None  # the final result, once it arrived
        self._acked = 0  # the highest progress seq acknowledged
        self._heard = time.monotonic()  # last message from the daemon about this drag

    @property
    def done(self) -> bool:
        return self.result is not None

    def poll(self, timeout: float = 0.0) -> DragProgress | DragResult | None:
        """What is new, waiting at most `timeout` seconds for it: the final DragResult (also kept in `.result`;
        returned again by later calls), else the newest DragProgress that arrived (acknowledged, so the daemon
        may send the next one), else None. Raises DragdError for an error reply and DragdTimeout when the daemon
        has been silent for the client's timeout (an idle live drag still sends keepalives while acknowledged)."""
        if self.result is not None:
            return self.result
        newest: DragProgress | None = None
        wait = timeout
        while True:
            reply = self.client._next_reply(self.id, time.monotonic() + wait, wait, quiet=True)
            if reply is None:
                break
            wait = 0.0  # drain what is there, without waiting again
            self._heard = time.monotonic()
            body = self._read(reply)
            if isinstance(body, DragResult):
                return body
            if isinstance(body, DragProgress) and (newest is None or (body.seq or 0) > (newest.seq or 0)):
                newest = body
        if newest is None:
            if time.monotonic() - self._heard > self.client.timeout:
                raise DragdTimeout(f"no word from the dragd daemon about live drag {self.id!r} for "
                                   f"{self.client.timeout:g} s")
            return None
        self.latest = newest
        if newest.seq is not None and newest.seq > self._acked:
            self._acked = newest.seq
            self._send_quietly(LiveUpdateRequest(self.id, seen=newest.seq))
        return newest

    def update(self, points: LivePointsLike | None = None, timeout: float | None = None) -> LiveUpdateResult:
        """Send new points (the full list: a known key keeps its tracked handle, an unknown key is a new pair and
        needs a handle, a key left out is removed); None only acknowledges. Returns the daemon's answer (the
        highest accepted revision, idle). Bad points raise DragdError(bad_request) and the drag carries on;
        a drag that already ended raises DragdError(not_found)."""
        live_points = None if points is None else to_live_points(points)
        revision = self.revision + 1 if live_points is not None else None
        answer = self._update(LiveUpdateRequest(self.id, revision, live_points, self._acked or None), timeout)
        if live_points is not None:
            self.revision = revision or 0
            self.keys = tuple(point.key for point in live_points)
        return answer

    def commit(self, timeout: float | None = None) -> DragResult:
        """End the drag, keeping its current state as one new history state; returns its result
        (`stopped` "committed", or how it ended if it already had)."""
        if self.result is None:
            try:
                self._update(LiveUpdateRequest(self.id, seen=self._acked or None, commit=True), timeout)
            except DragdError as exc:
                if exc.code != ErrorCode.NOT_FOUND:  # not_found: it ended meanwhile; its result is on its way
                    raise
        return self.wait(timeout)

    def cancel(self, timeout: float | None = None) -> DragResult:
        """End the drag without a new history state; returns its result (`stopped` "cancelled", the session's
        unchanged image), or how it ended if it already had."""
        if self.result is None:
            self.client.cancel(self.id, timeout)
        return self.wait(timeout)

    def wait(self, timeout: float | None = None) -> DragResult:
        """Block until the final result arrives (progress on the way is dropped)."""
        silence = self.client.timeout if timeout is None else timeout
        while self.result is None:
            reply = self.client._next_reply(self.id, time.monotonic() + silence, silence)
            assert reply is not None
            self._read(reply)
        return self.result

    # ---- machinery ---------------------------------------------------------------------------------------

    def _update(self, body: LiveUpdateRequest, timeout: float | None) -> LiveUpdateResult:
        return self.client._call(body, timeout)

    def _send_quietly(self, body: LiveUpdateRequest) -> None:
        """An acknowledgement: sent with the next pump, its answer dropped (a drag that ended meanwhile answers
        not_found, which changes nothing)."""
        with contextlib.suppress(DragdError):  # a closed client: the next poll says so
            self.client._submit(body, discard=True)
            self.client._flush()

    def _read(self, reply: Any) -> DragProgress | DragResult | None:
        """A reply to the drag request: progress is returned, a result is kept and returned, errors raise."""
        if isinstance(reply, DragdError):
            self.client._forget(self.id)
            raise reply
        if reply.kind == "error":
            self.client._forget(self.id)
            raise DragdError(reply.body.code, reply.body.message, reply.body.details)
        if reply.kind == "result":
            self.client._forget(self.id)
            self.result = reply.body
            return reply.body
        return reply.body if reply.kind == "progress" else None  # waiting: a keepalive


def to_live_points(points: LivePointsLike) -> tuple[LivePoint, ...]:
    """LivePoints from LivePoints, (key, (tx, ty)) or (key, (hx, hy) | None, (tx, ty)) tuples."""
    result = []
    for item in points:
        if isinstance(item, LivePoint):
            result.append(item)
            continue
        try:
            if len(item) == 2:
                key, target = item
                handle = None
            else:
                key, handle, target = item
            tx, ty = target
            live = LivePoint(key, (tx, ty), None if handle is None else (handle[0], handle[1]))
        except (TypeError, ValueError, IndexError):
            raise ProtocolError(ErrorCode.BAD_REQUEST, "a live point is (key, (tx, ty)) or (key, (hx, hy), (tx, ty)), "
                                                       f"got {item!r}") from None
        result.append(live)
    return tuple(result)


def point_of(progress: DragProgress | DragResult, key: PairKey) -> Point | None:
    """The tracked handle of the pair `key` in a live progress or result (None: no such pair)."""
    keys = getattr(progress, "keys", None)
    if keys is None or key not in keys:
        return None
    return progress.points[keys.index(key)]
