"""What a drag reads from the document and writes into it, for Drag and Live alike (plain Python on `ports.Canvas`).

- `drag_target`: the layer the user means (the active one; with the points layer active, the one right below it);
- `read_start`: everything a drag job needs from the document (`resume.Start`), bad input refused with a sentence;
- `write_result`: the result layer right above the dragged one, its binding, the lines' new handles;
- `in_front`: whether a document is the one in front (the plugin writes only into that one, see
  `DragController._write_in_front`).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..protocol.binding import Binding
from ..protocol.errors import DragdError, ErrorCode
from ..protocol.messages import DragOptions, InversionOptions
from ..protocol.texts import live_ended, next_result_name
from . import resume
from .errors import CanvasError
from .ports import Canvas, Layer, Workspace
from .texts import HOW_TO_DRAW, POINTS_LAYER_NAME, describe_layer_kind

PREVIEW_LAYER_NAME = "DragGAN preview"  # == adapter.PREVIEW_LAYER_NAME (the adapter imports no protocol)
HOW_IT_ENDED = {"reached": "every handle reached its target", "max_steps": "stopped at the step limit",
                "cancelled": "stopped; kept the image reached so far", "committed": "live drag committed",
                "timeout": live_ended()}  # the plugin's live drags use the default time-out


def in_front(workspace: Workspace, canvas: Canvas) -> bool:
    active = workspace.active_canvas()
    return active is not None and active.key() == canvas.key()


def drag_target(canvas: Canvas) -> Layer | str:
    """The layer the user means (the active one; with the points layer active, the one right below it), or a
    sentence saying why there is none to drag."""
    active = canvas.active_layer()
    if active is None:
        return "Select the layer to drag in the Layers docker."
    if active[1] in (POINTS_LAYER_NAME, PREVIEW_LAYER_NAME) or active[2].endswith("mask"):
        below = canvas.layer_below_points()
        if below is None:
            return (f"Nothing lies under the \"{POINTS_LAYER_NAME}\" layer: put it right above the picture "
                    "to drag, or select that picture's layer.")
        active = below
    if active[2] != "paintlayer":
        return describe_layer_kind(active[1], active[2])
    return active


def read_start(canvas: Canvas | None, options: DragOptions, inversion: InversionOptions,
               sessions: dict[str, str], max_points: int) -> resume.Start:
    """Everything the drag job needs from the document; raises DragdError / CanvasError with a sentence.
    `sessions`: session id -> digest of the layer showing its current state (the docker's knowledge)."""
    if canvas is None:
        raise CanvasError("Open a document first (or use New from model).")
    if canvas.problem():
        raise CanvasError(canvas.problem())
    target = drag_target(canvas)
    if isinstance(target, str):
        raise CanvasError(target)
    if not canvas.has_points_layer():
        raise CanvasError(f"There is no \"{POINTS_LAYER_NAME}\" layer (it was deleted, or never added): press "
                          f"Add points layer, then draw the drag lines on it. {HOW_TO_DRAW}")
    lines = tuple(canvas.point_lines())
    if not lines:
        raise DragdError(ErrorCode.BAD_REQUEST, f"There are no drag lines yet. {HOW_TO_DRAW}")
    layer, name, _ = target
    digest = canvas.layer_digest(layer)
    binding = canvas.bindings().get(layer)
    painted = binding is not None and not binding.shows(digest)
    if painted:
        binding = None
    live = binding is not None and sessions.get(binding.session) == digest
    start = resume.Start(layer, name, canvas.layer_pixels(layer), digest, binding, live, painted, canvas.selection(),
                         lines, options, inversion)
    resume.drag_request("check", start, max_points)  # bad lines: now, before anything runs
    return start


@dataclass(frozen=True)
class Written:
    """A result layer written: its session state and what the panel says about it."""

    session: str
    digest: str  # of the result layer, which shows the session's current state
    message: str
    session_text: str  # the layer Drag edits next


def write_result(canvas: Canvas, start: resume.Start, outcome: resume.Outcome) -> Written:
    """The result layer right above the dragged one (in its group), its binding, the lines' new handles."""
    prepared, result = outcome.start, outcome.result
    frame = start.frame
    canvas.move_handles(resume.line_handles(outcome.line_ids, result.points, frame))
    above = start.layer if canvas.layer_exists(start.layer) else None
    name = next_result_name(canvas.layer_names())
    layer = canvas.add_layer(name, outcome.pixels, above, start.layer if above else None, outcome.edit)
    digest = canvas.layer_digest(layer)
    seed = start.binding.seed if start.binding is not None else None
    truncation = start.binding.truncation if start.binding is not None else None
    canvas.set_binding(layer, Binding(prepared.session, result.history_index, prepared.model, prepared.kind,
                                      outcome.latent, frame, digest, seed, truncation))
    if prepared.how in ("open", "rebuild") and above is not None and canvas.layer_digest(above) == start.digest:
        # The dragged layer now has a session state too: dragging it again restores it, never re-inverts.
        canvas.set_binding(above, Binding(prepared.session, prepared.index, prepared.model, prepared.kind,
                                          prepared.latent, frame, start.digest, seed, truncation))
    how = HOW_IT_ENDED.get(result.stopped, result.stopped)
    note = f" {prepared.note}" if prepared.note else ""
    return Written(prepared.session, digest, f"Done after {result.steps} steps: {how}. Result: \"{name}\".{note}",
                   f"Drag edits \"{name}\" (a DragGAN layer, {prepared.model}).")

