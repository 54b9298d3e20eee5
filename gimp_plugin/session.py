"""Which daemon session a drag of a layer starts from: always the state the layer shows.

GIMP runs each procedure call in a new process, so a layer's link to its daemon state lives in the layer
itself: a `protocol.binding.Binding` in a parasite (saved with the .xcf). A binding is trusted only while the
layer's pixels still have the digest it names (GIMP's own undo, painting, a filter: the layer is then a new
photo). In that order, a drag starts from:

1. a generated layer, untouched: the same seed generated again (cheap, and always the same picture);
2. the binding's session, walked (undo / redo) to the state the layer shows, when that state is still the one
   the binding names (its latent, or its picture pixel for pixel where the daemon cannot say its latent);
3. the binding's latent restored: as a new state of its session (an older state was replaced by a later drag),
   or, for a generated layer, as a new session (the daemon was restarted or forgot the session);
4. the layer's pixels, opened anew (GAN inversion): a layer dragd did not make, one that changed since, or an
   opened layer whose session is gone. Only here is anything re-inverted.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from typing import Any, Protocol

from ..protocol import messages
from ..protocol.binding import Binding, Latent, pixels_digest
from ..protocol.editor import build_open_session_request
from ..protocol.errors import DragdError, ErrorCode
from ..protocol.images import Image, paste
from ..protocol.limits import DEFAULT_TRUNCATION

GENERATED, OPENED = "generated", "opened"  # protocol.binding.KINDS


class Feedback(Protocol):
    def progress(self, fraction: float, text: str) -> None: ...


@dataclass(frozen=True)
class Bound:
    """The session a drag runs in, at the state the layer shows."""

    session: str
    state: int
    model: str
    kind: str  # GENERATED: the session's picture is the whole layer; OPENED: a region of the user's layer
    frame: tuple[int, int, int, int]  # x, y, width, height of the session's picture in the layer
    seed: int | None = None
    truncation: float | None = None


def layer_digest(pixels: Image) -> str:
    """The digest a binding keeps of a layer's 8-bit pixels (what GIMP gives as R'G'B'A u8)."""
    return pixels_digest(pixels.tight().data, pixels.width, pixels.height, "RGBA U8")


def read_binding(raw: bytes | None) -> Binding | None:
    """The binding in a parasite's data; None when there is none, or it is not one this plug-in can use."""
    from ..protocol.binding import BindingError, decode

    if not raw:
        return None
    try:
        return decode(raw)
    except BindingError:
        return None


def session_for(daemon: Any, width: int, height: int, source: Image, selection: Image | None, model: str,
                binding: Binding | None, feedback: Feedback, cancel: threading.Event) -> Bound:
    """The session and state a drag of this layer starts from (see the module docstring)."""
    if binding is not None and not binding.shows(layer_digest(source)):
        feedback.progress(0.0, "DragGAN: this layer changed since DragGAN made it; opening it as it is now")
        binding = None
    if binding is None:
        return open_layer(daemon, source, selection, model, feedback, cancel)
    if binding.kind == GENERATED and binding.state == 0 and binding.seed is not None:
        feedback.progress(0.0, "DragGAN: preparing the layer's latent")
        truncation = binding.truncation if binding.truncation is not None else DEFAULT_TRUNCATION
        generated = daemon.generate(binding.seed, binding.model, truncation)
        if (width, height) != (generated.width, generated.height):
            raise DragdError(ErrorCode.BAD_REQUEST,
                             f"This layer is {width}x{height} pixels but its DragGAN model makes "
                             f"{generated.width}x{generated.height}; it was resized since it was generated. "
                             "Drag an unscaled copy.")
        return Bound(generated.session, 0, generated.model, GENERATED, (0, 0, width, height), binding.seed,
                     binding.truncation)
    feedback.progress(0.0, "DragGAN: resuming the layer's session")
    bound = Bound(binding.session, binding.state, binding.model, binding.kind, binding.frame, binding.seed,
                  binding.truncation)
    try:
        if _bring_to_state(daemon, binding, source):
            return bound
        alive = True
    except DragdError as exc:
        if exc.code != ErrorCode.UNKNOWN_SESSION:
            raise
        alive = False
    restored = _restore(daemon, binding, alive, feedback)
    if restored is not None:
        return restored
    feedback.progress(0.0, "DragGAN: this layer's DragGAN state is gone (the daemon was restarted or forgot "
                           "it); opening the layer anew")
    return open_layer(daemon, source, selection, model or binding.model, feedback, cancel)


