"""What the GIMP plug-in does, in plain Python: no GIMP here (that is `adapter.py`), no torch (that is the daemon).

A procedure run is: read the layer, its selection and the active path through a `Document`; turn path strokes
into handle -> target pairs; ask the daemon (through the shared client) for a session and a drag; hand back
an `Outcome` that the adapter writes as a new layer plus a path of the tracked handles. Every failure becomes
`Outcome.error`, a sentence for the user, never an exception.

GIMP runs each procedure call in a new process, so a layer's link to its daemon session lives in a note on the
layer (`LayerNote`, a GIMP parasite). A session id is a capability: the next process resumes the session with
it, for as long as the daemon keeps it (its orphan timeout, 10 minutes by default, after the last use). A
result layer resumes its session at the history state it shows; a layer generated from a seed is simply
generated again; any other layer is opened from its pixels (GAN inversion of the selection's bounding box).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from ..protocol import messages
from ..protocol.editor import build_drag_request, build_open_session_request, centre_to_corner
from ..protocol.errors import DragdError, ErrorCode
from ..protocol.images import Image, paste
from .options import DragSettings, GenerateSettings

Point = tuple[float, float]
Stroke = list[Point]
TRACKED_PATH_NAME = "DragGAN tracked points"
RESULT_LAYER_NAME = "DragGAN result"
CLIENT_NAME = "gimp-plugin"
PENDING_SESSION = "pending"  # stands in for the session id while a request is checked before connecting
PREVIEW_EVERY = 10  # steps between live previews in the interactive dialog

HOW_TO_DRAW_POINTS = (
    "In GIMP: draw the points with the Paths tool, one stroke per point, clicking first on the handle (what "
    "should move) and last on the target (where it should go); Shift+click starts the next stroke."
)


# ---- what the plug-in needs from GIMP and from the daemon ----------------------------------------------------


class Document(Protocol):
    """The image and layer a procedure works on (adapter.GimpDocument; tests use a fake)."""

    width: int
    height: int
    offsets: tuple[int, int]  # the layer's top-left corner in image coordinates

    def pixels(self) -> Image: ...
    def selection(self) -> Image | None: ...  # an L mask the layer's size, None: nothing selected
    def paths(self) -> list[tuple[str, bool, list[Stroke]]]: ...  # (name, selected?, anchors in image coords)
    def layer_names(self) -> list[str]: ...
    def note(self) -> dict[str, Any] | None: ...


class Feedback(Protocol):
    """Where progress shows: GIMP's progress bar, or the live-preview dialog."""

    def progress(self, fraction: float, text: str) -> None: ...
    def preview(self, pixels: Image) -> None: ...


class Daemon(Protocol):
    """The calls the plug-in makes: a subset of the shared `protocol.client.DragdClient` (tests use a fake)."""

    def generate(self, seed: int, model: str | None = None, truncation: float = 0.7) -> messages.GenerateResult:
        ...

    def open_session(self, image: Image, model: str | None = None, region: Any = None, mask: Image | None = None,
                     on_progress: Callable[[Any], None] | None = None) -> messages.OpenSessionResult: ...

    def drag(self, session: str, points: Sequence[messages.PointPair], mask: Image | None = None,
             options: messages.DragOptions | None = None,
             on_progress: Callable[[Any], None] | None = None) -> messages.DragResult: ...

    def cancel(self) -> bool: ...
    def undo(self, session: str) -> messages.HistoryResult: ...
    def redo(self, session: str) -> messages.HistoryResult: ...
    def close_session(self, session: str) -> None: ...
    def close(self) -> None: ...


Connect = Callable[[str], Daemon]  # address ("" for the default) -> a connected daemon


class UserError(Exception):
    """A problem the user can fix; the message says how."""


# ---- the note a layer carries --------------------------------------------------------------------------------


@dataclass(frozen=True)
class LayerNote:
    """Where a layer's pixels came from, so a later procedure call can continue from them."""

    session: str  # the daemon session whose current state these pixels are
    model: str
    history_index: int = 0  # the session state this layer shows (0: as generated / opened)
    seed: int | None = None  # set for a layer generated from a seed: it can be generated again
    truncation: float | None = None

    @classmethod
    def read(cls, raw: dict[str, Any] | None) -> LayerNote | None:
        """The note in a parasite's JSON, or None when there is none or it is not one of ours."""
        if not raw:
            return None
        try:
            note = cls(**raw)
        except TypeError:
            return None
        ok = (isinstance(note.session, str) and isinstance(note.model, str)
              and isinstance(note.history_index, int) and (note.seed is None or isinstance(note.seed, int))
              and (note.truncation is None or isinstance(note.truncation, (int, float))))
        return note if ok else None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


