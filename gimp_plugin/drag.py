"""What the GIMP plug-in does, in plain Python: no GIMP here (that is `adapter.py`), no torch (that is the daemon).

A procedure run is: read the layer, its selection and the active path through a `Document`; turn path strokes
into handle -> target pairs; ask the daemon (through the shared client) for a session and a drag; hand back
an `Outcome` that the adapter writes as a new layer plus a path of the tracked handles. Every failure becomes
`Outcome.error`, a sentence for the user, never an exception.

Which session a drag starts from (the state the layer shows, kept in a binding parasite on the layer) is
`session.py`'s business. A result is not a whole new picture: it is an `Edit` (protocol.blend), the change the
drag made, which the adapter applies to a copy of the source layer at the layer's own precision.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

from ..protocol import messages
from ..protocol.binding import Binding
from ..protocol.blend import Edit, apply_8bit
from ..protocol.editor import build_drag_request, centre_to_corner
from ..protocol.errors import DragdError, ErrorCode
from ..protocol.images import Image, mask_bounds
from ..protocol.limits import DEFAULT_TRUNCATION, Limits
from ..protocol.texts import BAD_MODEL_ADVICE, next_result_name, waiting
from .options import DragSettings, GenerateSettings
from .session import GENERATED, Bound, close_quietly, current_latent, layer_digest, read_binding, session_for
from .settings import SettingsError, read_settings, where

Point = tuple[float, float]
Stroke = list[Point]
TRACKED_PATH_NAME = "DragGAN tracked points"
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
    def binding(self) -> bytes | None: ...  # the layer's binding parasite (protocol.binding), if any


class Feedback(Protocol):
    """Where progress shows: GIMP's progress bar, or the live-preview dialog."""

    def progress(self, fraction: float, text: str) -> None: ...
    def preview(self, pixels: Image) -> None: ...


class Daemon(Protocol):
    """The calls the plug-in makes: a subset of the shared `protocol.client.DragdClient` (tests use a fake)."""

    def generate(self, seed: int, model: str | None = None,
                 truncation: float = DEFAULT_TRUNCATION) -> messages.GenerateResult:
        ...

    def open_session(self, image: Image, model: str | None = None, region: Any = None, mask: Image | None = None,
                     on_progress: Callable[[Any], None] | None = None,
                     options: messages.InversionOptions | None = None) -> messages.OpenSessionResult: ...

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


# ---- outcomes the adapter writes -----------------------------------------------------------------------------


@dataclass
class DragOutcome:
    """A finished drag (`edit` set), a cancelled one, or an error message."""

    cancelled: bool = False
    error: str | None = None
    layer_name: str = ""
    edit: Edit | None = None  # what to change in a copy of the source layer, at the layer's own precision
    pixels: Image | None = None  # the whole result layer as 8 bits (the source with `edit` applied)
    binding: Binding | None = None  # for the result layer's parasite (its digest is of `pixels`)
    path_name: str = TRACKED_PATH_NAME
    strokes: list[Stroke] = field(default_factory=list)  # tracked handle -> target, image coordinates
    summary: str = ""


@dataclass
class GenerateOutcome:
    error: str | None = None
    layer_name: str = ""
    pixels: Image | None = None
    binding: Binding | None = None


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


# ---- the procedures ---------------------------------------------------------------------------------------------


