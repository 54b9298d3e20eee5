"""What the DragGAN docker does, in plain Python: no Krita (that is `adapter.py`), no Qt widgets (`docker.py`),
no torch (the daemon). Unit tests drive it with a fake workspace, a fake daemon and a synchronous runner.

Every public method runs on Krita's UI thread and returns at once: network work goes to `runner.submit`, whose
callbacks come back on the UI thread. The controller owns the one `DragdClient` of the docker and the sessions
it opened, and tells the view what to show through `PanelState` (the whole panel, re-rendered on each change).

A session belongs to a document and to its *source* layer (never modified): the layer "New from model" made,
or a user's own paint layer, which the daemon opens by GAN inversion of the selection's bounding box. Its
`frames` hold the full image of every state in the daemon's history, so undo and redo only swap layers. Session
ids are capabilities (protocol SPEC, "Sessions"): a new connection to the daemon (Reconnect) keeps using them.
"""

from __future__ import annotations

import os
import shlex
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from ..protocol import editor
from ..protocol.client import DragdClient
from ..protocol.errors import DragdError, DragdTimeout, ErrorCode
from ..protocol.images import Image, paste
from ..protocol.limits import DEFAULT_ADDRESS
from ..protocol.messages import (
    Capability,
    DragOptions,
    DragProgress,
    DragResult,
    GenerateRequest,
    GenerateResult,
    HelloResult,
    HistoryResult,
    InversionProgress,
    ModelInfo,
    OpenSessionResult,
    Waiting,
)
from .errors import CanvasError

Point = tuple[float, float]
LayerId = str  # a Krita node's uniqueId, as text
CLIENT_NAME = "krita-plugin"
RESULT_LAYER_NAME = "DragGAN result"
PREVIEW_LAYER_NAME = "DragGAN preview"
POINTS_LAYER_NAME = "DragGAN points"
HOW_TO_DRAW = (f"Draw each drag as a line on the \"{POINTS_LAYER_NAME}\" layer with Krita's line or path tool: "
               "start on what should move (the handle), end where it should go (the target).")


# ---- what the controller needs around it -------------------------------------------------------------------


class Canvas(Protocol):
    """One open Krita document (adapter.KritaCanvas; tests: a fake). Pixels are RGBA, document-sized."""

    def key(self) -> str: ...  # identifies the document while it is open
    def size(self) -> tuple[int, int]: ...
    def problem(self) -> str: ...  # why layers cannot be written here (e.g. not 8-bit RGBA); empty: none
    def active_layer(self) -> tuple[LayerId, str, str] | None: ...  # (id, name, Krita node type)
    def layer_exists(self, layer: LayerId) -> bool: ...
    def layer_names(self) -> list[str]: ...
    def layer_pixels(self, layer: LayerId) -> Image: ...
    def selection(self) -> Image | None: ...  # L mask, None when nothing is selected
    def ensure_points_layer(self) -> None: ...  # creates it on top when missing; makes it the active layer
    def point_lines(self) -> list[list[Point]]: ...  # nodes of each line, pixels, corner origin
    def move_handles(self, handles: Sequence[Point]) -> None: ...  # first node of line i -> handles[i]
    def add_layer(self, name: str, pixels: Image, above: LayerId | None) -> LayerId: ...
    def remove_layer(self, layer: LayerId) -> None: ...
    def show_preview(self, pixels: Image, above: LayerId) -> None: ...
    def remove_preview(self) -> None: ...


class Workspace(Protocol):
    """Krita itself: its documents and settings (adapter.KritaWorkspace; tests: a fake)."""

    def active_canvas(self) -> Canvas | None: ...
    def new_canvas(self, width: int, height: int, name: str) -> Canvas: ...
    def setting(self, name: str, default: str = "") -> str: ...