# ---- outcomes the adapter writes -----------------------------------------------------------------------------


@dataclass
class DragOutcome:
    """A finished drag (`pixels` set), a cancelled one, or an error message."""

    cancelled: bool = False
    error: str | None = None
    layer_name: str = ""
    pixels: Image | None = None  # the whole layer: the source's pixels with the edited part pasted in
    note: dict[str, Any] | None = None
    path_name: str = TRACKED_PATH_NAME
    strokes: list[Stroke] = field(default_factory=list)  # tracked handle -> target, image coordinates
    summary: str = ""

    def result_args(self) -> tuple[str, Image, dict[str, Any] | None, str, list[Stroke]]:
        """The arguments of `adapter.GimpDocument.add_result`."""
        assert self.pixels is not None, "only a finished drag has a result"
        return self.layer_name, self.pixels, self.note, self.path_name, self.strokes


@dataclass
class GenerateOutcome:
    error: str | None = None
    layer_name: str = ""
    pixels: Image | None = None
    note: dict[str, Any] | None = None


# ---- points ----------------------------------------------------------------------------------------------------


def choose_path(paths: list[tuple[str, bool, list[Stroke]]]) -> tuple[str, list[Stroke]]:
    """The path the points come from: the selected one, else the only one. Raises UserError otherwise."""
    selected = [p for p in paths if p[1]]
    if len(selected) == 1:
        return selected[0][0], selected[0][2]
    if len(selected) > 1:
        raise UserError(f"{len(selected)} paths are selected; select the one path that holds the points.")
    if len(paths) == 1:
        return paths[0][0], paths[0][2]
    if not paths:
        raise UserError(f"DragGAN takes its points from a path, and this image has none. {HOW_TO_DRAW_POINTS}")
    raise UserError("This image has several paths; select (click in the Paths dialog) the one that holds "
                    "the points.")


def layer_polylines(strokes: list[Stroke], offsets: tuple[int, int]) -> list[Stroke]:
    """Path anchors (image coordinates) -> the layer's corner-origin coordinates that `editor` pairs up."""
    return [[(x - offsets[0], y - offsets[1]) for x, y in stroke] for stroke in strokes]


def to_image(point: Point, offsets: tuple[int, int]) -> Point:
    """A layer pixel-centre point (the protocol's) -> GIMP image coordinates, for a path anchor."""
    x, y = centre_to_corner(point)
    return x + offsets[0], y + offsets[1]


def next_layer_name(existing: list[str]) -> str:
    """"DragGAN result N" with the first N not yet used in the image."""
    taken = set(existing)
    number = 1
    while f"{RESULT_LAYER_NAME} {number}" in taken:
        number += 1
    return f"{RESULT_LAYER_NAME} {number}"


# ---- the procedures ---------------------------------------------------------------------------------------------


def drag_layer(document: Document, settings: DragSettings, feedback: Feedback, cancel: threading.Event,
               connect: Connect | None = None, preview_every: int = 0) -> DragOutcome:
    """Runs one drag of the layer; never raises for anything the user or the daemon can cause."""
    try:
        path_name, strokes = choose_path(document.paths())
        source = document.pixels()
        # Built (and so checked) before any network talk; the session is filled in once there is one.
        request = build_drag_request(PENDING_SESSION, layer_polylines(strokes, document.offsets), document.width,
                                     document.height, document.selection(),
                                     settings.protocol_options(preview_every))
        note = LayerNote.read(document.note())
        feedback.progress(0.0, "DragGAN: connecting to the daemon")
        daemon = (connect or default_connect)(settings.address)
        try:
            return _drag(daemon, document, settings, feedback, cancel, request, source, note)
        finally:
            daemon.close()
    except UserError as exc:
        return DragOutcome(error=str(exc))
    except DragdError as exc:
        if exc.code == ErrorCode.CANCELLED:
            return DragOutcome(cancelled=True)
        if exc.code in (ErrorCode.BAD_REQUEST, ErrorCode.LIMIT_EXCEEDED) and "drag line" in exc.message.lower():
            return DragOutcome(error=f"{exc.message}\n{HOW_TO_DRAW_POINTS}")  # the shared text, plus GIMP's way
        return DragOutcome(error=describe_error(exc))


def _drag(daemon: Daemon, document: Document, settings: DragSettings, feedback: Feedback,
          cancel: threading.Event, request: messages.DragRequest, source: Image,
          note: LayerNote | None) -> DragOutcome:
    session = _session_for(daemon, document, settings, source, note, feedback, cancel)
    # The session is left open: the result layer's note names it, and the next plug-in process resumes it.
    return _drag_session(daemon, document, feedback, cancel, request, source, session)


