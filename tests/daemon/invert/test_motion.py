"""Carrying a photo's own pixels along an edit's motion: nothing moves when nothing changed, a translation of the
generator's image translates the photo's pixels with their detail, and a photo 4x the model's square keeps its
resolution (where pasting the generator's picture would leave upsampled mush)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from dragd.daemon.invert.motion import carry, content_positions, estimate_motion, sharpness
from dragd.daemon.invert.paste import paste_back, plan_paste
from dragd.daemon.invert.region import square_frame, warp_to_model
from dragd.daemon.models.stylegan2 import to_uint8_image

SCALE = 4  # photo pixels per model pixel
MODEL = 64


def _textured_photo(side: int, seed: int = 0) -> np.ndarray:
    """Smooth shapes the model can see plus grain finer than a model pixel (which it cannot)."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:side, 0:side]
    base = 128 + 70 * np.sin(xs / 11.0) * np.cos(ys / 15.0)
    grain = cv2.GaussianBlur(rng.normal(0, 25, (side, side)).astype(np.float32), (0, 0), 0.8)
    return np.clip(np.dstack([base + grain, 0.8 * base + grain, 255 - base + grain]), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def scene():
    photo = _textured_photo(MODEL * SCALE)
    frame = square_frame((0, 0, photo.shape[1], photo.shape[0]), photo.shape[1], photo.shape[0], MODEL, margin=0)
    g0 = to_uint8_image(warp_to_model(photo, frame))
    return photo, frame, g0


def test_an_edit_that_changes_nothing_moves_nothing(scene):
    photo, frame, g0 = scene
    motion = estimate_motion(g0, g0.copy())
    assert motion.still
    box = (10, 20, 200, 150)
    assert np.array_equal(carry(photo, g0, g0, frame, box), photo[20:170, 10:210].astype(np.float32))


def test_a_change_below_the_agreement_level_moves_nothing(scene):
    photo, frame, g0 = scene
    noisy = g0.copy()
    noisy[::3, ::5] ^= 1  # float noise of one level at scattered pixels
    motion = estimate_motion(g0, noisy)
    assert not motion.flow.any() and not motion.residual.any() and not motion.occlusion.any()


@pytest.mark.parametrize("shift", [(3, 2), (-2, 1)])
def test_a_translation_of_the_generators_image_translates_the_photos_pixels(scene, shift):
    photo, frame, g0 = scene
    dx, dy = shift
    g1 = np.roll(g0, (dy, dx), axis=(0, 1))  # every model pixel's content moved by (dx, dy)
    selection = np.zeros(photo.shape[:2], dtype=bool)
    selection[40:216, 40:216] = True
    plan = plan_paste(frame, selection, 4)
    out = paste_back(photo, g0, g1, frame, plan)
    assert out.shape == photo.shape  # full resolution
    inner = (slice(64, 192), slice(64, 192))
    expected = np.roll(photo, (dy * SCALE, dx * SCALE), axis=(0, 1))[inner]
    error = np.abs(out[inner].astype(np.float32) - expected).mean()
    assert error < 1.5  # measured 0.2 levels (reconstruction paste: 5.7): the photo's own pixels, moved
    # The finest detail survives (the photo's grain lies above the model's Nyquist frequency).
    ratio = sharpness(out[inner]) / sharpness(photo[inner])
    assert ratio > 0.9
    # Pasting the generator's picture instead loses it: what this paste exists to avoid.
    from dataclasses import replace

    pasted = paste_back(photo, g0, g1, frame, replace(plan, mode="reconstruction"))
    assert sharpness(pasted[inner]) / sharpness(photo[inner]) < 0.2
    assert np.abs(pasted[inner].astype(np.float32) - expected).mean() > 3 * error


def test_newly_visible_content_comes_from_the_generator(scene):
    photo, frame, g0 = scene
    g1 = g0.copy()
    g1[24:40, 24:40] = (250, 250, 40)  # something appears that was nowhere before (teeth in an opened mouth)
    out = carry(photo, g0, g1, frame, (0, 0, photo.shape[1], photo.shape[0]))
    patch = out[26 * SCALE:38 * SCALE, 26 * SCALE:38 * SCALE]
    assert np.abs(patch.mean(axis=(0, 1)) - (250, 250, 40)).max() < 20
    far = (slice(0, 12 * SCALE), slice(0, 12 * SCALE))  # untouched content far away stays the photo's
    assert np.abs(out[far] - photo[far]).max() <= 1


def test_bad_model_images_are_refused(scene):
    _, _, g0 = scene
    with pytest.raises(ValueError):
        estimate_motion(g0, g0[:32, :32])


@pytest.mark.parametrize("shift", [(3, 2), (-2, 1)])
def test_content_positions_measure_where_the_photos_content_went(scene, shift):
    photo, frame, g0 = scene
    dx, dy = shift
    motion = estimate_motion(g0, np.roll(g0, (dy, dx), axis=(0, 1)))
    points = [(128.0, 128.0), (100.0, 150.0)]
    moved = content_positions(motion, frame, points)
    for (x, y), (mx, my) in zip(points, moved, strict=True):  # measured within 0.05 px
        assert abs(mx - (x + dx * SCALE)) < 0.2 and abs(my - (y + dy * SCALE)) < 0.2
    assert content_positions(estimate_motion(g0, g0.copy()), frame, points) == points  # nothing moved


def test_content_far_from_a_local_change_stays_where_it_was(scene):
    photo, frame, g0 = scene
    g1 = g0.copy()
    g1[24:40, 24:40] = (250, 250, 40)
    (x, y), = content_positions(estimate_motion(g0, g1), frame, [(20.0, 230.0)])
    assert (x, y) == (20.0, 230.0)


def test_a_16_bit_photo_is_carried_at_its_own_precision(scene):
    """The carry reads the file's own samples at the sources: moved 16-bit content keeps its low bits."""
    from dragd.daemon.images import Photo, to_8_bits
    from dragd.daemon.invert.paste import paste_carried

    photo, frame, g0 = scene
    side = photo.shape[0]
    xs = np.arange(side)[None, :, None]
    deep = np.clip(cv2.GaussianBlur(photo.astype(np.float64) * 257, (0, 0), 1.0) + 200 * np.sin(xs / 9.0), 0,
                   65535).astype(np.uint16)  # detail below one 8-bit level
    working = to_8_bits(deep)
    file = Photo(deep, working, False, None, ())
    g0 = to_uint8_image(warp_to_model(working, frame))
    dx, dy = 3, 2
    selection = np.zeros((side, side), dtype=bool)
    selection[40:216, 40:216] = True
    plan = plan_paste(frame, selection, 4)
    edited, carried = paste_carried(working, g0, np.roll(g0, (dy, dx), axis=(0, 1)), frame, plan)
    result = file.result(edited, (plan.box, plan.alpha), carried).astype(np.float64)
    at_8_bits = file.result(edited, (plan.box, plan.alpha)).astype(np.float64)  # the working copy's 8 bits
    inner = (slice(64, 192), slice(64, 192))
    expected = np.roll(deep, (dy * SCALE, dx * SCALE), axis=(0, 1))[inner].astype(np.float64)
    error, coarse = np.abs(result[inner] - expected).mean(), np.abs(at_8_bits[inner] - expected).mean()
    assert error < 0.6 * coarse  # measured 29.6 against 67.8 (16-bit units)
    assert (result[inner] % 257 == 0).mean() < 0.05 < 0.95 < (at_8_bits[inner] % 257 == 0).mean()


def test_an_8_bit_photos_file_result_is_the_paste_itself(scene):
    """For an 8-bit sRGB file, carrying the file's own samples gives exactly the working copy's paste: the file
    written is what the before/after picture shows, soft selection and occlusion included."""
    from dragd.daemon.images import Photo
    from dragd.daemon.invert.paste import paste_carried

    photo, frame, g0 = scene
    g1 = g0.copy()
    g1[24:40, 24:40] = (250, 250, 40)
    g1 = np.roll(g1, (1, 2), axis=(0, 1))
    selection = np.zeros(photo.shape[:2], np.float32)
    selection[40:216, 40:216] = 1
    selection[30:40, 40:216] = 0.5
    plan = plan_paste(frame, selection, 6)
    edited, carried = paste_carried(photo, g0, g1, frame, plan)
    assert carried is not None and carried.moved.any() and (carried.kept < 1).any()
    assert np.array_equal(Photo(photo, photo, False, None, ()).result(edited, (plan.box, plan.alpha), carried),
                          edited)