class Daemon(Protocol):
    """The calls the docker makes: a subset of `protocol.client.DragdClient` (tests: a fake)."""

    address: str

    def hello(self, timeout: float | None = None) -> HelloResult: ...
    def generate(self, seed: int, model: str | None = None, truncation: float = 0.7) -> GenerateResult: ...
    def open_session(self, image: Image, model: str | None = None, region: Any = None, mask: Image | None = None,
                     on_progress: Callable[[Any], None] | None = None) -> OpenSessionResult: ...
    def drag(self, session: str, points: Any, mask: Image | None = None, options: DragOptions | None = None,
             on_progress: Callable[[Any], None] | None = None) -> DragResult: ...
    def cancel(self, target: Any = None) -> bool: ...
    def undo(self, session: str) -> HistoryResult: ...
    def redo(self, session: str) -> HistoryResult: ...
    def heartbeat(self, sessions: Sequence[str] = ()) -> tuple[str, ...]: ...
    def close_session(self, session: str) -> None: ...
    def close(self) -> None: ...


Report = Callable[[Any], None]  # a job's way to send progress to the UI thread


class Runner(Protocol):
    """Runs `work(report)` off the UI thread; `done`, `failed` and `progress` are called on the UI thread."""

    def submit(self, work: Callable[[Report], Any], done: Callable[[Any], None],
               failed: Callable[[BaseException], None], progress: Callable[[Any], None] | None = None) -> None: ...


class View(Protocol):
    def render(self, state: PanelState) -> None: ...


@dataclass(frozen=True)
class Connection:
    """Where the daemon is and how to start it; from $DRAGD_ADDRESS / $DRAGD_DAEMON_COMMAND, else the
    `[dragd]` group of Krita's settings (written by the installer), else the protocol's defaults."""

    address: str = DEFAULT_ADDRESS
    command: tuple[str, ...] = editor.DEFAULT_DAEMON_COMMAND
    log_path: str = os.path.join(tempfile.gettempdir(), "dragd-started-by-krita.log")

    @classmethod
    def from_settings(cls, workspace: Workspace, env: dict[str, str] | None = None) -> Connection:
        env = dict(os.environ) if env is None else env
        address = env.get("DRAGD_ADDRESS") or workspace.setting("address") or DEFAULT_ADDRESS
        command_text = env.get("DRAGD_DAEMON_COMMAND") or workspace.setting("daemon_command")
        command = tuple(shlex.split(command_text)) if command_text else editor.DEFAULT_DAEMON_COMMAND
        return cls(address, command)


# ---- what the panel shows ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PanelState:
    connection: str = "Not connected yet."
    connected: bool = False
    models: tuple[ModelInfo, ...] = ()
    busy: bool = False  # a job runs: the buttons that start one are disabled
    dragging: bool = False  # Stop is enabled
    progress: float = 0.0  # 0..1
    message: str = ""  # what happens now / what happened last, in words
    error: str = ""  # the last problem, in words; empty when the last action worked
    session: str = "No DragGAN image yet: use New from model."
    pairs: tuple[str, ...] = ()  # one line per drag line on the points layer
    can_undo: bool = False
    can_redo: bool = False


@dataclass
class Session:
    """A daemon session as the docker knows it."""

    id: str
    model: str
    canvas: Canvas
    source: LayerId  # the generated layer; never written after it was made
    label: str
    frames: list[Image]  # frames[i]: the full image of history state i
    index: int = 0  # the state the session is in now
    layers: dict[int, tuple[LayerId, str]] = field(default_factory=dict)  # state -> (result layer, its name)

    @property
    def size(self) -> tuple[int, int]:
        return self.frames[0].width, self.frames[0].height

    def top_layer(self) -> LayerId:
        """The newest layer of this session still in the document: where the next result goes above."""
        for state in range(self.index, 0, -1):
            if state in self.layers and self.canvas.layer_exists(self.layers[state][0]):
                return self.layers[state][0]
        return self.source


# ---- the controller ----------------------------------------------------------------------------------------


