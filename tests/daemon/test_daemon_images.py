"""Mask files: light may move, dark stays, and transparent pixels stay whatever colour they hide."""

from __future__ import annotations

import numpy as np
import pytest
from dragd.daemon.images import ImageFileError, load_mask
from PIL import Image


def test_grey_mask_light_moves_dark_stays(tmp_path):
    grey = np.zeros((8, 8), np.uint8)
    grey[2:5, 3:6] = 200
    Image.fromarray(grey).save(tmp_path / "m.png")
    assert np.array_equal(load_mask(tmp_path / "m.png", 8, 8), grey >= 128)


def test_transparent_pixels_are_fixed_whatever_colour_they_hide(tmp_path):
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[:, :, :3] = 255  # white everywhere, as editors often leave unpainted pixels
    rgba[2:5, 3:6, 3] = 255  # only this square is painted (opaque)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "m.png")
    movable = load_mask(tmp_path / "m.png", 8, 8)
    expected = np.zeros((8, 8), bool)
    expected[2:5, 3:6] = True
    assert np.array_equal(movable, expected)
    # Grey with alpha (LA) and a palette image with a transparent colour follow the same rule.
    Image.fromarray(rgba, "RGBA").convert("LA").save(tmp_path / "la.png")
    assert np.array_equal(load_mask(tmp_path / "la.png", 8, 8), expected)
    palette = Image.fromarray(np.where(expected, 1, 0).astype(np.uint8), "P")
    palette.putpalette([255, 255, 255, 255, 255, 255] + [0] * 762)
    palette.save(tmp_path / "p.png", transparency=0)
    assert np.array_equal(load_mask(tmp_path / "p.png", 8, 8), expected)


def test_a_black_square_on_opaque_white_still_means_white_moves(tmp_path):
    rgba = np.full((8, 8, 4), 255, np.uint8)
    rgba[0:2, 0:2, :3] = 0
    Image.fromarray(rgba, "RGBA").save(tmp_path / "m.png")
    movable = load_mask(tmp_path / "m.png", 8, 8)
    assert not movable[0:2, 0:2].any() and movable.sum() == 64 - 4


def test_wrong_size_is_refused(tmp_path):
    Image.new("L", (4, 4), 255).save(tmp_path / "m.png")
    with pytest.raises(ImageFileError, match="the image is 8x8"):
        load_mask(tmp_path / "m.png", 8, 8)
