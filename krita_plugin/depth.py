"""Krita's RGBA pixels at any depth, to and from the 8-bit sRGB the model sees. Pure Python (Krita's Python
has no numpy), so a layer of millions of pixels takes seconds; only changed pixels are rewritten.

Krita hands out a layer's pixels (`Node.pixelData`) in its own layout: 8- and 16-bit integers in B, G, R, A
order, half and single floats in R, G, B, A order, little-endian, alpha straight (not premultiplied). Integer
values are normalised by their maximum; floats are taken as they are (HDR values above 1.0 stay). A float
document in a linear-light profile (Krita's default for floats, "...-g10.icc") is encoded with the sRGB
transfer curve (IEC 61966-2-1) for the model and decoded back, so the model sees what the canvas shows.

A drag's result is applied as a change (`protocol.blend`): pixels the drag did not change are never written,
so outside the selection the result equals the source at its own precision, bit for bit.
"""

from __future__ import annotations

import struct

from ..protocol.blend import Edit
from ..protocol.images import Image

DEPTHS = {"U8": ("B", 255.0, "BGRA"), "U16": ("H", 65535.0, "BGRA"), "F16": ("e", 1.0, "RGBA"),
          "F32": ("f", 1.0, "RGBA")}  # struct code, full scale, channel order in memory


def supported(model: str, depth: str) -> bool:
    return model == "RGBA" and depth in DEPTHS


def is_linear(profile: str) -> bool:
    """True for linear-light profiles (Krita names them "...-g10.icc", "scRGB", "... linear ...")."""
    name = profile.lower()
    return "g10" in name or "linear" in name or "scrgb" in name


def srgb_encode(value: float) -> float:
    """Linear light -> sRGB-encoded (IEC 61966-2-1); values outside 0..1 are mirrored/extended as in scRGB."""
    if value <= 0.0031308:
        return 12.92 * value
    return 1.055 * value ** (1 / 2.4) - 0.055


def srgb_decode(value: float) -> float:
    if value <= 0.04045:
        return value / 12.92
    return ((value + 0.055) / 1.055) ** 2.4


def channels(raw: bytes, depth: str) -> list[float]:
    """Raw pixel bytes -> normalised channel values, R, G, B, A per pixel (transfer as stored)."""
    code, full, order = DEPTHS[depth]
    count = len(raw) // struct.calcsize(code)
    values = struct.unpack(f"<{count}{code}", raw)
    out = [0.0] * count
    for i in range(0, count, 4):
        b_or_r, g, r_or_b, a = values[i:i + 4]
        r, b = (r_or_b, b_or_r) if order == "BGRA" else (b_or_r, r_or_b)
        out[i:i + 4] = (r / full, g / full, b / full, a / full)
    return out


def raw_bytes(values: list[float], depth: str) -> bytes:
    """`channels`' inverse: R, G, B, A values -> Krita's bytes (integers rounded and clamped)."""
    code, full, order = DEPTHS[depth]
    out: list[float] = [0.0] * len(values)
    for i in range(0, len(values), 4):
        r, g, b, a = values[i:i + 4]
        out[i:i + 4] = (b, g, r, a) if order == "BGRA" else (r, g, b, a)
    if full != 1.0:
        top = int(full)
        return struct.pack(f"<{len(out)}{code}", *(min(top, max(0, round(v * full))) for v in out))
    return struct.pack(f"<{len(out)}{code}", *out)


def _to_model(values: list[float], linear: bool) -> list[float]:
    """Stored values -> sRGB-encoded ones (alpha unchanged)."""
    if not linear:
        return values
    return [v if i % 4 == 3 else (srgb_encode(v) if v >= 0 else -srgb_encode(-v)) for i, v in enumerate(values)]


def _from_model(values: list[float], linear: bool) -> list[float]:
    if not linear:
        return values
    return [v if i % 4 == 3 else (srgb_decode(v) if v >= 0 else -srgb_decode(-v)) for i, v in enumerate(values)]


def to_8bit(raw: bytes, width: int, height: int, depth: str, linear: bool) -> Image:
    """A layer's pixels as the model sees them: RGBA, 8 bits, sRGB-encoded, clamped."""
    encoded = _to_model(channels(raw, depth), linear)
    return Image.rgba(width, height, bytes(min(255, max(0, round(v * 255.0))) for v in encoded))


def from_8bit(image: Image, depth: str, linear: bool) -> bytes:
    """8-bit RGBA pixels (e.g. a generated picture) at a document's depth."""
    values = [v / 255.0 for v in image.tight().data]
    return raw_bytes(_from_model(values, linear), depth)


def apply_edit(raw: bytes, width: int, depth: str, linear: bool, edit: Edit) -> bytes:
    """`raw` (a whole layer at `depth`) with the drag's change added at that precision; pixels the edit does not
    touch keep their bytes."""
    size = struct.calcsize(DEPTHS[depth][0]) * 4
    out = bytearray(raw)
    for run in edit.runs():
        start = (run.y * width + run.x) * size
        end = start + run.width * size
        values = _to_model(channels(bytes(out[start:end]), depth), linear)
        out[start:end] = raw_bytes(_from_model(run.applied(values), linear), depth)
    return bytes(out)
