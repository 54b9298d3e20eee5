"""The wire image type: layout checks and the pure-Python helpers the plugins use."""

from __future__ import annotations

import pytest
from dragd.protocol import ErrorCode, Image, Limits, ProtocolError, mask_bounds, mask_is_full, paste, swap_red_blue


def numbered(width: int, height: int, stride: int | None = None) -> Image:
    """RGBA pixels whose bytes say where they are: (x, y, x + y, 255), with optional row padding."""
    stride = stride or width * 4
    data = bytearray()
    for y in range(height):
        row = b"".join(bytes((x, y, x + y, 255)) for x in range(width))
        data += row + b"\xee" * (stride - len(row))
    return Image.rgba(width, height, bytes(data), stride)


def test_valid_images_pass_and_padding_is_allowed():
    assert numbered(5, 4).validate() == numbered(5, 4)
    padded = numbered(5, 4, stride=24)
    assert padded.validate().pixel(4, 3) == (4, 3, 7, 255)


@pytest.mark.parametrize(
    ("image", "code", "text"),
    [
        (Image("RGBA", 2, 2, 8, b"\x00" * 15), ErrorCode.BAD_REQUEST, "15 bytes"),
        (Image("RGBA", 2, 2, 8, b"\x00" * 17), ErrorCode.BAD_REQUEST, "17 bytes"),
        (Image("RGBA", 2, 2, 7, b"\x00" * 14), ErrorCode.BAD_REQUEST, "stride 7"),
        (Image("L", 0, 2, 1, b""), ErrorCode.BAD_REQUEST, "width"),
        (Image("L", -3, 2, 1, b""), ErrorCode.BAD_REQUEST, "width"),
        (Image("RGB", 2, 2, 6, b"\x00" * 12), ErrorCode.BAD_REQUEST, "mode"),
        (Image("L", 2, 2, 2, "abcd"), ErrorCode.BAD_REQUEST, "bytes"),
        (Image("L", 2**21, 1, 2**21, b""), ErrorCode.TOO_LARGE, "width"),
    ],
)
def test_bad_layouts(image, code, text):
    with pytest.raises(ProtocolError) as info:
        image.validate()
    assert info.value.code == code and text in info.value.message


def test_pixel_count_limit():
    image = Image.filled("L", 10, 10, 1)
    with pytest.raises(ProtocolError) as info:
        image.validate(Limits(max_image_pixels=99))
    assert info.value.code == ErrorCode.TOO_LARGE
    assert image.validate(Limits(max_image_pixels=100)) is not None


def test_crop_and_tight_drop_padding():
    padded = numbered(6, 5, stride=30)
    tight = padded.tight()
    assert tight.stride == 24 and tight.nbytes == 120 and tight.pixel(5, 4) == (5, 4, 9, 255)
    crop = padded.crop(2, 1, 3, 2)
    assert (crop.width, crop.height, crop.stride) == (3, 2, 12)
    assert crop.pixel(0, 0) == (2, 1, 3, 255) and crop.pixel(2, 1) == (4, 2, 6, 255)
    with pytest.raises(ValueError):
        padded.crop(4, 0, 3, 1)


def test_paste_places_patch_and_clips_at_the_edges():
    base = Image.filled("RGBA", 5, 4, (0, 0, 0, 255))
    patch = numbered(3, 2)
    out = paste(base, patch, 3, -1)  # hangs over the right and top edges
    assert out.pixel(3, 0) == (0, 1, 1, 255) and out.pixel(4, 0) == (1, 1, 2, 255)
    assert out.pixel(2, 0) == (0, 0, 0, 255) and out.pixel(3, 1) == (0, 0, 0, 255)
    assert base.pixel(3, 0) == (0, 0, 0, 255)  # the source is untouched
    untouched = paste(base, patch, 10, 10)
    assert untouched.data == base.data
    with pytest.raises(ValueError):
        paste(base, Image.filled("L", 1, 1, 1), 0, 0)


def test_paste_outside_region_is_byte_identical():
    base = numbered(8, 8)
    out = paste(base, Image.filled("RGBA", 2, 2, (9, 9, 9, 9)), 3, 3)
    for y in range(8):
        for x in range(8):
            inside = 3 <= x < 5 and 3 <= y < 5
            assert out.pixel(x, y) == ((9, 9, 9, 9) if inside else base.pixel(x, y))


def test_swap_red_blue_is_its_own_inverse():
    bgra = bytes([1, 2, 3, 4, 5, 6, 7, 8])
    assert swap_red_blue(bgra) == bytes([3, 2, 1, 4, 7, 6, 5, 8])
    assert swap_red_blue(swap_red_blue(bgra)) == bgra


def test_mask_bounds_and_fullness():
    empty = Image.filled("L", 6, 5, 0)
    assert mask_bounds(empty) is None and not mask_is_full(empty)
    data = bytearray(6 * 5)
    data[1 * 6 + 2] = 255
    data[3 * 6 + 4] = 1
    mask = Image.mask(6, 5, bytes(data))
    assert mask_bounds(mask) == (2, 1, 3, 3)
    assert mask_is_full(Image.filled("L", 6, 5, 7))
    with pytest.raises(ValueError):
        mask_bounds(numbered(2, 2))