def _close_quietly(daemon: Daemon, session: str) -> None:
    """Frees a session that nothing will resume, rather than leaving it to the daemon's timeout."""
    with contextlib.suppress(DragdError):  # already gone: nothing to free
        daemon.close_session(session)


def _drag_session(daemon: Daemon, document: Document, feedback: Feedback, cancel: threading.Event,
                  request: messages.DragRequest, source: Image, session: LayerNote) -> DragOutcome:
    pairs, total = request.points, request.options.max_steps
    cancel_sent = False

    def on_progress(progress: Any) -> None:
        nonlocal cancel_sent
        if cancel.is_set() and not cancel_sent:
            cancel_sent = True
            daemon.cancel()  # the drag ends within a step, with a result that says "cancelled"
        if not isinstance(progress, messages.DragProgress):
            feedback.progress(0.0, "DragGAN: waiting for the daemon (busy with other work)")
            return
        left = max(_distance(p, pair.target) for p, pair in zip(progress.points, pairs, strict=False))
        feedback.progress(progress.step / total, f"DragGAN: step {progress.step} of at most {total}, "
                                                  f"{left:.1f} px to go")
        if progress.image is not None and progress.offset is not None:
            feedback.preview(paste(source, progress.image, *progress.offset))

    feedback.progress(0.0, "DragGAN: dragging")
    result = daemon.drag(session.session, pairs, request.mask, request.options, on_progress)
    if result.stopped == "cancelled" or cancel.is_set():
        return DragOutcome(cancelled=True)  # Cancel keeps nothing
    if len(result.points) != len(pairs):
        return DragOutcome(error=f"DragGAN: the daemon sent {len(result.points)} tracked points for {len(pairs)} "
                                 "point pairs; the daemon and the plug-in do not match, reinstall both.")
    feedback.progress(1.0, "DragGAN: done")
    strokes = [[to_image(tracked, document.offsets), to_image(pair.target, document.offsets)]
               for tracked, pair in zip(result.points, pairs, strict=True)]
    new_note = LayerNote(session.session, session.model, result.history_index, session.seed, session.truncation)
    how = "every handle reached its target" if result.reached else "stopped after the maximum number of steps"
    return DragOutcome(
        layer_name=next_layer_name(document.layer_names()), pixels=paste(source, result.image, *result.offset),
        note=new_note.to_json(), strokes=strokes, summary=f"{result.steps} steps, {how}",
    )


def _session_for(daemon: Daemon, document: Document, settings: DragSettings, source: Image,
                 note: LayerNote | None, feedback: Feedback, cancel: threading.Event) -> LayerNote:
    """The session whose state the layer shows: a fresh one from the seed for a generated layer, the layer's
    own (brought to the state the layer shows) for a drag result, else one opened from the pixels."""
    if note is not None and note.seed is not None and note.history_index == 0:
        # A layer exactly as generated: generating it again is cheap and always matches, whatever happened to
        # the old session since.
        feedback.progress(0.0, "DragGAN: preparing the layer's latent")
        truncation = note.truncation if note.truncation is not None else GenerateSettings().truncation
        generated = daemon.generate(note.seed, note.model, truncation)
        _check_size(document, generated.width, generated.height)
        return LayerNote(generated.session, generated.model, 0, note.seed, note.truncation)
    if note is not None:
        feedback.progress(0.0, "DragGAN: resuming the layer's session")
        _bring_to_state(daemon, note, source)
        return note
    return _open_layer(daemon, document, settings, source, feedback, cancel)


def _bring_to_state(daemon: Daemon, note: LayerNote, source: Image) -> None:
    """Moves the layer's session to the history state the layer shows (another drag of an older result may
    have moved it), and checks that this state still makes exactly the layer's pixels: a later drag from an
    older state replaces the states after it."""
    try:
        state = daemon.undo(note.session)
    except DragdError as exc:
        if exc.code != ErrorCode.BAD_REQUEST:  # bad_request: nothing to undo, the session is at its first state
            raise
        state = None
    index = state.history_index if state is not None else 0
    while index != note.history_index:
        try:
            state = daemon.redo(note.session) if index < note.history_index else daemon.undo(note.session)
        except DragdError as exc:
            if exc.code == ErrorCode.BAD_REQUEST:
                raise UserError(STATE_REPLACED) from None
            raise
        index = state.history_index
    if state is None or paste(source, state.image, *state.offset).tight().data != source.tight().data:
        raise UserError(STATE_REPLACED)


STATE_REPLACED = ("This layer's state is no longer in its daemon session: an older layer of the same "
                  "session was dragged since, which replaced it. Drag the newest result layer, or the layer "
                  "the results came from.")