def connect_to_daemon(connection: Connection, report: Report) -> tuple[Daemon, HelloResult, bool]:
    """A client that said hello, and whether the daemon had to be started. Runs on a worker thread."""
    client = DragdClient(connection.address, client_name=CLIENT_NAME)
    try:
        started = False
        try:
            client.ping(timeout=1.0)
        except DragdTimeout:
            client.close()
            if not editor.is_local_address(connection.address):
                raise
            report(f"No dragd daemon answered at {connection.address}; starting one "
                   f"(`{' '.join(connection.command)}`)...")
            client = editor.find_or_start_daemon(connection.address, connection.command,
                                                 log_path=connection.log_path, client_name=CLIENT_NAME)
            started = True
        return client, client.hello(timeout=10.0), started
    except BaseException:
        client.close()
        raise


Connector = Callable[[Connection, Report], tuple[Daemon, HelloResult, bool]]


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
        self.daemon: Daemon | None = None
        self.hello: HelloResult | None = None
        self.sessions: dict[str, Session] = {}
        self.current: Session | None = None  # the session Drag works on unless the active layer says otherwise
        self._connecting = False
        self._drag_pairs: int = 0  # number of lines the running drag moves
        self._stop_requested = False

    # ---- panel ---------------------------------------------------------------------------------------------

    def _show(self, **changes: Any) -> None:
        self.state = replace(self.state, **changes)
        self.view.render(self.state)

    def _fail(self, message: str) -> None:
        self._show(busy=False, dragging=False, error=message, message="")

    def _fail_with(self, exc: BaseException) -> None:
        """The end of a job that raised: the daemon's words (with advice), or a bug's, never a traceback."""
        if isinstance(exc, DragdError):
            if exc.code in (ErrorCode.TIMEOUT, ErrorCode.UNAVAILABLE):
                self._lost_connection()
            self._fail(describe_error(exc))
        elif isinstance(exc, CanvasError):
            self._fail(str(exc))
        else:
            self._fail(f"DragGAN plugin error ({type(exc).__name__}: {exc}). Please report it.")

    def _lost_connection(self) -> None:
        self._show(connected=False, connection=f"Lost the dragd daemon at {self.connection.address}. "
                                              "Reconnect to try again.")

    # ---- connection ------------------------------------------------------------------------------------------

    def connect(self) -> None:
        """Find the daemon (or start it) and say hello; the docker calls this when it appears."""
        if self._connecting or self.state.busy:
            return
        if self.daemon is not None:
            # The sessions stay: their ids work on the new connection too (the next heartbeat prunes any that
            # a restarted daemon no longer has).
            self.daemon.close()
            self.daemon = None
        self._connecting = True
        self._show(connected=False, connection=f"Connecting to dragd at {self.connection.address}...", error="")

        def done(value: tuple[Daemon, HelloResult, bool]) -> None:
            self._connecting = False
            self.daemon, self.hello, started = value
            how = "started by this plugin" if started else "already running"
            self._show(connected=True, models=self.hello.models, error="",
                       connection=f"Connected to dragd {self.hello.daemon_version} on {self.hello.device} at "
                                  f"{self.daemon.address} ({how}).")

        def failed(exc: BaseException) -> None:
            self._connecting = False
            self._show(connected=False, connection=f"Not connected to dragd at {self.connection.address}.")
            self._fail_with(exc)

        self.runner.submit(lambda report: self.connector(self.connection, report), done, failed,
                           lambda text: self._show(connection=str(text)))

    def heartbeat(self) -> None:
        """Tell the daemon this docker is alive, so it keeps the sessions (the docker calls it on a timer)."""
        if self.daemon is None or self.state.busy:
            return  # a running job is itself a sign of life
        daemon, ids = self.daemon, [s.id for s in self.sessions.values()]

        def done(alive: tuple[str, ...]) -> None:
            for session_id in set(ids) - set(alive):
                self._forget(session_id, "the daemon no longer has it (it was restarted or the session expired)")

        def failed(exc: BaseException) -> None:
            if isinstance(exc, DragdError) and exc.code in (ErrorCode.TIMEOUT, ErrorCode.UNAVAILABLE):
                self._lost_connection()

        self.runner.submit(lambda report: daemon.heartbeat(ids), done, failed)

    def close(self) -> None:
        """The docker goes away: free the daemon's sessions and the socket (best effort, never blocks long)."""
        daemon, self.daemon = self.daemon, None
        if daemon is None:
            return
        ids = [s.id for s in self.sessions.values()]
        self.sessions.clear()
        self.current = None

        def work(report: Report) -> None:
            try:
                for session_id in ids:
                    daemon.close_session(session_id)
            finally:
                daemon.close()

        self.runner.submit(work, lambda _: None, lambda _: None)

    def _forget(self, session_id: str, why: str) -> None:
        session = self.sessions.pop(session_id, None)
        if session is not None and session is self.current:
            self.current = None
            self._show(session=f"The DragGAN session of \"{session.label}\" is gone: {why}. Use New from model "
                               "again.", can_undo=False, can_redo=False)

    def _ready(self) -> bool:
        """True when a new job may start; otherwise says why in the panel."""
        if self.state.busy:
            self._show(error="DragGAN is busy; wait for it to finish, or press Stop.")
            return False
        if self.daemon is None:
            self._show(error="Not connected to the dragd daemon. Press Reconnect." if not self._connecting
                       else "Still connecting to the dragd daemon; try again in a moment.")
            return False
        return True

    # ---- new from model ------------------------------------------------------------------------------------

    def new_from_model(self, request: GenerateRequest) -> None:
        """Generate an image from a seed into a new layer (and a new document when none is open)."""
        if not self._ready():
            return
        assert self.daemon is not None
        daemon = self.daemon
        canvas = self.workspace.active_canvas()
        if canvas is not None:
            error = canvas.problem() or self._size_problem(canvas, request.model)
            if error:
                self._show(error=error)
                return
        self._show(busy=True, error="", progress=0.0, message=f"Generating seed {request.seed}...")

        def done(result: GenerateResult) -> None:
            nonlocal canvas
            name = f"DragGAN {result.model} seed {request.seed}"
            if canvas is None or not _still_open(self.workspace, canvas):
                canvas = self.workspace.new_canvas(result.width, result.height, name)
            layer = canvas.add_layer(name, result.image, None)
            canvas.ensure_points_layer()
            session = Session(result.session, result.model, canvas, layer, name, [result.image.tight()])
            self.sessions[session.id] = session
            self.current = session
            self._show(busy=False, progress=1.0, error="", message=f"Made \"{name}\". {HOW_TO_DRAW}")
            self._show_session()

        self.runner.submit(lambda report: daemon.generate(request.seed, request.model, request.truncation),
                           done, self._fail_with)

    def _size_problem(self, canvas: Canvas, model_name: str | None) -> str:
        model = self._model(model_name)
        if model is None:
            return ""
        width, height = canvas.size()
        mw, mh = model.resolution
        if width < mw or height < mh:
            return (f"This document is {width}x{height} pixels, smaller than the {mw}x{mh} images of the model "
                    f"\"{model.name}\". Use a document at least that large, or close all documents: New from "
                    "model then makes one of the right size.")
        return ""

    def _model(self, name: str | None) -> ModelInfo | None:
        models = self.hello.models if self.hello else ()
        for model in models:
            if (name is None and model.default) or model.name == name:
                return model
        return None

    # ---- points --------------------------------------------------------------------------------------------

    def refresh_points(self) -> None:
        """Re-read the drag lines of the active document into the panel (the docker polls this)."""
        canvas = self.workspace.active_canvas()
        lines = canvas.point_lines() if canvas is not None else []
        pairs = tuple(f"{i}: ({line[0][0]:.0f}, {line[0][1]:.0f}) -> ({line[-1][0]:.0f}, {line[-1][1]:.0f})"
                      for i, line in enumerate(lines, start=1) if len(line) >= 2)
        if pairs != self.state.pairs:
            self._show(pairs=pairs)

    def add_points_layer(self) -> None:
        canvas = self.workspace.active_canvas()
        if canvas is None:
            self._show(error="Open a document first (or use New from model).")
            return
        canvas.ensure_points_layer()
        self._show(error="", message=HOW_TO_DRAW)

    # ---- drag ----------------------------------------------------------------------------------------------

    def drag(self, options: DragOptions) -> None:
        """Drag the session's image so every line's handle reaches its target; a new result layer at the end."""
        if not self._ready():
            return
        assert self.daemon is not None
        canvas = self.workspace.active_canvas()
        if canvas is None:
            self._show(error="Open a document first (or use New from model).")
            return
        if canvas.problem():
            self._show(error=canvas.problem())
            return
        session = self._session_for(canvas)
        if session is None:
            self._open_then_drag(canvas, options)
            return
        width, height = session.size
        try:
            lines = canvas.point_lines()
            if not lines:
                raise DragdError(ErrorCode.BAD_REQUEST, f"There are no drag lines yet. {HOW_TO_DRAW}")
            request = editor.build_drag_request(session.id, lines, width, height,
                                                _crop_mask(canvas.selection(), width, height),
                                                replace(options, preview_every=self.preview_every),
                                                self.daemon_limits_points())
        except DragdError as exc:
            self._show(error=describe_error(exc))
            return
        daemon, total = self.daemon, request.options.max_steps
        base = session.frames[session.index]
        self._drag_pairs = len(request.points)
        self._stop_requested = False
        self._show(busy=True, dragging=True, error="", progress=0.0,
                   message=f"Dragging {len(request.points)} point(s) on \"{session.label}\"...")

        def progress(item: Any) -> None:
            if isinstance(item, Waiting):
                self._show(message=f"Waiting for the daemon ({item.position} request(s) ahead)...")
            elif isinstance(item, DragProgress):
                self._show(progress=min(item.step / total, 1.0), message=f"Step {item.step} of at most {total}, "
                                                                          f"loss {item.loss:.3g}")
                self._move_handles(canvas, item.points)
                if item.image is not None and item.offset is not None:
                    canvas.show_preview(paste(base, item.image, *item.offset), session.top_layer())

        def done(result: DragResult) -> None:
            canvas.remove_preview()
            self._move_handles(canvas, result.points)
            self._add_state(session, paste(base, result.image, *result.offset), result.history_index)
            how = {"reached": "every handle reached its target", "max_steps": "stopped at the step limit",
                   "cancelled": "stopped; kept the image reached so far"}[result.stopped]
            self._show(busy=False, dragging=False, progress=1.0,
                       message=f"Done after {result.steps} steps: {how}. Result: "
                               f"\"{session.layers[session.index][1]}\".")
            self._show_session()

        def failed(exc: BaseException) -> None:
            canvas.remove_preview()
            if isinstance(exc, DragdError) and exc.code == ErrorCode.UNKNOWN_SESSION:
                self._forget(session.id, "the daemon no longer has it")
            self._fail_with(exc)

        self.runner.submit(lambda report: daemon.drag(request.session, request.points, request.mask,
                                                      request.options, report), done, failed, progress)

    def daemon_limits_points(self) -> int:
        return self.hello.limits.max_points if self.hello else editor.DEFAULT_LIMITS.max_points

    def stop(self) -> None:
        """Stop the running drag; it ends within a step and keeps the state it reached."""
        if not self.state.dragging or self.daemon is None or self._stop_requested:
            return
        self._stop_requested = True
        daemon = self.daemon
        self._show(message="Stopping...")
        self.runner.submit(lambda report: daemon.cancel(), lambda _: None, lambda _: None)

    def _move_handles(self, canvas: Canvas, points: Sequence[Point]) -> None:
        if len(points) == self._drag_pairs:
            canvas.move_handles([editor.centre_to_corner(p) for p in points])

    def _session_for(self, canvas: Canvas) -> Session | None:
        """The session of the active layer when it is one of ours; else the current one of this document;
        None when the active layer is a user's own paint layer (that needs opening, i.e. inversion)."""
        active = canvas.active_layer()
        mine = [s for s in self.sessions.values() if s.canvas.key() == canvas.key()]
        if active is not None:
            for session in mine:
                ids = {session.source, *(layer for layer, _ in session.layers.values())}
                if active[0] in ids:
                    return session
            if active[2] == "paintlayer" and active[1] != PREVIEW_LAYER_NAME:
                return None
        if self.current is not None and self.current in mine:
            return self.current
        return mine[-1] if mine else None

    def _open_then_drag(self, canvas: Canvas, options: DragOptions) -> None:
        """The active layer is the user's own: ask the daemon to open it (GAN inversion), then drag."""
        assert self.daemon is not None and self.hello is not None
        active = canvas.active_layer()
        assert active is not None
        if Capability.INVERT not in self.hello.capabilities:
            self._show(error=f"\"{active[1]}\" was not made by DragGAN, and this dragd daemon cannot open other "
                             "images yet (that needs GAN inversion). Use New from model, then drag that layer.")
            return
        daemon = self.daemon
        request = editor.build_open_session_request(canvas.layer_pixels(active[0]), canvas.selection())
        self._stop_requested = False
        self._show(busy=True, dragging=True, error="", progress=0.0,
                   message=f"Opening \"{active[1]}\" (GAN inversion)...")

        def progress(item: Any) -> None:
            if isinstance(item, Waiting):
                self._show(message=f"Waiting for the daemon ({item.position} request(s) ahead)...")
            elif isinstance(item, InversionProgress) and item.total:
                self._show(progress=item.step / item.total,
                           message=f"Opening \"{active[1]}\": {item.stage} {item.step}/{item.total}")

        def done(result: OpenSessionResult) -> None:
            # State 0 is the source layer itself; the daemon's images cover the edit region (`offset`), and
            # pasting them into the source leaves everything outside the grown selection as it is.
            session = Session(result.session, result.model or "", canvas, active[0], active[1],
                              [request.image.tight()])
            self.sessions[session.id] = session
            self.current = session
            lpips = "" if result.quality.lpips is None else f", LPIPS {result.quality.lpips:.3f}"
            self._show(busy=False, dragging=False, message=f"Opened \"{active[1]}\": reconstruction PSNR "
                                                           f"{result.quality.psnr:.1f} dB{lpips}.")
            if self._stop_requested:  # Stop pressed just as the inversion ended: keep the session, do not drag
                self._show_session()
                return
            self.drag(options)

        def failed(exc: BaseException) -> None:
            if isinstance(exc, DragdError) and exc.code == ErrorCode.CANCELLED:
                self._show(busy=False, dragging=False, error="", progress=0.0,
                           message=f"Stopped opening \"{active[1]}\"; nothing changed.")
                return
            self._fail_with(exc)

        self.runner.submit(lambda report: daemon.open_session(request.image, request.model, request.region,
                                                              request.mask, report), done, failed, progress)

    def _add_state(self, session: Session, frame: Image, index: int) -> None:
        """A drag finished at history state `index`: forget the states it replaced, add its result layer."""
        for state in [s for s in session.layers if s >= index]:  # the redo branch the daemon dropped
            layer, _ = session.layers.pop(state)
            if session.canvas.layer_exists(layer):
                session.canvas.remove_layer(layer)
        del session.frames[index:]
        session.frames.append(frame)
        session.index = index
        name = next_layer_name(session.canvas.layer_names())
        session.layers[index] = (session.canvas.add_layer(name, frame, session.top_layer()), name)
        self.current = session

    # ---- undo / redo ---------------------------------------------------------------------------------------

    def undo(self) -> None:
        self._history(-1)

    def redo(self) -> None:
        self._history(+1)

    def _history(self, step: int) -> None:
        if not self._ready():
            return
        session = self.current
        word = "undo" if step < 0 else "redo"
        if session is None or not 0 <= session.index + step < len(session.frames):
            self._show(error=f"Nothing to {word}.")
            return
        assert self.daemon is not None
        daemon = self.daemon
        self._show(busy=True, error="", message=f"{word.capitalize()}ing the last drag..."
                   if step < 0 else "Redoing the drag...")

        def done(result: HistoryResult) -> None:
            if not 0 <= result.history_index < len(session.frames):
                self._fail(f"The daemon's history ({result.history_index}) does not match the plugin's; "
                           "use New from model to start again.")
                return
            if step < 0:  # the undone state's layer leaves the document; its pixels stay for redo
                layer = session.layers.get(session.index)
                if layer is not None and session.canvas.layer_exists(layer[0]):
                    session.canvas.remove_layer(layer[0])
            session.index = result.history_index
            session.frames[session.index] = paste(session.frames[session.index], result.image, *result.offset)
            if step > 0:
                name = session.layers.get(session.index, (None, next_layer_name(session.canvas.layer_names())))[1]
                above = session.top_layer()
                session.layers[session.index] = (
                    session.canvas.add_layer(name, session.frames[session.index], above), name)
            self._show(busy=False, message=f"{word.capitalize()} done.")
            self._show_session()

        call = daemon.undo if step < 0 else daemon.redo
        self.runner.submit(lambda report: call(session.id), done, self._fail_with)

    def _show_session(self) -> None:
        session = self.current
        if session is None:
            return
        drags = session.index
        self._show(session=f"Session on \"{session.label}\" ({session.model}), {drags} drag(s) applied.",
                   can_undo=session.index > 0, can_redo=session.index + 1 < len(session.frames))


