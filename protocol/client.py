"""A blocking client for the dragd daemon, for the editor plugins and scripts.

    with DragdClient() as client:
        info = client.hello()
        session = client.generate(seed=7)
        result = client.drag(session.session, [((64, 80), (64, 64))], on_progress=print)

Every call raises `DragdError` (error replies, invalid input), or its subclass `DragdTimeout` when the daemon
stays silent for `timeout` seconds: a dead daemon gives a timeout, never a hang.

Threads: `cancel()` may be called from any thread (or from inside `on_progress`) while `drag()` blocks.
ZeroMQ sockets are not thread-safe, so exactly one thread at a time, the *pump leader*, touches the socket:
it sends what other threads queued in the outbox, polls for at most _SLICE_S, and sorts the replies it reads
into per-request inboxes by request id. Any thread waiting for a reply becomes the leader when no one else
is; the others wait on a condition variable that the leader signals after each pump. So there is no
background thread to start or leak inside an editor, and a send from another thread waits at most _SLICE_S.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import zmq

from .codec import decode, encode
from .errors import DragdError, DragdTimeout, ErrorCode, ProtocolError
from .images import Image
from .limits import DEFAULT_LIMITS, PROTOCOL_VERSION, SUPPORTED_PROTOCOLS, Limits
from .messages import (
    CancelRequest,
    CloseSessionRequest,
    DragOptions,
    DragRequest,
    DragResult,
    GenerateRequest,
    GenerateResult,
    HeartbeatRequest,
    HelloRequest,
    HelloResult,
    HistoryResult,
    InversionOptions,
    ListModelsRequest,
    ModelInfo,
    OpenSessionRequest,
    OpenSessionResult,
    PingRequest,
    PingResult,
    PointPair,
    RedoRequest,
    Reply,
    RequestBody,
    RequestId,
    RestoreRequest,
    RestoreResult,
    SessionInfoRequest,
    SessionInfoResult,
    ShutdownRequest,
    StateRequest,
    StateResult,
    StatusRequest,
    StatusResult,
    UndoRequest,
    request_message,
    validate_reply,
    validate_request,
)
from .transport import AddressError, ClientKeys, KeysError, dealer_socket, local_client_keys, resolve_address

if TYPE_CHECKING:
    from .live import LiveDrag

_SLICE_S = 0.05  # the longest one pump polls, so queued sends and other threads are never held up longer

ProgressCallback = Callable[[Any], None]  # receives DragProgress / InversionProgress / Waiting
PointsLike = Iterable[PointPair | tuple[Sequence[float], Sequence[float]]]


@dataclass
class _Pending:
    request_type: str
    replies: deque[Reply | DragdError] = field(default_factory=deque)
    discard: bool = False  # sent without waiting (a live drag's acknowledgement): its replies are dropped


class DragdClient:
    """One connection to a daemon (one DEALER socket). Safe to share between threads."""

    def __init__(
        self,
        address: str | None = None,
        timeout: float = 30.0,
        *,
        client_name: str = "dragd-client",
        keys: ClientKeys | None = None,
        curve_server_key: str | bytes | None = None,
        curve_public_key: str | bytes | None = None,
        curve_secret_key: str | bytes | None = None,
        context: zmq.Context | None = None,
        max_reply_bytes: int = DEFAULT_LIMITS.max_frame_bytes * 2,
    ) -> None:
        """`address`: None finds it as every dragd tool does (`transport.resolve_address`). `timeout`: the
        longest silence (seconds) accepted while waiting for a request's next message. Long drags are fine:
        every step sends progress, and the daemon sends keepalives while a request waits.
        The connection is always CurveZMQ: with `keys`, or `curve_server_key` (the daemon's Z85 public key)
        plus this client's pair (a fresh pair when omitted: only a daemon that admits any key answers), else
        the user's own keys (`transport.local_client_keys`, made on first use), which the user's daemon admits.
        Raises DragdError(bad_request) for an unusable address, DragdError(unavailable) for unreadable keys."""
        self.address = resolve_address(address)
        self.timeout = timeout
        self.client_name = client_name
        self.max_reply_bytes = max_reply_bytes
        self.daemon: HelloResult | None = None  # what `hello` learned
        try:
            if keys is None and curve_server_key is not None:
                if curve_public_key is None or curve_secret_key is None:
                    curve_public_key, curve_secret_key = zmq.curve_keypair()
                keys = ClientKeys(*(k.encode("ascii") if isinstance(k, str) else k
                                    for k in (curve_server_key, curve_public_key, curve_secret_key)))
            self._socket = dealer_socket(context or zmq.Context.instance(), self.address,
                                         keys or local_client_keys(), max_reply_bytes=max_reply_bytes)
        except AddressError as exc:
            raise DragdError(ErrorCode.BAD_REQUEST, str(exc)) from None
        except KeysError as exc:
            raise DragdError(ErrorCode.UNAVAILABLE, str(exc)) from None
        self._cond = threading.Condition()
        self._outbox: deque[tuple[RequestId, bytes]] = deque()
        self._pending: dict[RequestId, _Pending] = {}
        self._pumping = False
        self._closed = False
        self._ids = itertools.count(1)

    @property
    def limits(self) -> Limits:
        """The daemon's limits once `hello` ran; before that, only the protocol's own ceilings."""
        return self.daemon.limits if self.daemon is not None else Limits.permissive()

    # ---- the protocol's requests ------------------------------------------------------------------------

    def hello(self, timeout: float | None = None) -> HelloResult:
        result = self._call(HelloRequest(self.client_name, PROTOCOL_VERSION), timeout)
        if result.protocol not in SUPPORTED_PROTOCOLS:
            raise DragdError(ErrorCode.VERSION_MISMATCH,
                             f"the daemon speaks protocol {result.protocol}, this plugin {PROTOCOL_VERSION}",
                             {"client": PROTOCOL_VERSION, "daemon": result.protocol})
        self.daemon = result
        return result

    def ping(self, timeout: float | None = None) -> PingResult:
        return self._call(PingRequest(), timeout)

    def list_models(self, timeout: float | None = None) -> tuple[ModelInfo, ...]:
        return self._call(ListModelsRequest(), timeout).models

    def generate(self, seed: int, model: str | None = None, truncation: float = 0.7,
                 timeout: float | None = None) -> GenerateResult:
        return self._call(GenerateRequest(seed=seed, model=model, truncation=truncation), timeout)

    def open_session(self, image: Image, model: str | None = None,
                     region: tuple[int, int, int, int] | None = None, mask: Image | None = None,
                     on_progress: ProgressCallback | None = None, timeout: float | None = None,
                     options: InversionOptions | None = None) -> OpenSessionResult:
        """Open a session on a real image (GAN inversion of `region`, default the mask's bounds or the whole
        image). `on_progress` gets each InversionProgress; `cancel()` from another thread stops it."""
        request = OpenSessionRequest(image=image, model=model, region=region, mask=mask,
                                     options=options or InversionOptions())
        return self._call(request, timeout, on_progress)

    def drag(self, session: str, points: PointsLike, mask: Image | None = None,
             options: DragOptions | None = None, on_progress: ProgressCallback | None = None,
             timeout: float | None = None) -> DragResult:
        """Run a drag to its end. `points`: PointPairs or ((hx, hy), (tx, ty)) pairs in pixel-centre
        coordinates. `on_progress` gets each DragProgress (and Waiting keepalives) on the calling thread;
        if it raises, the drag is cancelled and the exception propagates."""
        request = DragRequest(session=session, points=to_point_pairs(points), mask=mask,
                              options=options or DragOptions())
        return self._call(request, timeout, on_progress)

    def live_drag(self, session: str, points: PointsLike, mask: Image | None = None,
                  options: DragOptions | None = None) -> LiveDrag:
        """Start a live drag (SPEC.md, "Live drags") and return once it is sent; drive it with the `LiveDrag`'s
        `poll`, `update`, `commit` and `cancel` (protocol/live.py). `points` as for `drag`; PointPairs may carry
        keys (default: the pair's index). `options.live` is set for you."""
        from .live import LiveDrag  # the helper builds on this class; imported here to keep one import direction

        options = dataclasses.replace(options or DragOptions(), live=True)
        request = DragRequest(session=session, points=to_point_pairs(points), mask=mask, options=options)
        drag = LiveDrag(self, self._submit(request), request)
        self._flush()  # sent now, not at the next poll
        return drag

    def cancel(self, target: RequestId | None = None, timeout: float | None = None) -> bool:
        """Cancel request `target`, or with None every request of this client in flight. True when something
        was cancelled; a target that already finished is not an error."""
        with self._cond:
            if target is not None:
                targets = [target]
            else:
                targets = [rid for rid, p in self._pending.items() if p.request_type != CancelRequest.TYPE]
        cancelled = False
        for rid in targets:
            try:
                self._call(CancelRequest(rid), timeout)
                cancelled = True
            except DragdError as exc:
                if exc.code != ErrorCode.NOT_FOUND:
                    raise
        return cancelled

    def in_flight(self) -> dict[RequestId, str]:
        """Requests of this client still waiting for their final reply: id -> type."""
        with self._cond:
            return {rid: p.request_type for rid, p in self._pending.items()}

    def undo(self, session: str, timeout: float | None = None) -> HistoryResult:
        return self._call(UndoRequest(session), timeout)

    def redo(self, session: str, timeout: float | None = None) -> HistoryResult:
        return self._call(RedoRequest(session), timeout)

    def state(self, session: str, timeout: float | None = None) -> StateResult:
        """The latent of the session's current state (for an editor's state binding, protocol.binding)."""
        return self._call(StateRequest(session), timeout)

    def restore(self, latent: bytes, shape: tuple[int, int], session: str | None = None, model: str | None = None,
                timeout: float | None = None) -> RestoreResult:
        """Continue from a stored latent (num_ws x w_dim float32): as a new state of `session`, or, without
        one, as a new generated session of `model`. SPEC.md, `restore`."""
        return self._call(RestoreRequest(latent, (int(shape[0]), int(shape[1])), session, model), timeout)

    def close_session(self, session: str, timeout: float | None = None) -> None:
        self._call(CloseSessionRequest(session), timeout)

    def session_info(self, session: str, timeout: float | None = None) -> SessionInfoResult:
        """Where `session` stands: its history, and whether a daemon restart cut a request on it short."""
        return self._call(SessionInfoRequest(session), timeout)

    def status(self, timeout: float | None = None) -> StatusResult:
        return self._call(StatusRequest(), timeout)

    def shutdown(self, timeout: float | None = None) -> None:
        self._call(ShutdownRequest(), timeout)

    def heartbeat(self, sessions: Iterable[str] = (), timeout: float | None = None) -> tuple[str, ...]:
        """Tell the daemon this client and these sessions are alive; returns those sessions still open."""
        return self._call(HeartbeatRequest(tuple(sessions)), timeout).sessions

    # ---- lifetime ----------------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the socket; calls waiting in other threads fail with `unavailable`."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            while self._pumping:  # the leader is using the socket: let it finish its slice
                self._cond.wait()
            self._socket.close(linger=0)
            self._cond.notify_all()

    def __enter__(self) -> DragdClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---- machinery ---------------------------------------------------------------------------------------

    def _call(self, body: RequestBody, timeout: float | None,
              on_progress: ProgressCallback | None = None) -> Any:
        """Send one request and wait for its final reply; returns the result body."""
        rid = self._submit(body)
        try:
            return self._await(rid, body.TYPE, self.timeout if timeout is None else timeout, on_progress)
        finally:
            self._forget(rid)

    def _submit(self, body: RequestBody, *, discard: bool = False) -> RequestId:
        """Check and queue one request for sending (the next pump sends it); returns its id. Its replies
        collect in its inbox until `_forget(id)`, or, with `discard`, are dropped as they arrive."""
        rid = next(self._ids)
        message = request_message(rid, body)
        validate_request(message, self.limits)  # bad input fails here, with the same message the daemon gives
        frame = encode(message)
        if len(frame) > self.limits.max_frame_bytes:
            raise ProtocolError(ErrorCode.TOO_LARGE, f"request of {len(frame)} bytes exceeds the daemon's "
                                                     f"limit of {self.limits.max_frame_bytes}")
        with self._cond:
            if self._closed:
                raise DragdError(ErrorCode.UNAVAILABLE, "this client is closed")
            self._pending[rid] = _Pending(body.TYPE, discard=discard)
            self._outbox.append((rid, frame))
        return rid

    def _forget(self, rid: RequestId) -> None:
        with self._cond:
            self._pending.pop(rid, None)

    def _await(self, rid: RequestId, request_type: str, silence: float,
               on_progress: ProgressCallback | None) -> Any:
        while True:
            reply = self._next_reply(rid, time.monotonic() + silence, silence)
            if isinstance(reply, DragdError):
                raise reply
            if reply.request_type not in (request_type, None):
                raise DragdError(ErrorCode.BAD_REPLY, f"the daemon answered a {request_type} request with "
                                                      f"a {reply.request_type} {reply.kind}")
            if reply.kind == "result":
                return reply.body
            if reply.kind == "error":
                raise DragdError(reply.body.code, reply.body.message, reply.body.details)
            if on_progress is not None:  # progress or waiting
                try:
                    on_progress(reply.body)
                except BaseException:
                    self._cancel_quietly(rid)
                    raise

    def _cancel_quietly(self, rid: RequestId) -> None:
        with contextlib.suppress(DragdError):  # the daemon may be gone; the original exception matters more
            self.cancel(rid, timeout=min(self.timeout, 2.0))

    def _next_reply(self, rid: RequestId, deadline: float, silence: float,
                    quiet: bool = False) -> Reply | DragdError | None:
        """The next message for `rid`, pumping the socket while no other thread does. At the deadline: a
        DragdTimeout, or with `quiet` None (after at least one pump, so a deadline of now still reads the socket)."""
        pumped = False
        while True:
            with self._cond:
                while True:
                    if self._closed:
                        return DragdError(ErrorCode.UNAVAILABLE, "the client was closed")
                    pending = self._pending[rid]
                    if pending.replies:
                        return pending.replies.popleft()
                    remaining = deadline - time.monotonic()
                    if remaining <= 0 and (pumped or not quiet):
                        return None if quiet else DragdTimeout(
                            f"no answer from the dragd daemon at {self.address} within {silence:g} s "
                            "(is it running? `dragd serve` starts it)")
                    if not self._pumping:
                        self._pumping = True  # this thread leads the next pump
                        break
                    self._cond.wait(min(max(remaining, 0.0), _SLICE_S))
                    pumped = True  # another thread pumped meanwhile
            try:
                pumped = True
                self._pump(min(max(remaining, 0.0), _SLICE_S))
            finally:
                with self._cond:
                    self._pumping = False
                    self._cond.notify_all()

    def _flush(self) -> None:
        """Send what is queued now, unless another thread is pumping (it sends it within _SLICE_S)."""
        with self._cond:
            if self._pumping or self._closed or not self._outbox:
                return
            self._pumping = True
        try:
            self._pump(0.0)
        finally:
            with self._cond:
                self._pumping = False
                self._cond.notify_all()

    def _pump(self, wait_s: float) -> None:
        """Leader only: send the outbox, wait up to `wait_s` for input, sort what arrived into inboxes."""
        with self._cond:
            outgoing = list(self._outbox)
            self._outbox.clear()
        for rid, frame in outgoing:
            try:
                # Large frames are handed over without a copy; NOBLOCK so a full queue cannot hang us.
                self._socket.send(frame, zmq.NOBLOCK, copy=len(frame) < 65536)
            except zmq.ZMQError as exc:
                self._deliver(rid, DragdError(ErrorCode.UNAVAILABLE, f"cannot send to {self.address}: {exc}"))
        if not self._socket.poll(int(wait_s * 1000), zmq.POLLIN):
            return
        while True:
            try:
                frames = self._socket.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            self._dispatch(frames)

    def _dispatch(self, frames: list[bytes]) -> None:
        if len(frames) != 1:
            return  # not a dragd reply (SPEC: one frame per message); nobody to tell
        try:
            reply = validate_reply(decode(frames[0], self.max_reply_bytes), self.limits)
        except ProtocolError as exc:
            if exc.request_id is not None:
                self._deliver(exc.request_id, DragdError(ErrorCode.BAD_REPLY,
                                                         f"the daemon sent an invalid reply: {exc.message}"))
            return
        if reply.id is None:  # an error about a frame the daemon could not read at all
            with self._cond:
                ids = list(self._pending)
            if len(ids) == 1:  # unambiguous: it can only be about our one request
                self._deliver(ids[0], reply)
            return
        self._deliver(reply.id, reply)

    def _deliver(self, rid: RequestId, item: Reply | DragdError) -> None:
        with self._cond:
            pending = self._pending.get(rid)
            if pending is None:  # replies to abandoned (timed-out) requests are dropped
                return
            if pending.discard:
                if isinstance(item, DragdError) or item.kind in ("result", "error"):
                    del self._pending[rid]
                return
            pending.replies.append(item)
            self._cond.notify_all()


def to_point_pairs(points: PointsLike) -> tuple[PointPair, ...]:
    """PointPairs from PointPairs or ((hx, hy), (tx, ty)) pairs (lists or tuples)."""
    pairs = []
    for item in points:
        if isinstance(item, PointPair):
            pairs.append(item)
            continue
        try:
            (hx, hy), (tx, ty) = item
        except (TypeError, ValueError):
            raise ProtocolError(ErrorCode.BAD_REQUEST, f"a point pair is ((hx, hy), (tx, ty)), got {item!r}"
                                ) from None
        pairs.append(PointPair((hx, hy), (tx, ty)))
    return tuple(pairs)
