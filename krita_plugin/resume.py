"""Where a drag starts, and the drag itself, as one job on a worker thread: plain Python on the shared protocol.

The document is the truth. The layer to drag carries a `protocol.binding.Binding` (kept by the adapter in the
document) naming the daemon session and state its pixels show, with that state's latent; it counts only while
the layer's pixels still have the digest recorded with it. `Start` is what the UI thread read from the document;
`run_drag` (worker thread) gets a daemon session into exactly that state, the cheapest way that works:

1. `continue`: the session is in that state already (this docker's last drag on it made this layer);
2. `restore` into the same session: the editor's own undo (or the docker's) brought back an older layer, so
   its latent becomes the session's new state: no inversion, the session's tuned generator is kept;
3. `rebuild`: the daemon lost the session (restarted, expired) and the layer was generated: a new session
   from the latent and the model gives the same picture;
4. `open`: anything else (a user's own layer, a painted-over result, an opened session the daemon lost): GAN
   inversion of what the layer shows.

Then it drags, asks for the new state's latent (for the result layer's binding) and composes the result layer:
outside the selection the layer's own pixels, inside the drag's change weighted by the selection's softness.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from ..protocol import editor
from ..protocol.binding import Binding, Latent
from ..protocol.blend import Edit, apply_8bit
from ..protocol.errors import DragdError, ErrorCode
from ..protocol.images import Image, paste
from ..protocol.messages import Capability, DragOptions, DragRequest, DragResult, HelloResult, InversionOptions

Rect = tuple[int, int, int, int]  # x, y, width, height
Line = tuple[str, list[tuple[float, float]]]  # (line id, its nodes in corner-origin document pixels)
# Daemon replies that mean "this daemon no longer has the session" or "cannot restore": fall back, not fail.
GONE = (ErrorCode.UNKNOWN_SESSION,)
CANNOT_RESTORE = (ErrorCode.UNKNOWN_SESSION, ErrorCode.UNSUPPORTED)
T = TypeVar("T")


@dataclass(frozen=True)
class Start:
    """What the UI thread read from the document for one drag."""

    layer: str  # the layer dragged (Krita uniqueId)
    name: str
    pixels: Image  # what it shows, 8-bit RGBA, document-sized (what the model sees)
    digest: str  # protocol.binding.pixels_digest of it as the document holds it
    binding: Binding | None  # its binding, only when it still shows it
    live: bool  # the binding's session is, as far as this docker knows, in exactly that state
    painted: bool  # the layer has a binding but its pixels changed since (painted on): a new photo
    selection: Image | None  # L, document-sized; None: no selection
    lines: tuple[Line, ...]
    options: DragOptions
    inversion: InversionOptions = InversionOptions()  # how a layer is opened, if it must be (its paste mode)

    @property
    def frame(self) -> Rect:
        """Where the session's picture lies in the document: a generated one's model square, else the layer."""
        if self.binding is not None and self.binding.kind == "generated":
            return self.binding.frame
        return (0, 0, self.pixels.width, self.pixels.height)


@dataclass(frozen=True)
class Prepared:
    """A daemon session in the state the dragged layer shows."""

    session: str
    model: str
    kind: str  # "generated" | "opened"
    how: str  # "continue" | "restore" | "rebuild" | "open"
    note: str  # what to tell the user about how it started ("" when it just continued)
    latent: Latent | None  # that state's latent (for the dragged layer's binding after a rebuild or an open)
    index: int  # that state's history index


@dataclass(frozen=True)
class Outcome:
    """A finished drag: what the done callback writes into the document."""

    start: Prepared
    result: DragResult
    latent: Latent | None  # the new state's, for the result layer's binding
    pixels: Image  # the whole result layer, 8-bit RGBA, document-sized
    edit: Edit  # the change, for layers of higher precision than 8 bits
    line_ids: tuple[str, ...]  # request order of the points


def drag_request(session: str, start: Start, max_points: int) -> DragRequest:
    """The drag in the session's frame; DragdError (bad_request) with a sentence for the user."""
    fx, fy, fw, fh = start.frame
    polylines = [[(x - fx, y - fy) for x, y in nodes] for _, nodes in start.lines]
    mask = start.selection
    if mask is not None and (fx, fy, fw, fh) != (0, 0, mask.width, mask.height):
        mask = mask.crop(fx, fy, fw, fh)
    return editor.build_drag_request(session, polylines, fw, fh, mask, start.options, max_points)


def run_drag(daemon: Any, hello: HelloResult, start: Start, report: Callable[[Any], None]) -> Outcome:
    """The whole job: a session in the start state, the drag, the new latent, the composed result layer."""
    request = drag_request("check", start, hello.limits.max_points)
    prepared, result = in_session(daemon, hello, start, report, lambda session: daemon.drag(
        session, request.points, request.mask, request.options, report))
    return outcome(daemon, hello, start, prepared, result, tuple(line_id for line_id, _ in start.lines))


def in_session(daemon: Any, hello: HelloResult, start: Start, report: Callable[[Any], None],
               work: Callable[[str], T]) -> tuple[Prepared, T]:
    """`work(session)` on a session in the state `start` shows (`prepare`); when the daemon lost a session this
    docker thought current (restarted or expired between two drags), it is started again from the layer once."""
    prepared = prepare(daemon, hello, start, report)
    try:
        return prepared, work(prepared.session)
    except DragdError as exc:
        if exc.code not in GONE or prepared.how != "continue":
            raise
    prepared = prepare(daemon, hello, replace(start, live=False), report)
    return prepared, work(prepared.session)


