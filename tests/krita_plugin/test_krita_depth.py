"""krita_plugin/depth.py: Krita's RGBA pixels at 8, 16 bits, half and float, to and from the model's 8 bits."""

from __future__ import annotations

import struct

import pytest
from dragd.krita_plugin import depth
from dragd.protocol.blend import Edit
from dragd.protocol.images import Image


def u16(*pixels: tuple[int, int, int, int]) -> bytes:
    """RGBA pixels -> Krita's U16 bytes (B, G, R, A)."""
    return b"".join(struct.pack("<4H", b, g, r, a) for r, g, b, a in pixels)


def f32(*pixels: tuple[float, float, float, float]) -> bytes:
    return b"".join(struct.pack("<4f", *p) for p in pixels)


def test_layouts_are_kritas_and_round_trip() -> None:
    raw = u16((65535, 0, 257, 65535), (1, 2, 3, 4))
    assert depth.channels(raw, "U16")[:4] == [1.0, 0.0, 257 / 65535, 1.0]
    assert depth.raw_bytes(depth.channels(raw, "U16"), "U16") == raw
    for code in ("F16", "F32"):
        raw = depth.raw_bytes([0.25, 0.5, 2.0, 1.0], code)  # HDR blue stays
        assert depth.channels(raw, code) == [0.25, 0.5, 2.0, 1.0]
    assert depth.to_8bit(u16((65535, 0, 257 * 128, 65535)), 1, 1, "U16", False).data == bytes([255, 0, 128, 255])


def test_linear_profiles_are_shown_to_the_model_srgb_encoded() -> None:
    assert depth.is_linear("sRGB-elle-V2-g10.icc") and not depth.is_linear("sRGB-elle-V2-srgbtrc.icc")
    mid = depth.to_8bit(f32((0.2158, 0.2158, 0.2158, 0.5)), 1, 1, "F32", True).data
    assert mid == bytes([128, 128, 128, 128])  # 0.2158 linear is sRGB 0.502; alpha untouched
    back = depth.channels(depth.from_8bit(Image.rgba(1, 1, mid), "F32", True), "F32")
    assert back[0] == pytest.approx(0.2158, abs=1e-3) and back[3] == pytest.approx(128 / 255)


@pytest.mark.parametrize(("code", "linear"), [("U16", False), ("F16", False), ("F32", True)])
def test_an_edit_rewrites_only_the_changed_pixels_at_the_layers_precision(code: str, linear: bool) -> None:
    values = [0.1234567, 0.3, 0.7, 1.0, 3.5, 0.2, 0.4, 1.0, 0.5, 0.5, 0.5, 1.0]  # pixel 1 is HDR
    raw = depth.raw_bytes(values, code)
    before = depth.to_8bit(raw, 3, 1, code, linear)
    after = bytearray(before.data)
    after[8:12] = bytes([200, 10, 30, 255])  # only the third pixel changes
    result = depth.apply_edit(raw, 3, code, linear, Edit(0, 0, before, Image.rgba(3, 1, bytes(after))))
    size = len(raw) // 3
    assert result[:2 * size] == raw[:2 * size], "unchanged pixels were rewritten"
    changed = depth.to_8bit(result[2 * size:], 1, 1, code, linear).data
    assert all(abs(a - b) <= 1 for a, b in zip(changed, bytes([200, 10, 30, 255]), strict=True))  # the change, added


def test_a_soft_weight_applies_part_of_the_change() -> None:
    raw = u16((0, 0, 0, 65535))
    before = depth.to_8bit(raw, 1, 1, "U16", False)
    after = Image.rgba(1, 1, bytes([255, 0, 0, 255]))
    result = depth.apply_edit(raw, 1, "U16", False, Edit(0, 0, before, after, Image.mask(1, 1, b"\x80")))
    assert depth.channels(result, "U16")[0] == pytest.approx(128 / 255, abs=1 / 65535)


def test_only_rgba_documents_are_supported() -> None:
    assert depth.supported("RGBA", "U16") and depth.supported("RGBA", "F32")
    assert not depth.supported("GRAYA", "U8") and not depth.supported("CMYKA", "U8")
