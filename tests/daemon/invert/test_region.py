"""Framing a region, and moving pixels between the photo and the model's grid."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from dragd.daemon.invert.region import (
    Frame,
    InvertInputError,
    check_rect,
    mask_bbox,
    mask_to_model,
    square_frame,
    warp_to_model,
    warp_to_photo,
)
from dragd.daemon.models.stylegan2 import to_uint8_image


def _rotated_frame(resolution: int = 64) -> Frame:
    angle, scale = 0.3, 0.5
    c, s = np.cos(angle) * scale, np.sin(angle) * scale
    linear = np.array([[c, -s], [s, c]])
    centre = np.array([100.0, 90.0])
    offset = (resolution - 1) / 2 - linear @ centre
    return Frame(np.hstack([linear, offset[:, None]]), resolution)


def test_square_frame_centres_the_region_and_grows_it_by_the_margin():
    frame = square_frame((100, 50, 60, 40), 400, 300, 128, margin=0.1)
    centre = frame.to_model(np.array([[100 + 29.5, 50 + 19.5]]))[0]
    assert np.allclose(centre, [63.5, 63.5])
    assert frame.scale == pytest.approx(128 / 72)  # 60 px grown by 10 % on each side


def test_square_frame_stays_inside_the_photo_and_covers_it_when_whole():
    near_edge = square_frame((0, 0, 50, 50), 400, 300, 64, margin=0.2)
    assert near_edge.footprint(400, 300)[:2] == (0, 0)  # shifted, not cut off
    assert np.allclose(near_edge.to_photo(np.array([[-0.5, -0.5]])), [[-0.5, -0.5]])
    whole = square_frame((0, 0, 128, 128), 128, 128, 128, margin=0.1)
    assert np.allclose(whole.matrix, [[1, 0, 0], [0, 1, 0]])  # the whole square photo is the identity
    wide = square_frame((0, 0, 400, 300), 400, 300, 64)
    assert np.allclose(wide.to_photo(np.array([[31.5, 31.5]])), [[199.5, 149.5]])  # centred, padded above/below


def test_frame_inverse_round_trips_points():
    frame = _rotated_frame()
    points = np.random.default_rng(0).uniform(0, 200, (50, 2))
    assert np.allclose(frame.to_photo(frame.to_model(points)), points, atol=1e-9)


def test_identity_warp_returns_the_photo_exactly():
    rgb = np.random.default_rng(1).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    frame = square_frame((0, 0, 32, 32), 32, 32, 32, margin=0)
    assert np.array_equal(to_uint8_image(warp_to_model(rgb, frame)), rgb)
    assert np.array_equal(np.rint(warp_to_photo(rgb, frame, (0, 0, 32, 32))).astype(np.uint8), rgb)


def test_warp_round_trip_of_a_smooth_image_through_a_rotated_frame():
    ys, xs = np.mgrid[0:200, 0:200]
    smooth = np.stack([127 + 100 * np.sin(xs / 23), 127 + 100 * np.cos(ys / 19), (xs + ys) / 2], axis=2)
    rgb = smooth.clip(0, 255).astype(np.uint8)
    frame = _rotated_frame(64)
    model = to_uint8_image(warp_to_model(rgb, frame))
    box = (70, 60, 60, 60)  # well inside the frame's footprint
    back = warp_to_photo(model, frame, box)
    error = np.abs(back - rgb[60:120, 70:130].astype(np.float64))
    assert error.mean() < 1.5 and error.max() < 8


def test_downscaling_warp_averages_instead_of_aliasing():
    stripes = np.zeros((256, 256, 3), dtype=np.uint8)
    stripes[:, ::2] = 255  # one-pixel stripes: a 4x smaller view is uniform grey
    frame = square_frame((0, 0, 256, 256), 256, 256, 64, margin=0)
    model = to_uint8_image(warp_to_model(stripes, frame))
    assert np.abs(model.astype(int) - 128).max() <= 1


def test_mask_helpers():
    mask = np.zeros((20, 30), dtype=bool)
    mask[5:9, 10:20] = True
    assert mask_bbox(mask) == (10, 5, 10, 4)
    assert mask_bbox(np.zeros((3, 3))) is None
    frame = square_frame((0, 0, 30, 20), 30, 20, 30, margin=0)
    on_model = mask_to_model(mask, frame)
    assert on_model.shape == (30, 30) and on_model.sum() == mask.sum()


@pytest.mark.parametrize("rect", [(0, 0, 0, 5), (-1, 0, 5, 5), (10, 10, 30, 5)])
def test_bad_regions_are_refused(rect):
    with pytest.raises(InvertInputError):
        check_rect(rect, 32, 32)


def test_bad_photos_are_refused():
    with pytest.raises(InvertInputError):
        warp_to_model(np.zeros((4, 4, 3), np.uint8), square_frame((0, 0, 4, 4), 4, 4, 4))
    with pytest.raises(InvertInputError):
        warp_to_model(np.zeros((16, 16), np.uint8), square_frame((0, 0, 16, 16), 16, 16, 16))
    assert torch.is_tensor(warp_to_model(np.zeros((16, 16, 4), np.uint8), square_frame((0, 0, 16, 16), 16, 16, 8)))
