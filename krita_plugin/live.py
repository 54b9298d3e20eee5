"""The docker's Live mode (issue 14): while it is on, the picture follows the drag lines as the user edits them.

Krita has no signal for a changed vector shape, so the docker's timer calls `Live.tick` every ~50 ms: it reads
the lines of the points layer as a normal Drag does (`Canvas.point_lines`, by shape name), turns them into keyed
pairs (`keyed_points`: the key is the line's shape name, so a line keeps its identity however Krita orders the
shapes) and, when the targets changed (`targets_changed`: a moved end, a line added or removed), hands them to
the job. The job (`run_live`, a worker thread) owns the daemon's live drag (protocol.client's `LiveDrag`): it
sends the newest points (an older set not yet sent is dropped), and reads the next preview only once the UI
thread showed the last one (`Channel`), so nothing queues anywhere: a slow UI sees fewer frames, never older ones.

Commit (or Live off) ends the drag with a new session state, written exactly as a normal drag's result
(`document.write_result`: one new layer, its binding, the selection and precision rules of `resume.compose`);
Stop (Cancel) ends it with no new state and nothing written. Like Drag, it reads and writes only the document in
front (`document.in_front`; a result waits for its document to be in front again). Plain Python: the unit tests
drive it on the fake Krita (tests/krita_plugin/krita_fakes.py), the real-Krita test through the docker.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from ..protocol.errors import DragdError, ErrorCode
from ..protocol.messages import (
    Capability,
    DragOptions,
    DragProgress,
    DragResult,
    HelloResult,
    InversionOptions,
    PointPair,
)
from . import document, resume
from .errors import CanvasError
from .texts import LIVE_HOW, LIVE_UNSUPPORTED, WRITE_HELD, describe_error

if TYPE_CHECKING:
    from .controller import DragController
    from .ports import Canvas

Point = tuple[float, float]
KeyedPoint = tuple[str, Point, Point]  # (line id, handle, target): protocol pixel centres in the session frame
TICK_MS = 50  # how often the docker's timer reads the lines while Live is on
TAKE_S = 0.02  # the job's longest wait for news from the UI thread before it reads the socket again
POLL_S = 0.02  # the job's longest wait on the daemon per round
SAME_PX = 1e-3  # targets closer than this count as unmoved (Krita writes coordinates with a few decimals)
ENDED = "Live drag cancelled: nothing was written."


# ---- the lines as keyed pairs, and what changed --------------------------------------------------------------


def keyed_points(start: resume.Start, lines: Sequence[resume.Line], max_points: int) -> tuple[KeyedPoint, ...]:
    """The lines as the live drag's pairs, keyed by line id, in the session's frame; raises DragdError
    (bad_request) with the sentence a normal Drag gives for the same lines (outside the layer, outside the
    selection, one point only ...)."""
    request = resume.drag_request("check", replace(start, lines=tuple(lines)), max_points)
    return tuple((line_id, pair.handle, pair.target)
                 for (line_id, _), pair in zip(lines, request.points, strict=True))


def targets_changed(sent: Sequence[KeyedPoint], now: Sequence[KeyedPoint]) -> bool:
    """Whether `now` asks the live drag for something new: a line added or removed, or a line's target moved.
    A known line's handle does not count (the daemon tracks it), nor the order of the lines."""
    if {key for key, _, _ in sent} != {key for key, _, _ in now}:
        return True
    before = {key: target for key, _, target in sent}
    return any(abs(target[0] - before[key][0]) > SAME_PX or abs(target[1] - before[key][1]) > SAME_PX
               for key, _, target in now)


# ---- between the UI thread and the job -----------------------------------------------------------------------


