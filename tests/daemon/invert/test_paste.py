"""Paste-back: outside the edit region (selection grown by the feather) the photo is untouched, byte for byte.

These tests paste the generator's picture ("reconstruction" mode), which makes the weights visible; the default
"carry" mode is tested in test_motion.py and through the pipeline."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from dragd.daemon.invert.paste import distance_to, grow_soft, paste_back, plan_paste
from dragd.daemon.invert.region import Frame, InvertInputError, square_frame


def _frame(resolution: int = 64) -> Frame:
    angle, scale = -0.4, 0.6
    c, s = np.cos(angle) * scale, np.sin(angle) * scale
    linear = np.array([[c, -s], [s, c]])
    offset = (resolution - 1) / 2 - linear @ np.array([80.0, 70.0])
    return Frame(np.hstack([linear, offset[:, None]]), resolution)


def _within(selection: np.ndarray, reach: int) -> np.ndarray:
    """Pixels at most `reach` pixels from the selection in x and in y."""
    grown = F.max_pool2d(torch.from_numpy(selection.astype(np.float32))[None, None], 2 * reach + 1, 1, reach)
    return grown[0, 0].numpy() > 0


@pytest.mark.parametrize("feather", [0, 3, 9])
def test_pixels_outside_the_grown_selection_and_alpha_are_byte_identical(feather):
    rng = np.random.default_rng(feather)
    original = rng.integers(0, 256, (150, 170, 4), dtype=np.uint8)
    selection = np.zeros((150, 170), dtype=bool)
    selection[50:90, 60:80] = True
    selection[95, 70] = True  # a lone pixel
    frame = _frame()
    edited = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    plan = plan_paste(frame, selection, feather, "reconstruction")
    out = paste_back(original, edited, edited, frame, plan)
    assert out.shape == original.shape and out.dtype == np.uint8
    outside = ~_within(selection, feather)
    assert np.array_equal(out[outside], original[outside])
    assert np.array_equal(out[:, :, 3], original[:, :, 3])
    changed = (out[:, :, :3] != original[:, :, :3]).any(axis=2)
    assert changed[selection].mean() > 0.9  # the edit did land


def test_selection_gets_the_full_edit_and_the_feather_falls_off():
    original = np.zeros((100, 100, 3), dtype=np.uint8)
    selection = np.zeros((100, 100), dtype=bool)
    selection[40:60, 40:60] = True
    frame = square_frame((0, 0, 100, 100), 100, 100, 100, margin=0)  # identity: no resampling
    edited = np.full((100, 100, 3), 200, dtype=np.uint8)
    out = paste_back(original, edited, edited, frame, plan_paste(frame, selection, 4, "reconstruction"))
    assert (out[40:60, 40:60] == 200).all()
    row = out[50, 30:40, 0].astype(int)  # left of the selection: 0 ... rising to the edge
    assert (np.diff(row) >= 0).all() and row[0] == 0 and 0 < row[-1] < 200


def test_edit_fades_out_before_the_frame_edge_inside_the_photo():
    original = np.zeros((120, 120, 3), dtype=np.uint8)
    frame = square_frame((30, 30, 60, 60), 120, 120, 60, margin=0)  # a 60 px square in the middle, 1:1
    plan = plan_paste(frame, np.ones((120, 120), dtype=bool), 5, "reconstruction")
    edited = np.full((60, 60, 3), 250, np.uint8)
    out = paste_back(original, edited, edited, frame, plan)
    assert (out[:30] == 0).all() and (out[:, :30] == 0).all() and (out[90:] == 0).all()
    assert out[31, 60, 0] < out[40, 60, 0] == 250  # ramps up from the square's edge


def test_distance_to_is_euclidean_and_handles_empty_and_full_seeds():
    seed = np.zeros((21, 21), dtype=bool)
    seed[10, 10] = True
    distance = distance_to(seed)
    assert distance[10, 10] == 0 and distance[10, 14] == pytest.approx(4) and distance[14, 14] == pytest.approx(
        32 ** 0.5, abs=1e-3)
    assert np.isinf(distance_to(np.zeros((5, 5), bool))).all() and not distance_to(np.ones((5, 5), bool)).any()


def test_a_feathered_selection_weights_the_edit_by_its_softness():
    selection = np.zeros((60, 60), dtype=np.float32)
    selection[20:40, 20:40] = 1.0
    selection[20:40, 10:20] = np.linspace(0.1, 1.0, 10, dtype=np.float32)  # a soft left edge
    grown = grow_soft(selection, 4)
    assert (grown[20:40, 20:40] == 1).all()
    assert np.allclose(grown[30, 10:20], selection[30, 10:20], atol=1 / 16)  # its own softness, not binarised
    assert 0 < grown[30, 8] < grown[30, 10] and grown[30, 5] == 0  # and a feather beyond, falling to 0
    frame = square_frame((0, 0, 60, 60), 60, 60, 60, margin=0)
    original = np.zeros((60, 60, 3), dtype=np.uint8)
    edited = np.full((60, 60, 3), 200, np.uint8)
    out = paste_back(original, edited, edited, frame, plan_paste(frame, selection, 4, "reconstruction"))
    assert 15 < out[30, 10, 0] < 50 and out[30, 15, 0] == pytest.approx(200 * selection[30, 15], abs=14)


def test_planning_a_paste_on_a_large_photo_is_quick():
    """A 6000x4000 photo with a face-sized selection and a plain frame over the whole photo (the slowest case:
    a 240 px feather over the whole photo) plans in a fraction of a second (distance transforms; the iterated
    dilation this replaced took minutes). Not timed here: the suite's run time shows it."""
    selection = np.zeros((4000, 6000), dtype=bool)
    selection[1500:2600, 2500:3400] = True
    frame = square_frame((0, 0, 6000, 6000), 6000, 4000, 128, margin=0)
    plan = plan_paste(frame, selection, 240)
    assert plan.box == (2260, 1260, 1380, 1580)
    assert plan.alpha[300, 300] == 1 and plan.alpha[0, 0] == 0


def test_bad_paste_inputs_are_refused():
    frame = _frame()
    selection = np.ones((150, 170), dtype=bool)
    plan = plan_paste(frame, selection, 2)
    model = np.zeros((64, 64, 3), np.uint8)
    with pytest.raises(InvertInputError):
        paste_back(np.zeros((10, 10, 3), np.uint8), model, model, frame, plan)
    with pytest.raises(InvertInputError):
        paste_back(np.zeros((150, 170, 3), np.uint8), model, np.zeros((32, 32, 3), np.uint8), frame, plan)
    with pytest.raises(InvertInputError):
        plan_paste(frame, selection, 2, "blend")
    with pytest.raises(InvertInputError):
        plan_paste(frame, np.zeros((150, 170), dtype=bool), 2)
    with pytest.raises(InvertInputError):
        plan_paste(frame, selection, -1)
