"""Photos read as every viewer shows them, and results written at the photo's own depth and in its own space;
mask files (light may move, dark stays, transparent pixels stay whatever colour they hide).

Each kind of photo file is built here (tests/photo_fixtures.py) and checked for the working copy the model gets and
for the result: equal to the file outside the edit, the edit carried back inside it.
"""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
import pytest
from dragd.daemon.images import (
    ImageFileError,
    Photo,
    Weight,
    is_grey,
    load_mask,
    luma,
    read_photo,
    to_8_bits,
    upright,
    write_photo,
)
from photo_fixtures import PHOTOS, gradient, matrix_profile, matrix_to_srgb, png16, save_with_orientation
from PIL import Image, ImageOps

SKIN = (220, 170, 140)
BOX = (slice(10, 30), slice(20, 50))  # rows, columns of the edit in the 60 x 80 test images


def edited(photo: Photo, colour=SKIN) -> np.ndarray:
    """The working copy with the edit box painted `colour` (as a paste-back of a skin-coloured face would)."""
    out = photo.working.copy()
    out[BOX[0], BOX[1], :3] = colour
    return out


def outside_box(shape: tuple[int, ...]) -> np.ndarray:
    keep = np.ones(shape[:2], bool)
    keep[BOX] = False
    return keep


def astronaut(size: tuple[int, int] = (80, 60)) -> Image.Image:
    with Image.open(PHOTOS / "astronaut.png") as im:
        return im.convert("RGB").resize(size, Image.BICUBIC)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_upright_turns_samples_as_pillow_does(tmp_path, orientation):
    pixels = np.random.default_rng(orientation).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(pixels).save(tmp_path / "o.png", exif=exif)
    with Image.open(tmp_path / "o.png") as im:
        shown = np.asarray(ImageOps.exif_transpose(im))
    assert np.array_equal(upright(pixels, orientation), shown)
    for channels in (1, 2, 4):  # grey, grey + alpha, RGBA; and 16 bits
        deep = np.random.default_rng(channels).integers(0, 65536, (5, 7, channels), dtype=np.uint16)
        turned = upright(deep, orientation)
        assert turned.shape == (*shown.shape[:2], channels)
        assert np.array_equal(turned[..., -1], upright(deep[..., -1:], orientation)[..., 0])
        assert all(np.array_equal(upright(deep[..., c], orientation), turned[..., c]) for c in range(channels))


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_phone_jpeg_is_read_upright(tmp_path, orientation):
    shown = astronaut()
    path = save_with_orientation(shown, orientation, tmp_path / "phone.jpg", quality=95)
    with Image.open(path) as stored:
        assert stored.size == ((60, 80) if orientation in (6, 8) else (80, 60))  # as stored: turned
    photo = read_photo(path)
    assert photo.pixels.shape == (60, 80, 3) and photo.working.shape == (60, 80, 3)
    difference = np.abs(photo.working.astype(int) - np.asarray(shown, dtype=int))
    assert difference.mean() < 4  # JPEG's loss only; a turned image differs by ~50 levels on average
    assert any("EXIF orientation" in note for note in photo.notes)


def test_icc_profile_is_converted_to_srgb_and_kept_for_the_result(tmp_path):
    icc = matrix_profile("test Display P3, gamma 2.2")
    stored = np.asarray(astronaut())
    Image.fromarray(stored).save(tmp_path / "p3.png", icc_profile=icc)
    photo = read_photo(tmp_path / "p3.png")
    assert np.array_equal(photo.pixels, stored) and photo.icc == icc
    assert np.abs(photo.working - matrix_to_srgb(stored)).max() <= 2  # what a colour-managed viewer shows
    assert np.abs(photo.working.astype(int) - stored).max() > 10  # and not the raw samples
    assert any("Display P3" in note for note in photo.notes)

    edit = edited(photo, colour=(200, 100, 100))
    taken_over = ((BOX[1].start, BOX[0].start, 30, 20), np.ones((20, 30)))  # paste weight 1 on the box
    result = photo.result(edit, taken_over)
    keep = outside_box(result.shape)
    assert np.array_equal(result[keep], stored[keep])
    # Inside, the sRGB colour went back into P3: shown through the profile, it is the sRGB colour again.
    assert np.abs(matrix_to_srgb(result[BOX]) - (200, 100, 100)).max() <= 2
    # Without weights, the file keeps what sRGB could not hold of it, plus the change.
    plus_change = photo.result(edit).astype(int)
    assert np.array_equal(plus_change[keep], stored[keep])
    assert np.abs(plus_change[BOX] - result[BOX]).max() > 5
    write_photo(result, tmp_path / "out.png", photo.icc)
    with Image.open(tmp_path / "out.png") as out:
        assert out.info["icc_profile"] == icc and np.array_equal(np.asarray(out), result)


