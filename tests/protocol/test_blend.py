"""protocol/blend.py: an 8-bit drag change applied to a layer at any precision, weighted by a soft selection."""

from __future__ import annotations

import pytest
from dragd.protocol.blend import Edit, Run, apply_8bit
from dragd.protocol.images import Image


def rgba(*pixels: tuple[int, int, int, int]) -> Image:
    return Image.rgba(len(pixels), 1, bytes(v for p in pixels for v in p))


def test_only_changed_pixels_are_in_runs_and_the_change_is_in_full_scale_units():
    before = rgba((10, 10, 10, 255), (20, 20, 20, 255), (30, 30, 30, 255), (40, 40, 40, 255))
    after = rgba((10, 10, 10, 255), (71, 20, 20, 255), (30, 30, 30, 0), (40, 40, 40, 255))
    runs = list(Edit(5, 7, before, after).runs())
    assert len(runs) == 1
    run = runs[0]
    assert (run.y, run.x, run.width) == (7, 6, 2)
    assert run.deltas == pytest.approx((51 / 255, 0, 0, 0, 0, 0, 0, -1.0))


def test_a_zero_weight_leaves_a_pixel_out_and_a_partial_weight_takes_part_of_the_change():
    before = rgba((0, 0, 0, 255), (0, 0, 0, 255), (0, 0, 0, 255))
    after = rgba((255, 0, 0, 255), (255, 0, 0, 255), (255, 0, 0, 255))
    weight = Image.mask(3, 1, bytes([0, 51, 255]))
    runs = list(Edit(0, 0, before, after, weight).runs())
    assert [(r.x, r.width) for r in runs] == [(1, 2)]
    assert runs[0].deltas[0] == pytest.approx(0.2) and runs[0].deltas[4] == pytest.approx(1.0)


def test_an_all_zero_weight_row_or_an_unchanged_row_yields_nothing():
    before = Image.rgba(2, 2, bytes(16))
    after = Image.rgba(2, 2, bytes(8) + b"\xff" * 8)
    assert list(Edit(0, 0, before, after, Image.mask(2, 2, bytes([255, 255, 0, 0]))).runs()) == []


def test_the_change_is_added_at_the_layers_precision_and_hdr_headroom_is_kept():
    run = Run(0, 0, 2, (0.1, -0.2, 0.0, 0.0, -0.3, 0.05, 0.0, 0.0))
    # 16-bit-like values keep their fraction; a value above 1.0 (HDR) moves by the change and is not clipped;
    # a value in range is never pushed out of it by the change.
    new = run.applied([0.123456, 0.5, 0.25, 1.0, 2.5, 0.98, 0.0, 1.0])
    assert new == pytest.approx([0.223456, 0.3, 0.25, 1.0, 2.2, 1.0, 0.0, 1.0])
    with pytest.raises(ValueError, match="channel values"):
        run.applied([0.0] * 4)


def test_on_8_bit_layers_it_is_the_rounded_weighted_blend():
    layer = Image.rgba(4, 2, bytes(range(32)))
    patch_before = layer.crop(1, 0, 2, 2)
    patch_after = Image.filled("RGBA", 2, 2, (200, 100, 0, 255))
    weight = Image.mask(2, 2, bytes([255, 128, 0, 255]))
    out = apply_8bit(layer, Edit(1, 0, patch_before, patch_after, weight))
    assert out.pixel(0, 0) == layer.pixel(0, 0) and out.pixel(3, 1) == layer.pixel(3, 1)  # outside the edit
    assert out.pixel(1, 0) == (200, 100, 0, 255)  # weight 255
    assert out.pixel(2, 0) == tuple(round(o + 128 / 255 * (n - o)) for o, n in zip(layer.pixel(2, 0),
                                                                                  (200, 100, 0, 255), strict=True))
    assert out.pixel(1, 1) == layer.pixel(1, 1)  # weight 0
    assert out.pixel(2, 1) == (200, 100, 0, 255)


def test_mismatched_images_are_refused():
    with pytest.raises(ValueError, match="two RGBA images of one size"):
        Edit(0, 0, Image.rgba(2, 1, bytes(8)), Image.rgba(1, 1, bytes(4)))
    with pytest.raises(ValueError, match="weight"):
        Edit(0, 0, Image.rgba(2, 1, bytes(8)), Image.rgba(2, 1, bytes(8)), Image.mask(1, 1, b"\0"))
    with pytest.raises(ValueError, match="outside"):
        apply_8bit(Image.rgba(1, 1, bytes(4)), Edit(1, 0, Image.rgba(1, 1, bytes(4)), Image.rgba(1, 1, b"\1" * 4)))
