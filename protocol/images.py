"""Raw 8-bit images on the wire (`RGBA` pictures, `L` masks) and pure-Python helpers to handle them.

No numpy: the editors' Python has none. The helpers lean on bytes slicing, which runs at C speed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import ErrorCode
from .limits import Limits
from .wire import bad, from_wire, integer, one_of, type_name, wire

CHANNELS = {"RGBA": 4, "L": 1}
ByteData = bytes | bytearray | memoryview


def _byte_data(value: Any, path: str, limits: Limits) -> ByteData:
    if isinstance(value, (bytes, bytearray)):
        return value
    if isinstance(value, memoryview) and value.contiguous:
        return value
    raise bad(path, f"expected bytes, got {type_name(value)}")


@dataclass(frozen=True)
class Image:
    """Rows top to bottom, each `stride` bytes, of which the first width * channels hold the pixels.

    `RGBA` is straight (not premultiplied) alpha in that byte order; `L` is one byte per pixel (for masks,
    non-zero means selected / allowed to move).
    """

    mode: str = wire(one_of(*CHANNELS))
    width: int = wire(integer(1, limit="max_image_side", over=ErrorCode.TOO_LARGE))
    height: int = wire(integer(1, limit="max_image_side", over=ErrorCode.TOO_LARGE))
    stride: int = wire(integer(1, 2**40))
    data: ByteData = wire(_byte_data)

    def cross_check(self, path: str, limits: Limits) -> None:
        if self.width * self.height > limits.max_image_pixels:
            raise bad(path, f"{self.width}x{self.height} is more than {limits.max_image_pixels} pixels",
                      ErrorCode.TOO_LARGE)
        row = self.width * self.channels
        if self.stride < row:
            raise bad(path, f"stride {self.stride} is less than width * {self.channels} = {row}")
        if self.nbytes != self.stride * self.height:
            raise bad(path, f"{self.nbytes} bytes of data, expected stride * height = {self.stride * self.height}")

    # ---- construction ----------------------------------------------------------------------------------

    @classmethod
    def rgba(cls, width: int, height: int, data: ByteData, stride: int | None = None) -> Image:
        return cls("RGBA", width, height, width * 4 if stride is None else stride, data)

    @classmethod
    def mask(cls, width: int, height: int, data: ByteData, stride: int | None = None) -> Image:
        return cls("L", width, height, width if stride is None else stride, data)

    @classmethod
    def filled(cls, mode: str, width: int, height: int, value: tuple[int, ...] | int) -> Image:
        pixel = bytes([value] if isinstance(value, int) else value)
        if len(pixel) != CHANNELS[mode]:
            raise ValueError(f"{mode} needs {CHANNELS[mode]} channel values, got {len(pixel)}")
        return cls(mode, width, height, width * len(pixel), pixel * (width * height))

    # ---- reading ---------------------------------------------------------------------------------------

    @property
    def channels(self) -> int:
        return CHANNELS[self.mode]

    @property
    def nbytes(self) -> int:
        return self.data.nbytes if isinstance(self.data, memoryview) else len(self.data)

    def validate(self, limits: Limits | None = None, path: str = "image") -> Image:
        """This image checked as if it had arrived on the wire; raises ProtocolError."""
        from .wire import to_wire

        return from_wire(Image, to_wire(self), path, limits or Limits.permissive())

    def row(self, y: int) -> bytes:
        start = y * self.stride
        return bytes(self.data[start:start + self.width * self.channels])

    def pixel(self, x: int, y: int) -> tuple[int, ...]:
        start = y * self.stride + x * self.channels
        return tuple(self.data[start:start + self.channels])

    def tight(self) -> Image:
        """The same pixels with stride == width * channels (no row padding)."""
        if self.stride == self.width * self.channels:
            return self if isinstance(self.data, bytes) else Image(self.mode, self.width, self.height,
                                                                   self.stride, bytes(self.data))
        return self.crop(0, 0, self.width, self.height)

    def crop(self, x: int, y: int, width: int, height: int) -> Image:
        if x < 0 or y < 0 or width < 1 or height < 1 or x + width > self.width or y + height > self.height:
            raise ValueError(f"crop {x},{y} {width}x{height} is outside the {self.width}x{self.height} image")
        c = self.channels
        view = memoryview(self.data).cast("B")
        rows = [view[(y + r) * self.stride + x * c:(y + r) * self.stride + (x + width) * c] for r in range(height)]
        return Image(self.mode, width, height, width * c, b"".join(rows))


def paste(base: Image, patch: Image, x: int, y: int) -> Image:
    """`base` with `patch` copied over it, top-left corner at (x, y); parts outside `base` are dropped.

    Used to lay a result (an image plus its offset in the session frame) over the original layer pixels.
    """
    if base.mode != patch.mode:
        raise ValueError(f"cannot paste {patch.mode} onto {base.mode}")
    c = base.channels
    out = bytearray(base.tight().data)
    row_bytes = base.width * c
    x0, x1 = max(x, 0), min(x + patch.width, base.width)
    src = memoryview(patch.data).cast("B")
    for py in range(max(0, -y), min(patch.height, base.height - y)):
        if x0 >= x1:
            break
        by = y + py
        s = py * patch.stride + (x0 - x) * c
        out[by * row_bytes + x0 * c:by * row_bytes + x1 * c] = src[s:s + (x1 - x0) * c]
    return Image(base.mode, base.width, base.height, row_bytes, bytes(out))


def swap_red_blue(data: ByteData) -> bytes:
    """BGRA <-> RGBA for 4-byte pixels (Krita's 8-bit RGBA layers are BGRA in memory)."""
    out = bytearray(data)
    out[0::4], out[2::4] = out[2::4], out[0::4]
    return bytes(out)


def mask_bounds(mask: Image) -> tuple[int, int, int, int] | None:
    """(x, y, width, height) of the non-zero pixels of an `L` mask, or None when it is all zero."""
    if mask.mode != "L":
        raise ValueError("mask_bounds needs an L image")
    top = bottom = None
    left, right = mask.width, -1
    for y in range(mask.height):
        row = mask.row(y)
        stripped = row.lstrip(b"\0")
        if not stripped:
            continue
        top = y if top is None else top
        bottom = y
        left = min(left, len(row) - len(stripped))
        right = max(right, len(row.rstrip(b"\0")) - 1)
    if top is None or bottom is None:
        return None
    return left, top, right - left + 1, bottom - top + 1


def mask_is_full(mask: Image) -> bool:
    """True when every pixel of an `L` mask is non-zero (a selection of everything is no restriction)."""
    return all(b"\0" not in mask.row(y) for y in range(mask.height))