# ---- helpers -----------------------------------------------------------------------------------------------


def next_layer_name(existing: Sequence[str]) -> str:
    """"DragGAN result N" with the first N not used in the document."""
    taken = set(existing)
    number = 1
    while f"{RESULT_LAYER_NAME} {number}" in taken:
        number += 1
    return f"{RESULT_LAYER_NAME} {number}"


def _crop_mask(mask: Image | None, width: int, height: int) -> Image | None:
    """The part of a document-sized selection that covers the session's frame (top-left aligned)."""
    if mask is None or (mask.width, mask.height) == (width, height):
        return mask
    if mask.width < width or mask.height < height:
        return mask  # cannot be: New from model refuses documents smaller than the image; validation says so
    return mask.crop(0, 0, width, height)


def _still_open(workspace: Workspace, canvas: Canvas) -> bool:
    active = workspace.active_canvas()
    return active is not None and active.key() == canvas.key()


def describe_error(exc: DragdError) -> str:
    """A daemon or connection error as plain words, with what to do where there is something to do."""
    advice = {
        ErrorCode.UNKNOWN_SESSION: "The daemon no longer has this image's session (it was restarted, or the "
                                   "session expired). Drag the source layer again, or use New from model.",
        ErrorCode.UNSUPPORTED: "This daemon cannot do that yet. To drag, use New from model and drag that layer.",
        ErrorCode.UNKNOWN_MODEL: "Pick another model, or install it with `dragd models download NAME`.",
        ErrorCode.TIMEOUT: "The dragd daemon did not answer in time. Check it with `dragd status`, then press "
                           "Reconnect.",
        ErrorCode.UNAVAILABLE: "Start the daemon with `dragd serve` (or run the dragd installer again), then "
                               "press Reconnect.",
        ErrorCode.TOO_LARGE: "The image is too large for the daemon's limits.",
        ErrorCode.BUSY: "The daemon is busy with other work; try again in a moment.",
        ErrorCode.VERSION_MISMATCH: "The plugin and the daemon are from different dragd versions; run the dragd "
                                    "installer again to update both.",
    }.get(exc.code, "")
    text = exc.message[:1].upper() + exc.message[1:]
    return text if not advice or advice in text else f"{text}\n{advice}"