def test_a_broken_profile_is_said_and_ignored(tmp_path):
    Image.fromarray(np.asarray(astronaut())).save(tmp_path / "bad.png", icc_profile=b"not a profile at all")
    photo = read_photo(tmp_path / "bad.png")
    assert photo.icc is None and np.array_equal(photo.working, photo.pixels)
    assert any("profile cannot be used" in note for note in photo.notes)


def _grey16(tmp_path: Path, suffix: str) -> tuple[Path, np.ndarray]:
    grey = gradient(60, 80)[..., :1]
    path = tmp_path / f"grey16{suffix}"
    if suffix == ".png":
        png16(path, grey)
    else:
        Image.fromarray(grey[..., 0]).save(path)  # Pillow writes I;16 TIFF
    return path, grey


def _colour16(tmp_path: Path, suffix: str, channels: int = 3) -> tuple[Path, np.ndarray]:
    pixels = gradient(60, 80)
    if channels == 4:
        pixels = np.concatenate([pixels, np.full((60, 80, 1), 40000, np.uint16)], axis=2)
    path = tmp_path / f"colour16{suffix}"
    if suffix == ".png":
        png16(path, pixels)
    else:
        assert cv2.imwrite(str(path), pixels[..., [2, 1, 0, 3][:channels]])
    return path, pixels


