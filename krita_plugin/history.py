"""The docker's Undo drag / Redo drag: result layers out of the document and back, per document.

Undo takes the result layer Drag would edit out (a copy of it, with its pixels at their own precision and its
masks, and its binding kept for Redo); the next Drag then starts from the layer below, whose binding says which
state it shows. Redo puts the layer back, unless Krita's own undo already did (then nothing is added: never two
layers of one state).
Returns sentences for the panel: (message, error), one of them empty.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from ..protocol.binding import Binding
from ..protocol.texts import next_result_name
from .ports import Canvas, Layer, LayerId


@dataclass
class Undone:
    """A result layer Undo drag took out, to be put back by Redo drag."""

    name: str
    copy: Any  # canvas.copy_layer's value
    binding: Binding
    above: LayerId | None  # the layer it sat on


@dataclass
class LayerHistory:
    redo_stack: dict[str, list[Undone]] = field(default_factory=dict)  # document key -> undone, newest last

    def can_redo(self, canvas: Canvas) -> bool:
        return bool(self.redo_stack.get(canvas.key()))

    def forget_redo(self, canvas: Canvas) -> None:
        """A new drag: what was undone before it cannot come back through Redo."""
        self.redo_stack.pop(canvas.key(), None)

    def undo(self, canvas: Canvas, target: Layer | str) -> tuple[str, str]:
        binding = canvas.bindings().get(target[0]) if isinstance(target, tuple) else None
        if isinstance(target, str) or binding is None or binding.state == 0:
            what = target if isinstance(target, str) else f"\"{target[1]}\" is not a DragGAN drag result"
            return "", f"Nothing to undo: {what}."
        layer, name, _ = target
        undone = Undone(name, canvas.copy_layer(layer), binding, canvas.layer_under(layer))
        self.redo_stack.setdefault(canvas.key(), []).append(undone)
        canvas.remove_layer(layer)
        return f"Took \"{name}\" out of the document; Redo drag puts it back.", ""

    def redo(self, canvas: Canvas) -> tuple[str, str]:
        stack = self.redo_stack.get(canvas.key())
        if not stack:
            return "", "Nothing to redo."
        undone = stack.pop()
        for layer, binding in canvas.bindings().items():  # Krita's own undo may have put it back already
            if binding == undone.binding and canvas.layer_exists(layer) and \
                    canvas.layer_digest(layer) == binding.pixels:
                return f"\"{canvas.layer_name(layer)}\" is in the document already.", ""
        taken = canvas.layer_names()
        name = undone.name if undone.name not in taken else next_result_name(taken)
        above = undone.above if undone.above is not None and canvas.layer_exists(undone.above) else None
        layer = canvas.add_copy(name, undone.copy, above)
        canvas.set_binding(layer, replace(undone.binding, pixels=canvas.layer_digest(layer)))
        return f"Put \"{name}\" back.", ""