def _bring_to_state(daemon: Any, binding: Binding, source: Image) -> bool:
    """Walks the binding's session to the state the layer shows; True when that state is still the one the
    layer was made from (a later drag of an older layer replaces the states after it). Raises DragdError
    (unknown_session) when the session is gone."""
    try:
        state = daemon.undo(binding.session)
    except DragdError as exc:
        if exc.code != ErrorCode.BAD_REQUEST:  # bad_request: nothing to undo, the session is at its first state
            raise
        state = None
    index = state.history_index if state is not None else 0
    while index != binding.state:
        try:
            state = daemon.redo(binding.session) if index < binding.state else daemon.undo(binding.session)
        except DragdError as exc:
            if exc.code == ErrorCode.BAD_REQUEST:
                return False  # that state no longer exists
            raise
        index = state.history_index
    latent = current_latent(daemon, binding.session)
    if latent is not None and binding.latent is not None:
        return latent.full() == binding.latent.full()
    if state is None:
        return False
    # No latent to compare: the state's picture must make exactly the layer's pixels.
    return paste(source, state.image, *state.offset).tight().data == source.tight().data


def _restore(daemon: Any, binding: Binding, alive: bool, feedback: Feedback) -> Bound | None:
    """The binding's latent as a new state of its live session, or (generated layers) as a new session."""
    if binding.latent is None or (not alive and binding.kind != GENERATED):
        return None  # an opened layer's session held a tuned generator that no latent brings back
    feedback.progress(0.0, "DragGAN: restoring the layer's state from the latent stored in it")
    try:
        result = daemon.restore(binding.latent.full(), (binding.latent.num_ws, binding.latent.w_dim),
                                session=binding.session if alive else None,
                                model=None if alive else binding.model)
    except DragdError as exc:
        if exc.code in (ErrorCode.UNSUPPORTED, ErrorCode.BAD_REQUEST, ErrorCode.UNKNOWN_SESSION,
                        ErrorCode.UNKNOWN_MODEL):
            return None
        raise
    return Bound(result.session, result.history_index, result.model, binding.kind, binding.frame, binding.seed,
                 binding.truncation)


def current_latent(daemon: Any, session: str) -> Latent | None:
    """The latent of the session's current state; None when the daemon cannot say (an older daemon)."""
    state = getattr(daemon, "state", None)
    if state is None:
        return None
    try:
        result = state(session)
    except DragdError as exc:
        if exc.code in (ErrorCode.UNSUPPORTED, ErrorCode.BAD_REQUEST):
            return None
        raise
    return Latent.from_rows(result.latent, *result.shape)


def open_layer(daemon: Any, source: Image, selection: Image | None, model: str, feedback: Feedback,
               cancel: threading.Event) -> Bound:
    """A layer's own pixels: the daemon inverts the selection's bounding box (or the whole layer)."""
    request = build_open_session_request(source, selection, model or None)
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
        close_quietly(daemon, opened.session)
        raise DragdError(ErrorCode.CANCELLED, "cancelled")
    frame = (max(0, opened.offset[0]), max(0, opened.offset[1]), opened.image.width, opened.image.height)
    return Bound(opened.session, 0, opened.model or model, OPENED, frame)


def close_quietly(daemon: Any, session: str) -> None:
    """Frees a session that nothing will resume, rather than leaving it to the daemon's timeout."""
    with contextlib.suppress(DragdError):  # already gone: nothing to free
        daemon.close_session(session)

