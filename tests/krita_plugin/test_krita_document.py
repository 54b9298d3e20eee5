"""What a drag reads from the document and writes into it (krita_plugin/document.py), on the fake Krita; the
controller's tests (test_krita_controller.py, test_krita_live.py) drive the same functions through Drag and Live."""

from __future__ import annotations

import pytest
from dragd.krita_plugin import document
from dragd.krita_plugin.errors import CanvasError
from dragd.protocol import DragOptions, InversionOptions
from krita_fakes import FakeCanvas, FakeWorkspace, seed_image


def test_the_layer_dragged_is_the_active_one_or_the_one_under_the_points_layer() -> None:
    canvas = FakeCanvas()
    photo = canvas.add_user_layer("photo", seed_image(1))
    canvas.active = photo.id
    assert document.drag_target(canvas) == (photo.id, "photo", "paintlayer")
    canvas.ensure_points_layer()  # now active
    assert document.drag_target(canvas) == (photo.id, "photo", "paintlayer")
    canvas.active = canvas.add_user_layer("Title", seed_image(2), "vectorlayer").id
    assert "is a vector layer" in document.drag_target(canvas)


def test_read_start_refuses_with_sentences() -> None:
    with pytest.raises(CanvasError, match="Open a document first"):
        document.read_start(None, DragOptions(), InversionOptions(), {}, 128)
    canvas = FakeCanvas()
    with pytest.raises(CanvasError, match='no "DragGAN points" layer'):
        document.read_start(canvas, DragOptions(), InversionOptions(), {}, 128)


def test_in_front_is_the_active_document() -> None:
    first, second = FakeCanvas(name="a"), FakeCanvas(name="b")
    workspace = FakeWorkspace([first, second])
    assert document.in_front(workspace, second) and not document.in_front(workspace, first)