def drag_layer(document: Document, settings: DragSettings, feedback: Feedback, cancel: threading.Event,
               connect: Connect | None = None, preview_every: int = 0) -> DragOutcome:
    """Runs one drag of the layer; never raises for anything the user or the daemon can cause."""
    try:
        problem = settings.problem()
        if problem:
            raise UserError(problem)
        path_name, strokes = choose_path(document.paths())
        source = document.pixels()
        selection = document.selection()
        if selection is not None and mask_bounds(selection) is None:
            raise UserError("The selection does not touch this layer, so nothing on it may change. Select part "
                            "of the layer (or Select > None to let the whole layer move), then drag again.")
        # Built (and so checked) before any network talk; the session is filled in once there is one.
        request = build_drag_request(PENDING_SESSION, layer_polylines(strokes, document.offsets), document.width,
                                     document.height, selection, settings.protocol_options(preview_every))
        binding = read_binding(document.binding())
        feedback.progress(0.0, "DragGAN: connecting to the daemon")
        daemon = (connect or partial(default_connect, settings_file=settings.settings_file))(settings.address)
        try:
            limits = getattr(daemon, "limits", None)  # this daemon's own (hello), maybe stricter than the defaults
            problem = settings.problem(limits) if isinstance(limits, Limits) else None
            if problem:
                raise UserError(problem)
            bound = session_for(daemon, document.width, document.height, source, request.mask, settings.model,
                                binding, feedback, cancel, settings.inversion_options())
            # The session is left open: the result's binding names it, and the next plug-in process resumes it.
            return _drag_session(daemon, document, feedback, cancel, request, source, bound)
        finally:
            daemon.close()
    except UserError as exc:
        return DragOutcome(error=str(exc))
    except DragdError as exc:
        if exc.code == ErrorCode.CANCELLED:
            return DragOutcome(cancelled=True)
        if exc.code in (ErrorCode.BAD_REQUEST, ErrorCode.LIMIT_EXCEEDED) and "drag line" in exc.message.lower():
            return DragOutcome(error=f"{exc.message}\n{HOW_TO_DRAW_POINTS}")  # the shared text, plus GIMP's way
        return DragOutcome(error=describe_error(exc, settings.settings_file))


def edit_of(source: Image, patch: Image, offset: tuple[int, int], mask: Image | None, bound: Bound) -> Edit:
    """The change a daemon image (`patch` at `offset` in the layer) makes to the layer.

    An opened session's patch is already the layer with the edit pasted back, weighted by the selection (the
    daemon does that, feather included). A generated session's picture is the whole model image: here the
    selection weights it, so that outside the selection nothing changes and a feathered edge takes part of it.
    """
    x0, y0 = max(offset[0], 0), max(offset[1], 0)
    x1, y1 = min(offset[0] + patch.width, source.width), min(offset[1] + patch.height, source.height)
    if x1 <= x0 or y1 <= y0:
        raise UserError("The daemon's result does not overlap the layer; the daemon and the plug-in do not "
                        "match, reinstall both.")
    after = patch.crop(x0 - offset[0], y0 - offset[1], x1 - x0, y1 - y0)
    weight = mask.crop(x0, y0, x1 - x0, y1 - y0) if mask is not None and bound.kind == GENERATED else None
    return Edit(x0, y0, source.crop(x0, y0, x1 - x0, y1 - y0), after, weight)


def _drag_session(daemon: Daemon, document: Document, feedback: Feedback, cancel: threading.Event,
                  request: messages.DragRequest, source: Image, bound: Bound) -> DragOutcome:
    pairs, total = request.points, request.options.max_steps
    cancel_sent = False

    def on_progress(progress: Any) -> None:
        nonlocal cancel_sent
        if cancel.is_set() and not cancel_sent:
            cancel_sent = True
            daemon.cancel()  # the drag ends within a step, with a result that says "cancelled"
        if not isinstance(progress, messages.DragProgress):
            text = waiting(getattr(progress, "position", 0))
            if text:  # position 0 is the job starting: nothing to say, so no flicker
                feedback.progress(0.0, f"DragGAN: {text}")
            return
        left = max(_distance(p, pair.target) for p, pair in zip(progress.points, pairs, strict=False))
        feedback.progress(progress.step / total, f"DragGAN: step {progress.step} of at most {total}, "
                                                  f"{left:.1f} px to go")
        if progress.image is not None and progress.offset is not None:
            edit = edit_of(source, progress.image, progress.offset, request.mask, bound)
            feedback.preview(apply_8bit(source, edit))

    feedback.progress(0.0, "DragGAN: dragging")
    result = daemon.drag(bound.session, pairs, request.mask, request.options, on_progress)
    if result.stopped == "cancelled" or cancel.is_set():
        return DragOutcome(cancelled=True)  # Cancel keeps nothing
    if len(result.points) != len(pairs):
        return DragOutcome(error=f"DragGAN: the daemon sent {len(result.points)} tracked points for {len(pairs)} "
                                 "point pairs; the daemon and the plug-in do not match, reinstall both.")
    feedback.progress(1.0, "DragGAN: done")
    strokes = [[to_image(tracked, document.offsets), to_image(pair.target, document.offsets)]
               for tracked, pair in zip(result.points, pairs, strict=True)]
    edit = edit_of(source, result.image, result.offset, request.mask, bound)
    pixels = apply_8bit(source, edit)
    binding = Binding(bound.session, result.history_index, bound.model, bound.kind,
                      current_latent(daemon, bound.session), bound.frame, layer_digest(pixels), bound.seed,
                      bound.truncation)
    how = "every handle reached its target" if result.reached else "stopped after the maximum number of steps"
    return DragOutcome(layer_name=next_result_name(document.layer_names()), edit=edit, pixels=pixels,
                       binding=binding, strokes=strokes, summary=f"{result.steps} steps, {how}")


