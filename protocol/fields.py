"""The value types and checks that several messages share (protocol/messages.py builds every message from
them): request ids, pair keys, points, images of a mode, rectangles, offsets, counts, latents."""

from __future__ import annotations

from typing import Any

from .images import Image
from .limits import Limits
from .wire import Check, bad, fixed, from_wire, integer, type_name

RequestId = str | int
PairKey = str | int  # names a point pair across a live drag's updates (SPEC.md, "Live drags")
Point = tuple[float, float]  # (x, y) with pixel centres at integer coordinates (SPEC.md, "Coordinates")


def image(mode: str) -> Check:
    """An `Image` of the given mode."""

    def check(value: Any, path: str, limits: Limits) -> Image:
        result = from_wire(Image, value, path, limits)
        if result.mode != mode:
            raise bad(path, f"expected a {mode} image, got {result.mode}")
        return result

    return check


RGBA, MASK = image("RGBA"), image("L")
RECT = fixed(integer(0, 2**31), integer(0, 2**31), integer(1, 2**31), integer(1, 2**31))  # x, y, width, height
OFFSET = fixed(integer(-(2**31), 2**31), integer(-(2**31), 2**31))  # where an image's top-left pixel lies
COUNT = integer(0, 2**31)
SEQ = integer(1, 2**53)  # live progress numbers and update revisions (exact in any client's numbers)
LATENT_ROWS, W_DIM = integer(1, 64), integer(1, 4096)  # a latent's num_ws and w_dim (protocol.binding's bounds)


def latent_bytes(value: Any, path: str, limits: Limits) -> bytes:
    """A latent's float32 little-endian values, row-major; its length is checked against its shape."""
    if not isinstance(value, bytes):
        raise bad(path, f"expected bytes, got {type_name(value)}")
    if not value or len(value) > 4 * 64 * 4096:
        raise bad(path, f"{len(value)} bytes is not the size of a latent")
    return value


def latent_fits(latent: bytes, shape: tuple[int, int], path: str) -> None:
    if len(latent) != 4 * shape[0] * shape[1]:
        raise bad(path, f"latent holds {len(latent)} bytes; a {shape[0]}x{shape[1]} float32 latent has "
                        f"{4 * shape[0] * shape[1]}")


def mask_fits(mask: Image | None, width: int, height: int, path: str) -> None:
    if mask is not None and (mask.width, mask.height) != (width, height):
        raise bad(path, f"mask is {mask.width}x{mask.height}, the image {width}x{height}")
