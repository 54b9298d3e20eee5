"""Reading a feature map as if it had been bilinearly resized to the image size, without resizing it.

DragGAN resizes the feature map of one synthesis block to the image resolution (F.interpolate, bilinear,
align_corners=False) and then reads it at a few hundred pixels. A 256-channel map at 512 px is 67 M floats;
resizing it every step costs more than the rest of the loss. `upsampled_at` computes the same values only
at the pixels needed; `upsampled_bilinear` samples the resized map at fractional positions (as
grid_sample with align_corners=True and zero padding would on the resized map).
"""

from __future__ import annotations

import torch


def _source_index(dst: torch.Tensor, in_size: int, out_size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The two source taps and the weight of the second, as torch computes them for align_corners=False."""
    src = ((dst.to(torch.float32) + 0.5) * (in_size / out_size) - 0.5).clamp(min=0)
    i0 = src.floor().long().clamp(max=in_size - 1)
    i1 = (i0 + 1).clamp(max=in_size - 1)
    return i0, i1, src - i0


def rows_read(first: int, last: int, in_size: int, out_size: int) -> tuple[int, int]:
    """The half-open range of map rows that `upsampled_at` reads for resized rows first..last (inclusive).

    The same for columns. in_size: the map's rows; out_size: the resized (image) rows; first, last in [0, out_size).
    """
    taps = _source_index(torch.tensor([first, last]), in_size, out_size)
    return int(taps[0][0]), int(taps[1][1]) + 1


def upsampled_at(feat: torch.Tensor, size: tuple[int, int], ys: torch.Tensor, xs: torch.Tensor) -> torch.Tensor:
    """Values of `F.interpolate(feat, size, mode="bilinear")` at integer pixels (ys[k], xs[k]).

    feat: [1, C, h, w]; size: (H, W); ys, xs: integer tensors of equal shape. Returns [C, *ys.shape].
    """
    _, _, h, w = feat.shape
    height, width = size
    y0, y1, ly = _source_index(ys, h, height)
    x0, x1, lx = _source_index(xs, w, width)
    f = feat[0]
    top = f[:, y0, x0] * (1 - lx) + f[:, y0, x1] * lx
    bottom = f[:, y1, x0] * (1 - lx) + f[:, y1, x1] * lx
    return top * (1 - ly) + bottom * ly


def upsampled_bilinear(feat: torch.Tensor, size: tuple[int, int], ys: torch.Tensor, xs: torch.Tensor) -> torch.Tensor:
    """Bilinear samples of the resized map at fractional pixels (ys, xs); outside the image counts as zero."""
    height, width = size
    y0f, x0f = ys.floor(), xs.floor()
    wy, wx = ys - y0f, xs - x0f
    y0, x0 = y0f.long(), x0f.long()
    total = None
    for dy, weight_y in ((0, 1 - wy), (1, wy)):
        for dx, weight_x in ((0, 1 - wx), (1, wx)):
            yy, xx = y0 + dy, x0 + dx
            inside = ((yy >= 0) & (yy < height) & (xx >= 0) & (xx < width)).to(feat.dtype)
            values = upsampled_at(feat, size, yy.clamp(0, height - 1), xx.clamp(0, width - 1))
            term = values * (weight_y * weight_x * inside)
            total = term if total is None else total + term
    assert total is not None
    return total