def generate_layer(settings: GenerateSettings, feedback: Feedback, connect: Connect | None = None,
                   existing_names: Sequence[str] = ()) -> GenerateOutcome:
    """Generates an image for "new from model"; the layer's binding lets later drags find its latent again."""
    problem = settings.problem()
    if problem:
        return GenerateOutcome(error=problem)
    try:
        feedback.progress(0.0, "DragGAN: connecting to the daemon")
        daemon = (connect or partial(default_connect, settings_file=settings.settings_file))(settings.address)
        try:
            feedback.progress(0.2, f"DragGAN: generating seed {settings.seed}")
            result = daemon.generate(settings.seed, settings.model or None, settings.truncation)
            latent = current_latent(daemon, result.session)
            close_quietly(daemon, result.session)  # drags generate it again from the seed in the binding
        finally:
            daemon.close()
    except DragdError as exc:
        return GenerateOutcome(error=describe_error(exc, settings.settings_file))
    feedback.progress(1.0, "DragGAN: generated")
    binding = Binding(result.session, 0, result.model, GENERATED, latent, (0, 0, result.width, result.height),
                      layer_digest(result.image), settings.seed, settings.truncation)
    return GenerateOutcome(layer_name=f"DragGAN {result.model} seed {settings.seed}", pixels=result.image,
                           binding=binding)


def _distance(a: Point, b: Point) -> float:
    return ((a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2) ** 0.5


def describe_error(exc: DragdError, settings_file: str = "") -> str:
    """A daemon or connection error as a sentence for the user, with what to do where there is something."""
    place = where(settings_file) if settings_file else "the procedure's address argument or $DRAGD_ADDRESS"
    advice = {
        ErrorCode.UNKNOWN_SESSION: "This layer's DragGAN state is no longer available (the daemon was restarted "
                                   "or forgot it). Drag the layer again: it is then opened anew.",
        ErrorCode.UNSUPPORTED: "This layer was not made by DragGAN, and this daemon cannot open other images "
                               "yet. Use File > Create > DragGAN new from model..., then drag that layer.",
        ErrorCode.TIMEOUT: f"The DragGAN daemon did not answer in time. Check it with `dragd status`, and its "
                           f"address in {place}.",
        ErrorCode.UNAVAILABLE: f"No DragGAN daemon answers and none could be started. Start one with "
                               f"`dragd serve`, or set its address and start command in {place}.",
        ErrorCode.BAD_MODEL: BAD_MODEL_ADVICE,
    }.get(exc.code, "")
    if advice and place in exc.message:
        advice = advice.split(". ")[0] + "."  # the message already says where to fix it
    return f"DragGAN: {exc.message}" + (f"\n{advice}" if advice else "")


def default_connect(address: str, settings_file: str = "") -> Daemon:
    """A client of the daemon at `address` (empty: $DRAGD_ADDRESS, else the settings file's, else the default),
    started if none answers (on this computer only, with the settings' command)."""
    from ..protocol.editor import find_or_start_daemon
    from ..protocol.transport import resolve_address

    try:
        daemon_settings = read_settings(settings_file)
    except SettingsError as exc:
        raise DragdError(ErrorCode.BAD_REQUEST, str(exc)) from None
    place = where(settings_file) if settings_file else "$DRAGD_ADDRESS and $DRAGD_DAEMON_COMMAND"
    if address:
        place = f"the address argument of the call (a script's), or {place}"
    elif os.environ.get("DRAGD_ADDRESS"):
        place = f"$DRAGD_ADDRESS (it overrides the settings), or {place}"
    address = resolve_address(address, daemon_settings.address)  # as every dragd tool finds it
    client = find_or_start_daemon(address, daemon_settings.argv(), client_name=CLIENT_NAME, where=place)
    try:
        client.hello()  # a daemon of another protocol version says so here, clearly
    except BaseException:
        client.close()
        raise
    return client
