"""An 8-bit edit laid over a layer of any colour depth, weighted by a soft selection. Pure Python, no numpy.

The model sees and makes 8-bit sRGB (`R'G'B'A u8`). A layer may hold 16-bit, half or float values, even HDR
values above 1.0. So a drag result is not written as 8-bit pixels: each channel of the layer, read at its own
precision as straight non-linear floats (GEGL's `R'G'B'A float`, Krita's normalised channels), gets the
*change* the drag made there:

    new = old + w * (after - before) / 255        (w = weight / 255, the selection's softness)

where `before` is what the model saw (the layer as 8 bits) and `after` what it made. A pixel whose change is
zero (no edit there, or weight 0: outside the selection) is not written at all, so it stays equal to the
source at its own precision, bit for bit; HDR values keep their headroom because only a difference is added.
On an 8-bit layer this is the plain weighted blend `before + w * (after - before)`, rounded.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from .images import Image

CHANNELS = 4  # R, G, B, A
FULL = 255.0
_RUN = re.compile(b"\x01+")  # a run of changed pixels in a row's flags


@dataclass(frozen=True)
class Run:
    """A row segment of changed pixels: layer row `y`, columns `x` .. `x + width - 1`, and the change of each
    channel in full-scale units (1.0 = 255 levels), `CHANNELS` values per pixel, left to right."""

    y: int
    x: int
    width: int
    deltas: tuple[float, ...]

    def applied(self, values: Sequence[float]) -> list[float]:
        """`values` (this run's pixels as straight R'G'B'A floats at the layer's precision) with the change.

        A change never takes a value below 0 or above 1 unless it was there already (an HDR value stays HDR,
        an in-range one is not pushed out of range by 8-bit rounding)."""
        if len(values) != len(self.deltas):
            raise ValueError(f"{len(values)} channel values for a run of {len(self.deltas)}")
        new = list(map(operator.add, values, self.deltas))
        if min(new) < 0.0 or max(new) > 1.0:  # rare: only then is the clamp worth its cost
            new = [min(max(n, min(v, 0.0)), max(v, 1.0)) for n, v in zip(new, values, strict=True)]
        return new


@dataclass(frozen=True)
class Edit:
    """What a drag changed in a region of a layer, at 8 bits.

    `before` and `after` are RGBA images of the region (`before`: the layer's pixels there as the model saw
    them, `after`: what the drag made); `weight`, when set, an L image of the region: how much of the change
    each pixel takes (255: all of it, 0: none; a feathered selection's values in between). (x, y) is the
    region's top-left pixel in the layer.
    """

    x: int
    y: int
    before: Image
    after: Image
    weight: Image | None = None

    def __post_init__(self) -> None:
        size = (self.before.width, self.before.height)
        if self.before.mode != "RGBA" or self.after.mode != "RGBA" or (self.after.width, self.after.height) != size:
            raise ValueError("an edit needs two RGBA images of one size")
        if self.weight is not None and (self.weight.mode != "L" or (self.weight.width, self.weight.height) != size):
            raise ValueError("an edit's weight must be an L image of the region's size")

    @property
    def width(self) -> int:
        return self.before.width

    @property
    def height(self) -> int:
        return self.before.height

    def runs(self) -> Iterator[Run]:
        """The changed pixels, row by row, as runs; a pixel whose every channel change is zero is in none."""
        for row in range(self.height):
            before, after = self.before.row(row), self.after.row(row)
            weights = self.weight.row(row) if self.weight is not None else None
            if before == after or (weights is not None and not weights.strip(b"\0")):
                continue
            yield from _row_runs(self.y + row, self.x, before, after, weights)


def _row_runs(y: int, x0: int, before: bytes, after: bytes, weights: bytes | None) -> Iterator[Run]:
    """The runs of one row. Works on whole rows with C-speed primitives (int XOR, memoryview casts, a regex over
    a flag per pixel), because layers are large and the editors' Python has no numpy."""
    xor = (int.from_bytes(before, "little") ^ int.from_bytes(after, "little")).to_bytes(len(before), "little")
    pixel_changed = memoryview(xor).cast("I")  # one 32-bit word per RGBA pixel: non-zero where it changed
    if weights is None:
        flags = bytes(1 if word else 0 for word in pixel_changed)
        deltas = [(a - b) / FULL for a, b in zip(after, before, strict=True)]
    else:
        flags = bytes(1 if word and w else 0 for word, w in zip(pixel_changed, weights, strict=True))
        spread = bytearray(len(before))  # each pixel's weight under each of its channels
        for channel in range(CHANNELS):
            spread[channel::CHANNELS] = weights
        deltas = [(a - b) * w / (FULL * FULL) for a, b, w in zip(after, before, spread, strict=True)]
    for found in _RUN.finditer(flags):
        start, end = found.span()
        yield Run(y, x0 + start, end - start, tuple(deltas[start * CHANNELS:end * CHANNELS]))


def apply_8bit(layer: Image, edit: Edit) -> Image:
    """`layer` (RGBA, 8 bits) with `edit` applied: what an 8-bit layer holds afterwards (rounded, clamped)."""
    if layer.mode != "RGBA":
        raise ValueError("apply_8bit needs an RGBA layer")
    out = bytearray(layer.tight().data)
    for run in edit.runs():
        if not (0 <= run.y < layer.height and run.x >= 0 and run.x + run.width <= layer.width):
            raise ValueError(f"the edit reaches outside the {layer.width}x{layer.height} layer")
        start = (run.y * layer.width + run.x) * CHANNELS
        old = out[start:start + run.width * CHANNELS]
        out[start:start + len(old)] = bytes([min(255, max(0, round(v + d * FULL)))
                                             for v, d in zip(old, run.deltas, strict=True)])
    return Image.rgba(layer.width, layer.height, bytes(out))

