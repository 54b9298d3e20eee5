"""What the DragGAN docker does, in plain Python: no Krita (that is `adapter.py`), no Qt widgets (`panel.py`),
no torch (the daemon). Unit tests drive it with a fake workspace, a fake daemon and a synchronous runner.

Every public method runs on Krita's UI thread and returns at once: network work goes to `runner.submit`, whose
callbacks come back on the UI thread. The controller owns the one `DragdClient` of the docker.

The document is the truth (`resume.py` explains how a drag starts): every layer dragd makes carries a
`protocol.binding.Binding`, stored by the adapter in the document (saved in the .kra), naming the session state
it shows and that state's latent, trusted only while the layer's pixels are unchanged. So Krita's own undo, the
docker's Undo/Redo, a saved file reopened or a restarted daemon all drag from what the user sees. The layer a
drag edits is the active one, or, while the points layer is active, the one right below it; the docker names it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from ..protocol import texts
from ..protocol.binding import Binding, Latent
from ..protocol.errors import DragdError, ErrorCode
from ..protocol.messages import (
    DragOptions,
    DragProgress,
    GenerateRequest,
    HelloResult,
    InversionOptions,
    InversionProgress,
    ModelInfo,
    Waiting,
)
from . import document, resume
from .connection import Connection, Connector, connect_to_daemon
from .errors import CanvasError
from .history import LayerHistory
from .live import Live
from .ports import Canvas, Report, Runner, View, Workspace
from .texts import HOW_TO_DRAW, WRITE_HELD, describe_error


@dataclass(frozen=True)
class PanelState:
    connection: str = "Not connected yet."
    connected: bool = False
    models: tuple[ModelInfo, ...] = ()
    busy: bool = False  # a job runs: the buttons that start one are disabled
    dragging: bool = False  # Stop is enabled
    live: bool = False  # a live drag runs (live.py): the Live toggle is on, Commit is enabled
    progress: float = 0.0  # 0..1
    message: str = ""  # what happens now / what happened last, in words
    error: str = ""  # the last problem, in words; empty when the last action worked
    session: str = "No layer to drag yet: use New from model, or open a photo."  # the layer Drag edits
    pairs: tuple[str, ...] = ()  # one line per drag line on the points layer
    can_undo: bool = False
    can_redo: bool = False


# ---- the controller ----------------------------------------------------------------------------------------


class DragController:
    def __init__(self, workspace: Workspace, view: View, runner: Runner,
                 connector: Connector = connect_to_daemon, connection: Connection | None = None,
                 preview_every: int = 10) -> None:
        self.workspace = workspace
        self.view = view
        self.runner = runner
        self.connector = connector
        self.connection = connection or Connection.from_settings(workspace)
        self.preview_every = preview_every
        self.state = PanelState()
        self.daemon: Any = None
        self.hello: HelloResult | None = None
        self.sessions: dict[str, str] = {}  # session id -> digest of the layer showing its current state
        self.history = LayerHistory()
        self._connecting = False
        self._after_connect: list[Callable[[], None]] = []
        self._job_canvas: Canvas | None = None  # the document the running job writes into
        self._held: list[tuple[Canvas, Callable[[], None]]] = []  # writes waiting for their document in front
        self._stop_requested = False
        self.live = Live(self)  # the Live toggle (live.py)

    # ---- panel ---------------------------------------------------------------------------------------------

    def _show(self, **changes: Any) -> None:
        self.state = replace(self.state, **changes)
        self.view.render(self.state)

    def _fail(self, message: str) -> None:
        self._show(busy=False, dragging=False, error=message, message="")

    def _fail_with(self, exc: BaseException) -> None:
        """The end of a job that raised: the daemon's words (with advice), or a bug's, never a traceback."""
        self._job_canvas = None
        if isinstance(exc, DragdError):
            if exc.code in (ErrorCode.TIMEOUT, ErrorCode.UNAVAILABLE):
                self._lost_connection()
            self._fail(describe_error(exc))
        elif isinstance(exc, CanvasError):
            self._fail(str(exc))
        else:
            self._fail(f"DragGAN plugin error ({type(exc).__name__}: {exc}). Please report it.")

    def _lost_connection(self) -> None:
        """The daemon is gone: drop the client, so the next action connects again (and starts a local daemon)."""
        daemon, self.daemon = self.daemon, None
        if daemon is not None:
            daemon.close()
        self.sessions.clear()  # the documents keep every state; a new daemon restores them from there
        self._show(connected=False, connection=f"Lost the dragd daemon at {self.connection.address}. The next "
                                              "Drag or New from model starts it again.")

    # ---- connection ------------------------------------------------------------------------------------------

    def connect(self, then: Callable[[], None] | None = None) -> None:
        """Find the daemon (or start it) and say hello; `then` runs once connected (Drag after a restart)."""
        if then is not None:
            self._after_connect.append(then)
        if self._connecting or self.state.busy:
            return
        if self.daemon is not None:
            self.daemon.close()  # the documents' bindings carry the sessions over to the new connection
            self.daemon = None
        self._connecting = True
        self._show(connected=False, connection=f"Connecting to dragd at {self.connection.address}...", error="")

        def done(value: tuple[Any, HelloResult, bool]) -> None:
            self._connecting = False
            self.daemon, self.hello, started = value
            how = "started by this plugin" if started else "already running"
            self._show(connected=True, models=self.hello.models, error="",
                       connection=f"Connected to dragd {self.hello.daemon_version} on {self.hello.device} at "
                                  f"{self.daemon.address} ({how}).")
            waiting, self._after_connect = self._after_connect, []
            for action in waiting:
                action()

        def failed(exc: BaseException) -> None:
            self._connecting = False
            self._after_connect = []
            self._show(connected=False, connection=f"Not connected to dragd at {self.connection.address}.")
            self._fail_with(exc)

        self.runner.submit(lambda report: self.connector(self.connection, report), done, failed,
                           lambda text: self._show(connection=str(text)))

    def heartbeat(self) -> None:
        """Tell the daemon this docker is alive, so it keeps the sessions (the docker calls it on a timer)."""
        if self.daemon is None or self.state.busy:
            return  # a running job is itself a sign of life
        daemon, ids = self.daemon, list(self.sessions)

        def done(alive: tuple[str, ...]) -> None:
            for session_id in set(ids) - set(alive):
                self.sessions.pop(session_id, None)  # its layers' bindings rebuild or re-open it when dragged

        def failed(exc: BaseException) -> None:
            if isinstance(exc, DragdError) and exc.code in (ErrorCode.TIMEOUT, ErrorCode.UNAVAILABLE):
                self._lost_connection()

        self.runner.submit(lambda report: daemon.heartbeat(ids), done, failed)

    def close(self) -> None:
        """The docker goes away: free the daemon's sessions and the socket (best effort, never blocks long)."""
        daemon, self.daemon = self.daemon, None
        if daemon is None:
            return
        ids, self.sessions = list(self.sessions), {}

        def work(report: Report) -> None:
            try:
                for session_id in ids:
                    daemon.close_session(session_id)
            finally:
                daemon.close()

        self.runner.submit(work, lambda _: None, lambda _: None)

    def _ready(self, retry: Callable[[], None]) -> bool:
        """True when a job may start now; else says why, or connects first and runs `retry` after."""
        if self.state.busy:
            self._show(error="DragGAN is busy; wait for it to finish, or press Stop.")
            return False
        if self.daemon is None:
            self.connect(then=retry)
            return False
        return True

    # ---- new from model ------------------------------------------------------------------------------------

    def new_from_model(self, request: GenerateRequest) -> None:
        """Generate an image from a seed into a new layer (and a new document when none is open)."""
        if not self._ready(lambda: self.new_from_model(request)):
            return
        daemon, hello = self.daemon, self.hello
        canvas = self.workspace.active_canvas()
        if canvas is not None:
            error = canvas.problem() or self._size_problem(canvas, request.model)
            if error:
                self._show(error=error)
                return
        self._show(busy=True, error="", progress=0.0, message=f"Generating seed {request.seed}...")

        def work(report: Report) -> tuple[Any, Latent | None]:
            result = daemon.generate(request.seed, request.model, request.truncation)
            return result, resume.current_latent(daemon, hello, result.session)

        def done(value: tuple[Any, Latent | None]) -> None:
            nonlocal canvas
            result, latent = value
            name = f"DragGAN {result.model} seed {request.seed}"
            if canvas is None or not canvas.is_open() or not document.in_front(self.workspace, canvas):
                canvas = self.workspace.new_canvas(result.width, result.height, name)
            layer = canvas.add_layer(name, result.image, None)
            digest = canvas.layer_digest(layer)
            canvas.set_binding(layer, Binding(result.session, 0, result.model, "generated", latent,
                                              (0, 0, result.width, result.height), digest, request.seed,
                                              request.truncation))
            self.sessions[result.session] = digest
            canvas.ensure_points_layer()
            # Krita switches the active layer a moment later: name the new layer now, the poll confirms it.
            self._show(busy=False, progress=1.0, error="", message=f"Made \"{name}\". {HOW_TO_DRAW}",
                       session=f"Drag edits \"{name}\" (a DragGAN layer, {result.model}).")

        self.runner.submit(work, done, self._fail_with)

    def _size_problem(self, canvas: Canvas, model_name: str | None) -> str:
        model = next((m for m in (self.hello.models if self.hello else ())
                      if (model_name is None and m.default) or m.name == model_name), None)
        if model is None:
            return ""
        width, height = canvas.size()
        mw, mh = model.resolution
        if width < mw or height < mh:
            return (f"This document is {width}x{height} pixels, smaller than the {mw}x{mh} images of the model "
                    f"\"{model.name}\". Use a document at least that large, or close all documents: New from "
                    "model then makes one of the right size.")
        return ""

    # ---- the layer Drag edits, the lines, the panel's poll ------------------------------------------------

    def poll(self) -> None:
        """Once a second (the docker's timer): notice a closed document, write what waited for a document to be
        in front again, re-read the lines and the target."""
        if self._job_canvas is not None and not self._job_canvas.is_open():
            self._job_canvas = None
            self.stop(reason="The document was closed: its drag was stopped and nothing was written.")
        self._write_held()
        self.refresh_points()

    def _write_in_front(self, canvas: Canvas, write: Callable[[], None]) -> bool:
        """Run `write` (it changes `canvas`) now when that document is the one in front, else keep it until it is
        (`poll`), or drop it once the document is closed. True when it ran now.

        Krita 5.1 writes some changes through the document in front, whatever document they are for (libkis
        `Shape.remove` runs its delete command on the active document's image and undo stack), and a document
        being closed leaves the front at once while its view lingers a moment; writing into it then crashed Krita.
        So the plugin writes into a document only while it is the active one."""
        if canvas.is_open() and document.in_front(self.workspace, canvas):
            write()
            return True
        if canvas.is_open():
            self._held.append((canvas, write))
        return False

    def _write_held(self) -> None:
        held, self._held = self._held, []
        for canvas, write in held:
            if not self._write_in_front(canvas, write) and not canvas.is_open():
                self._show(message="The document was closed before its drag's result could be written.")

    def refresh_points(self) -> None:
        """Re-read the drag lines and the layer Drag would edit into the panel."""
        canvas = self.workspace.active_canvas()
        if canvas is None or not canvas.is_open():
            self._show_if_changed(pairs=(), session="Open a document, or use New from model.", can_undo=False,
                                  can_redo=False)
            return
        lines = canvas.point_lines()
        pairs = tuple(f"{i}: ({nodes[0][0]:.0f}, {nodes[0][1]:.0f}) -> ({nodes[-1][0]:.0f}, {nodes[-1][1]:.0f})"
                      for i, (_, nodes) in enumerate(lines, start=1))
        target = document.drag_target(canvas)
        binding = canvas.bindings().get(target[0]) if isinstance(target, tuple) else None
        if isinstance(target, str):
            text = f"Drag: {target}"
        elif binding is not None:
            text = f"Drag edits \"{target[1]}\" (a DragGAN layer, {binding.model})."
        else:
            text = f"Drag edits \"{target[1]}\" (your own layer: the first Drag opens it by GAN inversion)."
        self._show_if_changed(pairs=pairs, session=text, can_undo=binding is not None and binding.state > 0,
                              can_redo=self.history.can_redo(canvas))

    def _show_if_changed(self, **changes: Any) -> None:
        if any(getattr(self.state, name) != value for name, value in changes.items()):
            self._show(**changes)

    def add_points_layer(self) -> None:
        canvas = self.workspace.active_canvas()
        if canvas is None:
            self._show(error="Open a document first (or use New from model).")
            return
        canvas.ensure_points_layer()
        self._show(error="", message=HOW_TO_DRAW)

    # ---- drag ----------------------------------------------------------------------------------------------

    def drag(self, options: DragOptions, inversion: InversionOptions | None = None) -> None:
        """Drag the layer the docker names so every line's handle reaches its target; a new result layer.
        `inversion`: how a layer of the user's own is opened (the paste-back mode), when it must be."""
        self._write_held()  # a result that waited for this document first: the drag goes on from it
        if not self._ready(lambda: self.drag(options, inversion)):
            return
        canvas = self.workspace.active_canvas()
        try:
            start = self._start(canvas, options, inversion or InversionOptions())
        except (DragdError, CanvasError) as exc:
            self._show(error=describe_error(exc) if isinstance(exc, DragdError) else str(exc))
            return
        assert canvas is not None and self.hello is not None
        daemon, hello = self.daemon, self.hello
        self._job_canvas, self._stop_requested = canvas, False
        self._show(busy=True, dragging=True, error="", progress=0.0,
                   message=f"Dragging {len(start.lines)} point(s) on \"{start.name}\"...")
        frame = start.frame

        def progress(item: Any) -> None:
            if not canvas.is_open():
                return
            if isinstance(item, Waiting):
                waiting = texts.waiting(item.position)  # None once it runs: progress says how far
                if waiting is not None:
                    self._show(message=waiting)
            elif isinstance(item, InversionProgress) and item.total:
                self._show(progress=item.step / item.total,
                           message=f"Opening \"{start.name}\": {item.stage} {item.step}/{item.total}")
            elif isinstance(item, DragProgress):
                total = start.options.max_steps
                self._show(progress=min(item.step / total, 1.0),
                           message=f"Step {item.step} of at most {total}, loss {item.loss:.3g}")
                if not document.in_front(self.workspace, canvas):
                    return  # live updates go only into the document in front (see _write_in_front)
                canvas.move_handles(resume.line_handles([i for i, _ in start.lines], item.points, frame))
                pixels = resume.preview_pixels(start, item)
                if pixels is not None and canvas.layer_exists(start.layer):
                    canvas.show_preview(pixels, start.layer)

        def done(outcome: resume.Outcome) -> None:
            self._job_canvas = None

            def write() -> None:
                canvas.remove_preview()
                self._write_result(canvas, start, outcome)

            if not self._write_in_front(canvas, write):
                message = (WRITE_HELD if canvas.is_open() else
                           "The document was closed: its drag was stopped and nothing was written.")
                self._show(busy=False, dragging=False, message=message)

        def failed(exc: BaseException) -> None:
            self._write_in_front(canvas, canvas.remove_preview)
            self.sessions.pop(start.binding.session if start.binding else "", None)  # its state is unknown now
            self._fail_with(exc)

        self.runner.submit(lambda report: resume.run_drag(daemon, hello, start, report), done, failed, progress)

    def _start(self, canvas: Canvas | None, options: DragOptions, inversion: InversionOptions) -> resume.Start:
        """Everything the drag job needs from the document (document.read_start); DragdError / CanvasError."""
        return document.read_start(canvas, replace(options, preview_every=self.preview_every), inversion,
                                   self.sessions, self.hello.limits.max_points if self.hello else 128)

    def _write_result(self, canvas: Canvas, start: resume.Start, outcome: resume.Outcome) -> None:
        """The result layer (document.write_result); the docker now knows its session's state."""
        written = document.write_result(canvas, start, outcome)
        self.sessions[written.session] = written.digest
        self.history.forget_redo(canvas)
        self._show(busy=False, dragging=False, progress=1.0, error="", can_undo=True, message=written.message,
                   session=written.session_text)

    def stop(self, reason: str = "") -> None:
        """Stop the running job; a drag ends within a step and keeps the state it reached, a live drag is
        discarded (nothing written)."""
        if self.live.active:
            self.live.cancel(reason)
            return
        if not self.state.dragging or self.daemon is None or self._stop_requested:
            return
        self._stop_requested = True
        daemon = self.daemon
        self._show(message=reason or "Stopping...")
        self.runner.submit(lambda report: daemon.cancel(), lambda _: None, lambda _: None)

    # ---- undo / redo: result layers out of the document and back (history.py) ---------------------------

    def undo(self) -> None:
        """Take the result layer Drag would edit out of the document; the next Drag starts from the one below."""
        self._history(lambda canvas: self.history.undo(canvas, document.drag_target(canvas)))

    def redo(self) -> None:
        self._history(self.history.redo)

    def _history(self, step: Callable[[Canvas], tuple[str, str]]) -> None:
        canvas = self.workspace.active_canvas()
        if self.state.busy or canvas is None:
            self._show(error="DragGAN is busy; wait for it to finish, or press Stop." if self.state.busy
                       else "Open a document first.")
            return
        message, error = step(canvas)
        self._show(message=message, error=error)
        self.refresh_points()
