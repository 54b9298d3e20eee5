"""One live drag of a layer, in plain Python: what the "DragGAN drag..." dialog's timer does (no Gtk, no GIMP).

A live drag is prepared exactly like a normal one (`drag.prepare_drag`: the same checks, session and
selection), then started on the daemon with the path's pairs (`DragdClient.live_drag`, protocol `live`).
From then on the dialog calls `LiveDrag.tick` from a GLib timeout (every `TICK_S`): it sends the artist's
edits (`live_view.LivePoints`, coalesced by `live_view.UpdateThrottle`) as `live_update`s, and takes every
progress the daemon has (the client keeps only the newest: latest wins) without ever waiting for one. OK is
`commit` (the daemon's result becomes the result layer through `drag.result_outcome`, as a normal drag's),
Cancel is `cancel` (nothing is kept).

The dialog shows a `Frame`: the preview of the edited region, pasted over the layer at `preview_at`, the tracked
handles and the targets (`points`), a status line, and `outcome` once the drag has ended.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..protocol import messages
from ..protocol.blend import Edit, apply_8bit
from ..protocol.editor import centre_to_corner, corner_to_centre
from ..protocol.errors import DragdError, ErrorCode
from ..protocol.images import Image
from ..protocol.texts import live_ended
from .drag import DragOutcome, Prepared, UserError, describe_error, edit_of, result_outcome
from .live_view import LivePair, LivePoints, UpdateThrottle

TICK_S = 0.03  # the dialog's timer: how often it sends and takes (s); well under a preview's time


@dataclass
class Frame:
    """What changed since the last tick, for the dialog to show."""

    preview: Image | None = None  # the edited region, 8 bits, the layer with the edit applied there
    preview_at: tuple[int, int] = (0, 0)  # its top-left pixel in the layer
    moved: bool = False  # the tracked handles moved (redraw the points)
    status: str = ""
    outcome: DragOutcome | None = None  # set once: the drag ended (committed, cancelled, failed)


class LiveDrag:
    """A running live drag and the artist's points; drive it with `tick`, end it with `commit` or `cancel`."""

    def __init__(self, prepared: Prepared, live: Any, points: LivePoints,
                 throttle: UpdateThrottle | None = None, describe: Callable[[DragdError], str] = describe_error):
        self.prepared = prepared
        self.live = live  # protocol.client's live drag: update, commit, cancel, poll
        self.points = points
        self.throttle = throttle or UpdateThrottle()
        self.describe = describe
        self.sent: list[tuple[int, tuple[float, float], tuple[float, float]]] = points.wire()
        self.revision_sent = 0  # updates the daemon accepted: the protocol's revision of the newest
        self.revision_shown = 0  # the highest update revision the last progress reflects
        self.idle = False
        self.steps = 0
        self.ending = ""  # "commit" or "cancel" once asked
        self.outcome: DragOutcome | None = None

    @classmethod
    def start(cls, prepared: Prepared) -> LiveDrag:
        """Starts the live drag of the prepared pairs (keys 0..n-1, as the protocol's default keys). Raises
        UserError for a daemon without live drags, DragdError for what the daemon refuses."""
        hello = getattr(prepared.daemon, "daemon", None)  # what the client's `hello` learned, if it ran
        if hello is not None and messages.Capability.LIVE not in hello.capabilities:
            raise UserError("This DragGAN daemon cannot drag live (it is older than the plug-in). Update dragd and "
                            "restart its daemon (`dragd stop`), or run the drag from a script (non-interactive).")
        request = prepared.request
        pairs = [LivePair(i, centre_to_corner(p.handle), centre_to_corner(p.target))
                 for i, p in enumerate(request.points)]
        limits = getattr(prepared.daemon, "limits", None)
        max_points = getattr(limits, "max_points", None) or max(len(pairs), 16)
        points = LivePoints(pairs, prepared.document.width, prepared.document.height, max_points,
                            movable=_inside(request.mask))
        live = prepared.daemon.live_drag(prepared.bound.session, request.points, request.mask, request.options)
        return cls(prepared, live, points)

    # ---- the dialog's calls ----

    def tick(self, now: float) -> Frame:
        """Sends the points when due and takes what the daemon sent; never waits. After the end it only
        reports `outcome` again."""
        frame = Frame()
        if self.outcome is not None:
            frame.outcome = self.outcome
            return frame
        try:
            if not self.ending and self.throttle.due(self.points.revision, now, self.points.dragging == "target"):
                self._send(now)
            message = self.live.poll(0)  # the newest progress (older ones dropped), the result, or None
            if isinstance(message, messages.DragResult):
                self._finish(message)
            elif message is not None:
                self._progress(message, frame)
        except DragdError as exc:
            self.outcome = (DragOutcome(cancelled=True) if self.ending == "cancel" or exc.code == ErrorCode.CANCELLED
                            else DragOutcome(error=self.describe(exc)))
        frame.outcome = self.outcome
        frame.status = frame.status or self.status()
        return frame

    def commit(self, now: float) -> None:
        """OK: the artist's newest points go out first, then the commit; the daemon answers with the result
        at once (the step under way finishes first), which becomes `outcome`."""
        if self.ending or self.outcome is not None:
            return
        self.ending = "commit"
        try:
            if self.points.revision > self.throttle.sent_revision:
                self._send(now)
            self._finish(self.live.commit())
        except DragdError as exc:
            self.outcome = DragOutcome(error=self.describe(exc))

    def cancel(self) -> None:
        """Cancel: the daemon discards the live drag (no new state); nothing is kept here either."""
        if self.outcome is None:
            self.ending = "cancel"
            with contextlib.suppress(DragdError):  # already over: there is nothing to keep in any case
                self.live.cancel()
            self.outcome = DragOutcome(cancelled=True)

    def status(self) -> str:
        if self.ending == "commit":
            return "DragGAN: making the result layer"
        behind = self.revision_sent - self.revision_shown
        left = self._left()
        text = f"DragGAN: step {self.steps}, {left:.1f} px to go" if left is not None else "DragGAN: starting"
        if self.points.message:
            return f"{text}. {self.points.message}"
        if behind > 0:
            return f"{text}, catching up"
        return f"{text}, idle: drag a target" if self.idle else text

    # ---- inside ----

    def _send(self, now: float) -> None:
        revision, wire = self.points.revision, self.points.wire()
        try:
            self.live.update(_wire(wire))
        except DragdError as exc:
            if exc.code != ErrorCode.BAD_REQUEST:
                raise
            self.points.message = exc.message  # the daemon carries on with the points it had
        else:
            self.sent = wire
            self.revision_sent += 1
        self.throttle.sent(revision, now)

    def _progress(self, progress: Any, frame: Frame) -> None:
        if not isinstance(progress, messages.DragProgress):
            return  # a queue position, while the drag waits for the worker
        self.steps = progress.step
        self.idle = bool(getattr(progress, "idle", False))
        self.revision_shown = max(self.revision_shown, getattr(progress, "revision", None) or 0)
        keys = getattr(progress, "keys", None) or range(len(progress.points))
        self.points.track(list(keys), [centre_to_corner(p) for p in progress.points])
        frame.moved = True
        if progress.image is not None and progress.offset is not None:
            frame.preview, frame.preview_at = self._region(progress.image, progress.offset)

    def _region(self, image: Image, offset: tuple[int, int]) -> tuple[Image, tuple[int, int]]:
        """The layer with the preview applied, only where the preview lies (a preview is a region)."""
        p = self.prepared
        edit = edit_of(p.source, image, offset, p.request.mask, p.bound)
        local = Edit(0, 0, edit.before, edit.after, edit.weight)
        return apply_8bit(p.source.crop(edit.x, edit.y, edit.width, edit.height), local), (edit.x, edit.y)

    def _finish(self, result: messages.DragResult) -> None:
        if result.stopped == "cancelled":
            self.outcome = DragOutcome(cancelled=True)
            return
        by_key = {key: target for key, _handle, target in self.sent}
        keys = getattr(result, "keys", None) or [key for key, _handle, _target in self.sent]
        if any(key not in by_key for key in keys):
            self.outcome = DragOutcome(error="DragGAN: the daemon's result names points the plug-in never sent; "
                                             "the daemon and the plug-in do not match, reinstall both.")
            return
        targets = [corner_to_centre(by_key[key]) for key in keys]
        self.outcome = result_outcome(self.prepared, result, targets)
        if result.stopped == "timeout" and self.outcome.error is None:
            ended = live_ended(self.prepared.request.options.live_timeout_s)
            self.outcome.summary = f"{ended}; this is where it stood"

    def _left(self) -> float | None:
        if not self.steps:
            return None
        return max(((p.handle[0] - p.target[0]) ** 2 + (p.handle[1] - p.target[1]) ** 2) ** 0.5
                   for p in self.points.pairs)


def _wire(points: list[tuple[int, tuple[float, float], tuple[float, float]]]) -> list[tuple[Any, ...]]:
    """`LivePoints.wire()` (layer corner coordinates) -> the client's live points, (key, handle, target) in
    the protocol's pixel-centre coordinates (a known key's handle is ignored by the daemon)."""
    return [(key, corner_to_centre(handle), corner_to_centre(target)) for key, handle, target in points]


def _inside(mask: Image | None) -> Callable[[tuple[float, float]], bool]:
    """Whether a layer point (corner coordinates) lies in the selection: a handle must, to move at all."""
    if mask is None:
        return lambda point: True

    def inside(point: tuple[float, float]) -> bool:
        x, y = corner_to_centre(point)
        x = min(max(round(x), 0), mask.width - 1)
        y = min(max(round(y), 0), mask.height - 1)
        return mask.pixel(x, y)[0] > 0

    return inside