def outcome(daemon: Any, hello: HelloResult, start: Start, prepared: Prepared, result: DragResult,
            line_ids: tuple[str, ...]) -> Outcome:
    """A drag that ended with a new state: its latent and the composed result layer (`line_ids`: the lines of
    `result.points`, in order)."""
    latent = current_latent(daemon, hello, prepared.session)
    pixels, edit = compose(start, result, prepared.kind)
    return Outcome(prepared, result, latent, pixels, edit, line_ids)


def prepare(daemon: Any, hello: HelloResult, start: Start, report: Callable[[Any], None]) -> Prepared:
    """A daemon session in the state `start` shows (see the module docstring for the order tried)."""
    binding = start.binding
    if binding is not None:
        if start.live:
            return Prepared(binding.session, binding.model, binding.kind, "continue", "", binding.latent,
                            binding.state)
        if binding.latent is not None and Capability.RESTORE in hello.capabilities:
            latent, shape = binding.latent.full(), (binding.latent.num_ws, binding.latent.w_dim)
            try:
                restored = daemon.restore(latent, shape, session=binding.session)
                return Prepared(restored.session, restored.model, binding.kind, "restore", "", binding.latent,
                                restored.history_index)
            except DragdError as exc:
                if exc.code not in CANNOT_RESTORE:
                    raise
            if binding.kind == "generated":
                rebuilt = daemon.restore(latent, shape, model=binding.model)
                return Prepared(rebuilt.session, rebuilt.model, "generated", "rebuild",
                                f"The daemon no longer had the session of \"{start.name}\"; rebuilt it from the "
                                "state saved in the document.", binding.latent, rebuilt.history_index)
    if Capability.INVERT not in hello.capabilities:
        raise DragdError(ErrorCode.UNSUPPORTED, f"\"{start.name}\" has no DragGAN state this daemon can use, and "
                                                "it cannot open other images (GAN inversion). Use New from model.")
    why = ("its pixels changed since DragGAN made it" if start.painted
           else "the daemon no longer has its session" if binding is not None else "")
    request = editor.build_open_session_request(start.pixels, start.selection,
                                                binding.model if binding is not None else None)
    opened = daemon.open_session(request.image, request.model, request.region, request.mask, report,
                                 options=start.inversion)
    lpips = "" if opened.quality.lpips is None else f", LPIPS {opened.quality.lpips:.3f}"
    note = (f"Opened \"{start.name}\" by GAN inversion{f' ({why})' if why else ''}: reconstruction PSNR "
            f"{opened.quality.psnr:.1f} dB{lpips}.")
    return Prepared(opened.session, opened.model or "", "opened", "open", note,
                    current_latent(daemon, hello, opened.session), 0)


def compose(start: Start, result: DragResult, kind: str) -> tuple[Image, Edit]:
    """The result layer (8-bit RGBA, document-sized) and the change as an Edit.

    A generated layer's whole square comes back from the daemon, so the selection is applied here: its
    softness weights the change (partial selection, partial edit) and outside it nothing changes at all. An
    opened layer's patch is already pasted with the selection's softness by the daemon; here only pixels
    outside the selection (grown by the daemon's feather) are kept as they are, byte for byte."""
    fx, fy, _, _ = start.frame
    before = start.pixels
    after = paste(before, result.image, fx + result.offset[0], fy + result.offset[1])
    weight = start.selection
    if weight is not None and kind != "generated":
        weight = None  # the daemon's paste-back already weighted it, within the feather around the selection
    edit = Edit(0, 0, before, after, weight)
    return (apply_8bit(before, edit) if weight is not None else after), edit


def current_latent(daemon: Any, hello: HelloResult, session: str) -> Latent | None:
    """The session's current latent; None from a daemon without `state` (its layers then re-invert)."""
    if Capability.RESTORE not in hello.capabilities:
        return None
    try:
        state = daemon.state(session)
    except DragdError as exc:
        if exc.code in CANNOT_RESTORE:
            return None
        raise
    return Latent.from_rows(state.latent, state.shape[0], state.shape[1])


def line_handles(line_ids: Sequence[str], points: Sequence[tuple[float, float]],
                 frame: Rect) -> dict[str, tuple[float, float]]:
    """Tracked handle positions (protocol pixel centres in the session frame) by line id, in document corner
    pixels; empty when they do not match the lines (nothing is moved then)."""
    if len(points) != len(line_ids):
        return {}
    corners = (editor.centre_to_corner(p) for p in points)
    return {line: (x + frame[0], y + frame[1]) for line, (x, y) in zip(line_ids, corners, strict=True)}


def preview_pixels(start: Start, progress: Any) -> Image | None:
    """The layer as a progress message's preview shows it (8-bit RGBA, document-sized), or None when the
    message carries no preview."""
    if progress.image is None or progress.offset is None:
        return None
    fx, fy, _, _ = start.frame
    return paste(start.pixels, progress.image, fx + progress.offset[0], fy + progress.offset[1])
