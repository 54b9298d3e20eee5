"""Reading a feature map as if it had been bilinearly resized to the image size, without resizing it.

DragGAN resizes the feature map of one synthesis block to the image resolution (F.interpolate, bilinear,
align_corners=False) and then reads it at a few hundred pixels. A 256-channel map at 512 px is 67 M floats;
resizing it every step costs more than the rest of the loss. `upsampled_at` computes the same values only
at the pixels needed; `upsampled_bilinear` samples the resized map at fractional positions (as
grid_sample with align_corners=True and zero padding would on the resized map).

Both read either a whole map (a tensor [1, C, h, w]) or a `SparseFeatures` (the map computed only in windows,
daemon/engine/windows.py), with one gather per call, so that the backward pass scatters into one buffer the size
of what was computed. A generator's feature block plugs in by returning either.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class SparseFeatures:
    """A [1, C, h, w] feature map computed only at some pixels.

    values: [C, P], the P computed pixels; index: [h, w] long, where each pixel's values sit in `values`
    (-1 where the map was not computed). Reading a pixel that was not computed raises RuntimeError.
    """

    values: torch.Tensor
    index: torch.Tensor

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return 1, self.values.shape[0], self.index.shape[0], self.index.shape[1]

    @property
    def dtype(self) -> torch.dtype:
        return self.values.dtype

    def detach(self) -> SparseFeatures:
        return SparseFeatures(self.values.detach(), self.index)

    def new_zeros(self, size: tuple[int, ...]) -> torch.Tensor:
        return self.values.new_zeros(size)


Features = torch.Tensor | SparseFeatures


def gather(feat: Features, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """feat's values at integer pixels (rows[k], cols[k]) inside the map: [C, *rows.shape]."""
    _, channels, _, width = feat.shape
    flat = rows * width + cols
    if isinstance(feat, SparseFeatures):
        flat = feat.index.reshape(-1)[flat]
        if bool((flat < 0).any()):
            raise RuntimeError("the loss read a feature pixel outside the computed windows")
        values = feat.values
    else:
        values = feat.reshape(channels, -1)
    return values[:, flat.reshape(-1)].reshape(channels, *rows.shape)


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


def upsampled_at(feat: Features, size: tuple[int, int], ys: torch.Tensor, xs: torch.Tensor) -> torch.Tensor:
    """Values of `F.interpolate(feat, size, mode="bilinear")` at integer pixels (ys[k], xs[k]).

    feat: [1, C, h, w] or SparseFeatures; size: (H, W); ys, xs: integer tensors of equal shape. Returns
    [C, *ys.shape].
    """
    _, _, h, w = feat.shape
    height, width = size
    y0, y1, ly = _source_index(ys, h, height)
    x0, x1, lx = _source_index(xs, w, width)
    taps = gather(feat, torch.stack([y0, y0, y1, y1]), torch.stack([x0, x1, x0, x1]))  # [C, 4, *ys.shape]
    top = taps[:, 0] * (1 - lx) + taps[:, 1] * lx
    bottom = taps[:, 2] * (1 - lx) + taps[:, 3] * lx
    return top * (1 - ly) + bottom * ly


def upsampled_bilinear(feat: Features, size: tuple[int, int], ys: torch.Tensor, xs: torch.Tensor) -> torch.Tensor:
    """Bilinear samples of the resized map at fractional pixels (ys, xs); outside the image counts as zero."""
    height, width = size
    y0f, x0f = ys.floor(), xs.floor()
    wy, wx = ys - y0f, xs - x0f
    y0, x0 = y0f.long(), x0f.long()
    corners_y = torch.stack([y0, y0, y0 + 1, y0 + 1])  # the four neighbours, read in one call
    corners_x = torch.stack([x0, x0 + 1, x0, x0 + 1])
    weights = torch.stack([(1 - wy) * (1 - wx), (1 - wy) * wx, wy * (1 - wx), wy * wx])
    inside = (corners_y >= 0) & (corners_y < height) & (corners_x >= 0) & (corners_x < width)
    values = upsampled_at(feat, size, corners_y.clamp(0, height - 1), corners_x.clamp(0, width - 1))
    return (values * (weights * inside.to(feat.dtype))).sum(dim=1)
