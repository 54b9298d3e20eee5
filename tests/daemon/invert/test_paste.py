"""Paste-back: outside the edit region (selection grown by the feather) the photo is untouched, byte for byte."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from dragd.daemon.invert.paste import grow_steps, paste_back, plan_paste
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
    plan = plan_paste(frame, selection, feather)
    out = paste_back(original, edited, frame, plan)
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
    out = paste_back(original, edited, frame, plan_paste(frame, selection, 4))
    assert (out[40:60, 40:60] == 200).all()
    row = out[50, 30:40, 0].astype(int)  # left of the selection: 0 ... rising to the edge
    assert (np.diff(row) >= 0).all() and row[0] == 0 and 0 < row[-1] < 200


def test_edit_fades_out_before_the_frame_edge_inside_the_photo():
    original = np.zeros((120, 120, 3), dtype=np.uint8)
    frame = square_frame((30, 30, 60, 60), 120, 120, 60, margin=0)  # a 60 px square in the middle, 1:1
    plan = plan_paste(frame, np.ones((120, 120), dtype=bool), 5)
    out = paste_back(original, np.full((60, 60, 3), 250, np.uint8), frame, plan)
    assert (out[:30] == 0).all() and (out[:, :30] == 0).all() and (out[90:] == 0).all()
    assert out[31, 60, 0] < out[40, 60, 0] == 250  # ramps up from the square's edge


def test_grow_steps_counts_distance():
    seed = np.zeros((21, 21), dtype=bool)
    seed[10, 10] = True
    steps = grow_steps(seed, 6)
    assert steps[10, 10] == 0 and steps[10, 14] == 4 and steps[14, 14] <= 6 and steps[0, 0] == 7


def test_bad_paste_inputs_are_refused():
    frame = _frame()
    selection = np.ones((150, 170), dtype=bool)
    plan = plan_paste(frame, selection, 2)
    with pytest.raises(InvertInputError):
        paste_back(np.zeros((10, 10, 3), np.uint8), np.zeros((64, 64, 3), np.uint8), frame, plan)
    with pytest.raises(InvertInputError):
        paste_back(np.zeros((150, 170, 3), np.uint8), np.zeros((32, 32, 3), np.uint8), frame, plan)
    with pytest.raises(InvertInputError):
        plan_paste(frame, np.zeros((150, 170), dtype=bool), 2)
    with pytest.raises(InvertInputError):
        plan_paste(frame, selection, -1)