@pytest.mark.parametrize("make", [_grey16, _colour16])
@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16_bit_is_scaled_with_rounding_and_kept_whole(tmp_path, make, suffix):
    path, stored = make(tmp_path, suffix)
    photo = read_photo(path)
    assert photo.pixels.dtype == np.uint16 and np.array_equal(photo.pixels, stored)
    expected = np.floor(stored / 257 + 0.5).astype(np.uint8)  # rounded; 65535 -> 255: nothing clipped
    assert np.array_equal(photo.working, np.repeat(expected, 3 // stored.shape[2], axis=2))
    assert photo.working.max() == 255 and (photo.working == 255).mean() < 0.05  # clipping saturates ~all

    result = photo.result(edited(photo, colour=(128, 128, 128)))
    assert result.dtype == np.uint16 and result.shape == stored.shape
    keep = outside_box(stored.shape)
    assert np.array_equal(result[keep], stored[keep])  # at 16 bits, not 8
    # Inside: the 16-bit sample plus the 8-bit change times 257, so the sub-8-bit detail survives the edit.
    change = (128 - luma(photo.working[BOX]) if stored.shape[2] == 1 else 128 - photo.working[BOX].astype(float))
    expected_inside = np.clip(stored[BOX].astype(float) + change.reshape(stored[BOX].shape) * 257, 0, 65535)
    assert np.abs(result[BOX] - expected_inside).max() <= 0.5
    write_photo(result, tmp_path / "out.png")
    again = read_photo(tmp_path / "out.png")
    assert np.array_equal(again.pixels, result)


def test_to_8_bits_rounds_every_value():
    every = np.arange(65536, dtype=np.uint16)
    assert np.array_equal(to_8_bits(every), np.floor(every / 257 + 0.5))


def test_grey_photo_gives_grey_result(tmp_path):
    grey = np.asarray(astronaut().convert("L"))
    Image.fromarray(grey).save(tmp_path / "grey.png")
    photo = read_photo(tmp_path / "grey.png")
    assert photo.grey and photo.pixels.shape == (60, 80, 1)
    assert np.array_equal(photo.working, np.repeat(grey[..., None], 3, axis=2))  # the model sees grey as RGB
    result = photo.result(edited(photo))
    assert result.shape == (60, 80, 1)
    assert np.array_equal(result[outside_box(result.shape)], photo.pixels[outside_box(result.shape)])
    assert (result[BOX] == round(luma(np.array(SKIN)))).all()  # the skin colour's grey, no colour anywhere
    write_photo(result, tmp_path / "out.png")
    with Image.open(tmp_path / "out.png") as out:
        assert out.mode == "L"


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_an_rgb_file_of_neutral_pixels_stays_rgb(tmp_path, suffix):
    """The file's kind decides, not its pixels: an RGB file whose pixels are all neutral is RGB, its edit keeps
    its colour, and it is written back as RGB."""
    neutral = np.asarray(astronaut().convert("L").convert("RGB"))
    Image.fromarray(neutral).save(tmp_path / f"neutral{suffix}", quality=95)
    photo = read_photo(tmp_path / f"neutral{suffix}")
    assert not photo.grey and photo.pixels.shape == (60, 80, 3) and photo.describe() == "80x60 8-bit RGB"
    assert not any("grey" in note for note in photo.notes)
    result = photo.result(edited(photo))
    assert (result[BOX] == SKIN).all()  # the edit's colour, not its grey
    keep = outside_box(result.shape)
    assert np.array_equal(result[keep], photo.pixels[keep])
    write_photo(result, tmp_path / "out.png")
    with Image.open(tmp_path / "out.png") as out:
        assert out.mode == "RGB"
    assert not read_photo(PHOTOS / "chelsea.png").grey


def test_palette_is_expanded_and_written_as_rgb(tmp_path):
    palette = astronaut().quantize(16)
    palette.save(tmp_path / "palette.png")
    photo = read_photo(tmp_path / "palette.png")
    assert np.array_equal(photo.working, np.asarray(palette.convert("RGB")))
    result = photo.result(edited(photo))
    assert result.shape == (60, 80, 3) and (result[BOX] == SKIN).all()
    assert np.array_equal(result[outside_box(result.shape)], photo.working[outside_box(result.shape)])
    assert any("palette" in note for note in photo.notes)


def test_palette_with_transparency_keeps_it(tmp_path):
    palette = astronaut().quantize(16)
    palette.info["transparency"] = 0
    palette.save(tmp_path / "palette.png", transparency=0)
    photo = read_photo(tmp_path / "palette.png")
    assert photo.working.shape == (60, 80, 4)
    assert np.array_equal(photo.working[..., 3], np.asarray(palette.convert("RGBA"))[..., 3])


def test_cmyk_jpeg_is_read_as_srgb(tmp_path):
    cmyk = astronaut().convert("CMYK")
    cmyk.save(tmp_path / "print.jpg", quality=95)
    photo = read_photo(tmp_path / "print.jpg")
    with Image.open(tmp_path / "print.jpg") as stored:
        assert stored.mode == "CMYK"
        assert np.array_equal(photo.working, np.asarray(stored.convert("RGB")))
    assert np.abs(photo.working.astype(int) - np.asarray(astronaut(), dtype=int)).mean() < 4
    assert photo.pixels.shape == (60, 80, 3) and any("CMYK" in note for note in photo.notes)


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_alpha_is_kept_exactly(tmp_path, mode):
    im = astronaut().convert(mode)
    alpha = np.tile(np.linspace(0, 255, 80).astype(np.uint8), (60, 1))
    im.putalpha(Image.fromarray(alpha))
    im.save(tmp_path / "alpha.png")
    photo = read_photo(tmp_path / "alpha.png")
    assert photo.working.shape == (60, 80, 4) and np.array_equal(photo.working[..., 3], alpha)
    result = photo.result(edited(photo))
    assert np.array_equal(result[..., -1], alpha)  # in the edit box too
    write_photo(result, tmp_path / "out.png")
    with Image.open(tmp_path / "out.png") as out:
        assert out.mode == mode


def test_16_bit_alpha_and_profile_survive_the_round_trip(tmp_path):
    path, stored = _colour16(tmp_path, ".png", channels=4)
    photo = read_photo(path)
    result = photo.result(edited(photo))
    assert np.array_equal(result[..., 3], stored[..., 3])
    icc = matrix_profile("test Display P3, gamma 2.2")
    write_photo(result, tmp_path / "out.png", icc)
    with Image.open(tmp_path / "out.png") as out:
        assert out.info["icc_profile"] == icc
    assert np.array_equal(read_photo(tmp_path / "out.png").pixels, result)


def test_16_bit_grey_with_alpha_is_written_as_16_bit_rgba(tmp_path):
    pixels = np.concatenate([gradient(60, 80)[..., :1], np.full((60, 80, 1), 30000, np.uint16)], axis=2)
    photo = read_photo(png16(tmp_path / "ga16.png", pixels))
    assert photo.grey and np.array_equal(photo.pixels, pixels)
    write_photo(photo.result(edited(photo)), tmp_path / "out.png")
    again = read_photo(tmp_path / "out.png").pixels
    assert again.dtype == np.uint16 and again.shape == (60, 80, 4)
    keep = outside_box(again.shape)
    assert np.array_equal(again[keep][:, [0, 3]], pixels[keep]) and (again[..., 0] == again[..., 2]).all()


def test_an_unchanged_edit_gives_the_file_back(tmp_path):
    path, stored = _colour16(tmp_path, ".tif")
    photo = read_photo(path)
    assert np.array_equal(photo.result(photo.working.copy()), stored)


def test_unreadable_files_are_one_clear_error(tmp_path):
    (tmp_path / "text.png").write_text("not an image")
    with pytest.raises(ImageFileError, match="cannot read image"):
        read_photo(tmp_path / "text.png")
    with pytest.raises(ImageFileError, match="no such image"):
        read_photo(tmp_path / "missing.png")
    Image.fromarray(np.ones((4, 4), np.float32)).save(tmp_path / "float.tif")
    with pytest.raises(ImageFileError, match="floating-point"):
        read_photo(tmp_path / "float.tif")
    truncated = io.BytesIO()
    astronaut().save(truncated, "PNG")
    (tmp_path / "cut.png").write_bytes(truncated.getvalue()[:300])
    with pytest.raises(ImageFileError, match="cannot read image"):
        read_photo(tmp_path / "cut.png")


def test_grey_is_judged_on_visible_pixels_only():
    grey = np.repeat(np.arange(60, dtype=np.uint8)[:, None, None], 3, axis=2).repeat(80, axis=1)
    assert is_grey(grey)
    tinted = grey.copy()
    tinted[30, 40] = (200, 10, 10)  # one coloured pixel, missed by the coarse look, found by the full one
    assert not is_grey(tinted)
    alpha = np.full((60, 80), 255, np.uint8)
    alpha[30, 40] = 0  # ... unless nobody can see it
    assert is_grey(tinted, alpha)


def test_a_mask_is_turned_upright_like_its_photo(tmp_path):
    mask = np.zeros((60, 80), np.uint8)
    mask[5:15, 50:70] = 255  # top right, as shown
    save_with_orientation(Image.fromarray(mask), 6, tmp_path / "mask.png")
    assert np.array_equal(load_mask(tmp_path / "mask.png", 60, 80), mask >= 128)
    with pytest.raises(ImageFileError, match="mask .* is 80x60, the image is 60x80"):
        load_mask(tmp_path / "mask.png", 80, 60)


# --- masks ------------------------------------------------------------------------------------------------


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


def _shifted_by(photo: Photo, shift: tuple[int, int]) -> tuple[object, Weight]:
    """A carry paste over the whole photo whose content moved by whole pixels (dx, dy): the sources, the
    content the working copy got, full weight."""
    from dragd.daemon.invert.motion import Carried, Motion
    from dragd.daemon.invert.region import square_frame

    height, width = photo.pixels.shape[:2]
    dx, dy = shift
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    source_x, source_y = np.clip(xs - dx, 0, width - 1), np.clip(ys - dy, 0, height - 1)
    content = photo.working[source_y.astype(int), source_x.astype(int), :3].astype(np.float32)
    still = Motion(np.zeros((8, 8, 2), np.float32), np.zeros((8, 8), np.float32), np.zeros((8, 8, 3), np.float32))
    box = (0, 0, width, height)
    carried = Carried(box, source_x, source_y, (source_x != xs) | (source_y != ys), np.ones((height, width),
                      np.float32), content, still, square_frame(box, width, height, 8))
    return carried, (box, np.ones((height, width), np.float32))


@pytest.mark.parametrize("make", [_grey16, _colour16])
def test_carried_content_keeps_the_files_own_16_bit_samples(tmp_path, make):
    """Content a carry paste moves is the file's own samples at the sources, all 16 bits of them."""
    path, stored = make(tmp_path, ".png")
    photo = read_photo(path)
    carried, weight = _shifted_by(photo, (3, 2))
    moved = photo.working.copy()
    moved[..., :3] = np.rint(carried.content)
    result = photo.result(moved, weight, carried)
    assert np.array_equal(result[2:, 3:], stored[:-2, :-3])  # bit for bit
    assert not np.array_equal(photo.result(moved, weight)[2:, 3:], stored[:-2, :-3])  # the 8-bit way: not so


def test_carried_content_of_a_profiled_photo_is_its_own_samples_not_an_srgb_round_trip(tmp_path):
    icc = matrix_profile("test Display P3, gamma 2.2")
    stored = np.asarray(astronaut())
    Image.fromarray(stored).save(tmp_path / "p3.png", icc_profile=icc)
    photo = read_photo(tmp_path / "p3.png")
    carried, weight = _shifted_by(photo, (-4, 1))
    moved = photo.working.copy()
    moved[..., :3] = np.rint(carried.content)
    result = photo.result(moved, weight, carried)
    assert np.array_equal(result[1:, :-4], stored[:-1, 4:])
    assert np.abs(photo.result(moved, weight)[1:, :-4].astype(int) - stored[:-1, 4:]).max() > 0  # via sRGB: lossy