def _open_layer(daemon: Daemon, document: Document, settings: DragSettings, source: Image, feedback: Feedback,
                cancel: threading.Event) -> LayerNote:
    """A layer dragd did not make: the daemon inverts the selection's bounding box (or the whole layer)."""
    request = build_open_session_request(source, document.selection(), settings.model or None)
    cancel_sent = False

    def on_progress(progress: Any) -> None:
        nonlocal cancel_sent
        if cancel.is_set() and not cancel_sent:
            cancel_sent = True
            daemon.cancel()  # the inversion stops within a step and opens nothing
        if isinstance(progress, messages.InversionProgress) and progress.total:
            feedback.progress(progress.step / progress.total,
                              f"DragGAN: opening the layer ({progress.stage} {progress.step}/{progress.total})")

    feedback.progress(0.0, "DragGAN: opening the layer (GAN inversion)")
    opened = daemon.open_session(request.image, request.model, request.region, request.mask, on_progress)
    if cancel.is_set():
        _close_quietly(daemon, opened.session)
        raise DragdError(ErrorCode.CANCELLED, "cancelled")
    return LayerNote(opened.session, opened.model or settings.model, 0)


def generate_layer(settings: GenerateSettings, feedback: Feedback, connect: Connect | None = None,
                   existing_names: Sequence[str] = ()) -> GenerateOutcome:
    """Generates an image for "new from model"; the layer's note lets later drags find its latent again."""
    try:
        feedback.progress(0.0, "DragGAN: connecting to the daemon")
        daemon = (connect or default_connect)(settings.address)
        try:
            feedback.progress(0.2, f"DragGAN: generating seed {settings.seed}")
            result = daemon.generate(settings.seed, settings.model or None, settings.truncation)
            _close_quietly(daemon, result.session)  # drags generate it again from the seed in the layer's note
        finally:
            daemon.close()
    except DragdError as exc:
        return GenerateOutcome(error=describe_error(exc))
    feedback.progress(1.0, "DragGAN: generated")
    note = LayerNote(result.session, result.model, 0, settings.seed, settings.truncation)
    return GenerateOutcome(layer_name=f"DragGAN {result.model} seed {settings.seed}", pixels=result.image,
                           note=note.to_json())


def _check_size(document: Document, width: int, height: int) -> None:
    if (document.width, document.height) != (width, height):
        raise UserError(f"This layer is {document.width}x{document.height} pixels but its DragGAN model makes "
                        f"{width}x{height}; it was resized since it was generated. Drag an unscaled copy.")


def _distance(a: Point, b: Point) -> float:
    return ((a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2) ** 0.5


def describe_error(exc: DragdError) -> str:
    """A daemon or connection error as a sentence for the user, with what to do where there is something."""
    advice = {
        ErrorCode.UNKNOWN_SESSION: "This layer's DragGAN state is no longer available: the daemon keeps a "
                                   "result's session for a while after its last use (10 minutes by default), "
                                   "or it was restarted. Drag the layer this result came from again (a "
                                   "generated layer, or your own layer, which is then opened anew).",
        ErrorCode.UNSUPPORTED: "This layer was not made by DragGAN, and this daemon cannot open other images "
                               "yet. Use File > Create > DragGAN new from model..., then drag that layer.",
        ErrorCode.TIMEOUT: "The DragGAN daemon did not answer in time. Check it with `dragd status`.",
        ErrorCode.UNAVAILABLE: "No DragGAN daemon answers and none could be started. Start one with "
                               "`dragd serve`, or run the dragd installer again.",
    }.get(exc.code, "")
    return f"DragGAN: {exc.message}" + (f"\n{advice}" if advice else "")


def default_connect(address: str) -> Daemon:
    """A client of the daemon at `address` (empty: $DRAGD_ADDRESS, else the default), started if none answers
    (on this computer only; `$DRAGD_DAEMON_COMMAND` overrides the command, e.g. a full path to `dragd`)."""
    import os
    import shlex

    from ..protocol.editor import DEFAULT_DAEMON_COMMAND, find_or_start_daemon
    from ..protocol.limits import DEFAULT_ADDRESS

    address = address or os.environ.get("DRAGD_ADDRESS") or DEFAULT_ADDRESS
    custom = os.environ.get("DRAGD_DAEMON_COMMAND")
    command = [*shlex.split(custom), "serve", "--address", "{address}"] if custom else DEFAULT_DAEMON_COMMAND
    client = find_or_start_daemon(address, command, client_name=CLIENT_NAME)
    try:
        client.hello()  # a daemon of another protocol version says so here, clearly
    except BaseException:
        client.close()
        raise
    return client