class Channel:
    """What the UI thread tells the live job and how far it got showing what the job reported; thread-safe.
    Latest wins both ways: `send` replaces points not yet taken, and the job reports one progress at a time
    (`may_report` is False from `reported` until the UI thread calls `shown`)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._points: tuple[KeyedPoint, ...] | None = None
        self._end: str | None = None  # "commit" | "cancel"
        self._credit = True

    # UI thread

    def send(self, points: tuple[KeyedPoint, ...]) -> None:
        with self._cond:
            self._points = points
            self._cond.notify_all()

    def end(self, how: str) -> None:
        """"commit" or "cancel"; the first one asked for wins."""
        with self._cond:
            if self._end is None:
                self._end = how
            self._cond.notify_all()

    def shown(self) -> None:
        with self._cond:
            self._credit = True
            self._cond.notify_all()

    @property
    def ending(self) -> str | None:
        with self._cond:
            return self._end

    # the job

    def take(self, timeout: float) -> tuple[tuple[KeyedPoint, ...] | None, str | None, bool]:
        """(points to send or None, how to end or None, whether a progress may be reported), waiting up to
        `timeout` s for any of them."""
        with self._cond:
            self._cond.wait_for(lambda: self._points is not None or self._end is not None or self._credit, timeout)
            points, self._points = self._points, None
            return points, self._end, self._credit

    def reported(self) -> None:
        with self._cond:
            self._credit = False


@dataclass(frozen=True)
class Refused:
    """The daemon refused a points update (the drag carries on with its previous targets): the sentence."""

    message: str


# ---- the job (a worker thread) -------------------------------------------------------------------------------


def run_live(daemon: Any, hello: HelloResult, start: resume.Start, points: tuple[KeyedPoint, ...],
             channel: Channel, report: Callable[[Any], None]) -> resume.Outcome | None:
    """The whole live drag: a session in the start state, the daemon's live drag on `points` (protocol/live.py's
    LiveDrag, driven from this thread only), then updates and previews until the UI thread ends it. Returns the
    Outcome of a drag that ended with a new state (committed, or the daemon's time-out, which keeps its state),
    None when it was cancelled. Progress and `Refused` go to `report`."""
    request = resume.drag_request("check", start, hello.limits.max_points)

    def begin(session: str) -> tuple[Any, Any]:
        pairs = [PointPair(handle, target, key) for key, handle, target in points]
        live = daemon.live_drag(session, pairs, request.mask, request.options)
        return live, _first(live)  # a session the daemon lost shows here, in time for `in_session`'s retry

    prepared, (live, first) = resume.in_session(daemon, hello, start, report, begin)
    keys = tuple(key for key, _, _ in points)
    result = first if isinstance(first, DragResult) else None
    if result is None:
        channel.reported()
        report(first)
    while result is None:
        new_points, end, credit = channel.take(TAKE_S)
        if new_points is not None and end != "cancel":  # a commit keeps the newest lines
            keys = _update(live, new_points, report) or keys
        if end is not None:
            result = live.commit() if end == "commit" else live.cancel()  # each waits for the final result
            break
        if not credit:
            continue  # the UI thread has not shown the last preview yet: the daemon keeps the newest for us
        item = live.poll(POLL_S)
        if isinstance(item, DragResult):
            result = item  # it ended on its own: the daemon's time-out keeps its state, as a commit does
        elif item is not None:
            channel.reported()
            report(item)
    if result.stopped == "cancelled":
        return None
    keys = tuple(str(key) for key in (result.keys or keys))
    return resume.outcome(daemon, hello, start, prepared, result, keys)


def _update(live: Any, points: tuple[KeyedPoint, ...], report: Callable[[Any], None]) -> tuple[str, ...] | None:
    """Send new points; their keys, or None when the daemon refused them (said via `report`: the drag carries
    on with its previous targets) or the drag already ended on its own (its result is on the way)."""
    try:
        live.update([(key, handle, target) for key, handle, target in points])
    except DragdError as exc:
        if exc.code not in (ErrorCode.BAD_REQUEST, ErrorCode.LIMIT_EXCEEDED, ErrorCode.NOT_FOUND):
            raise
        if exc.code != ErrorCode.NOT_FOUND:
            report(Refused(describe_error(exc)))
        return None
    return tuple(key for key, _, _ in points)


def _first(live: Any) -> Any:
    """The live drag's first progress (or its result, or the error that ended it before it ran)."""
    while True:
        item = live.poll(POLL_S)
        if item is not None:
            return item


# ---- the docker's side (the UI thread) -----------------------------------------------------------------------


class Live:
    """Live mode of one docker: started by `start`, fed by `tick`, ended by `commit` or `cancel`."""

    def __init__(self, controller: DragController) -> None:
        self.controller = controller
        self.channel: Channel | None = None
        self.canvas: Canvas | None = None
        self.start_: resume.Start | None = None
        self.sent: tuple[KeyedPoint, ...] = ()  # the targets the job was last given
        self.read: list[resume.Line] = []  # the lines as last read (checked again only when they change)
        self.shown_revision = 0  # of the last preview shown (0: the live drag's own first points)
        self.shown_points: tuple[Point, ...] = ()  # its tracked handles
        self.previews = 0  # shown in this live drag
        self.idle = False
        self.first_shown: dict[int, float] = {}  # revision -> time.monotonic() its first preview was shown
        self.sent_at: list[float] = []  # time.monotonic() of every change handed to the job (revision = index + 1)

    @property
    def active(self) -> bool:
        return self.channel is not None

    def start(self, options: DragOptions, inversion: InversionOptions | None = None) -> None:
        """Live on: a drag of the layer the docker names that follows its lines until Commit or Stop."""
        c = self.controller
        if self.active or not c._ready(lambda: self.start(options, inversion)):
            return
        if c.hello is not None and Capability.LIVE not in c.hello.capabilities:
            c._show(error=LIVE_UNSUPPORTED)
            return
        canvas = c.workspace.active_canvas()
        try:
            start = c._start(canvas, options, inversion or InversionOptions())
            points = keyed_points(start, start.lines, c.hello.limits.max_points if c.hello else 128)
        except (DragdError, CanvasError) as exc:
            c._show(error=describe_error(exc) if isinstance(exc, DragdError) else str(exc))
            return
        assert canvas is not None and c.hello is not None
        daemon, hello, channel = c.daemon, c.hello, Channel()
        self.channel, self.canvas, self.start_, self.sent, self.read = channel, canvas, start, points, list(start.lines)
        self.shown_revision, self.shown_points, self.previews, self.idle = 0, (), 0, False
        self.first_shown, self.sent_at = {}, []
        c._job_canvas = canvas
        c._show(busy=True, dragging=True, live=True, error="", progress=0.0,
                message=f"Live: starting on \"{start.name}\"...")

        def progress(item: Any) -> None:
            if self.channel is not channel:
                return  # a message of a live drag that ended
            if isinstance(item, Refused):
                c._show(error=item.message)
            elif isinstance(item, DragProgress) and canvas.is_open():
                self._show_progress(canvas, start, item)
            channel.shown()

        def done(outcome: resume.Outcome | None) -> None:
            self._ended()
            c._show(live=False)

            def write() -> None:
                canvas.remove_preview()
                if outcome is not None:
                    c._write_result(canvas, start, outcome)

            written = c._write_in_front(canvas, write)  # else when its document is in front again
            if not canvas.is_open():
                message = "The document was closed: its live drag was stopped and nothing was written."
            else:
                message = ENDED if outcome is None else "" if written else WRITE_HELD
            if message:
                c._show(busy=False, dragging=False, progress=0.0, message=message)

        def failed(exc: BaseException) -> None:
            self._ended()
            c._write_in_front(canvas, canvas.remove_preview)
            c.sessions.pop(start.binding.session if start.binding else "", None)  # its state is unknown now
            c._show(live=False)
            c._fail_with(exc)

        c.runner.submit(lambda report: run_live(daemon, hello, start, points, channel, report), done, failed,
                        progress)

    def _ended(self) -> None:
        self.channel = None
        self.controller._job_canvas = None

    def _show_progress(self, canvas: Canvas, start: resume.Start, item: DragProgress) -> None:
        pixels = resume.preview_pixels(start, item)
        shown = document.in_front(self.controller.workspace, canvas)  # writes go only into the document in front
        if pixels is not None and shown and canvas.layer_exists(start.layer):
            canvas.show_preview(pixels, start.layer)
            self.previews += 1
            self.first_shown.setdefault(item.revision or 0, time.monotonic())
        self.shown_revision = item.revision or 0
        self.shown_points = tuple(item.points)
        self.idle = bool(item.idle)
        what = "idle: every handle reached its target (or the step limit)" if self.idle else \
            f"step {item.step}, loss {item.loss:.3g}"
        self.controller._show(message=f"Live on \"{start.name}\" ({what}). {LIVE_HOW}")

    def tick(self) -> None:
        """The docker's timer: send the lines' targets when they changed since last sent."""
        if self.channel is None or self.channel.ending or self.canvas is None or self.start_ is None:
            return
        canvas, c = self.canvas, self.controller
        if not canvas.is_open() or not document.in_front(c.workspace, canvas):
            return  # closed: the controller's poll cancels it; behind another: its lines are not being edited
        lines = canvas.point_lines()
        if lines == self.read:
            return  # most ticks: nothing was edited
        self.read = lines
        try:
            points = keyed_points(self.start_, lines, c.hello.limits.max_points if c.hello else 128)
        except DragdError as exc:
            if c.state.error != describe_error(exc):
                c._show(error=describe_error(exc))  # the drag carries on with the targets it has
            return
        if targets_changed(self.sent, points):
            self.sent = points
            self.channel.send(points)
            self.sent_at.append(time.monotonic())
            if c.state.error:
                c._show(error="")

    def commit(self) -> None:
        """Commit (or Live off): keep the state reached as a new result layer, as a normal drag's."""
        if self.channel is not None and not self.channel.ending:
            self.tick()  # the lines as they are now go first
            self.channel.end("commit")
            self.controller._show(message="Live: keeping the picture as a new layer...")

    def cancel(self, reason: str = "") -> None:
        """Stop: end the live drag with nothing written."""
        if self.channel is not None and not self.channel.ending:
            self.channel.end("cancel")
            self.controller._show(message=reason or "Live: cancelling...")
