"""The feature block computed only where the drag reads it: windows around the handles, not whole maps.

Without a mask, a drag step reads the feature map of one block only near the handles: tracking within r2 of each
handle, motion supervision within r1 (+1 px for the shifted sample) of where tracking put it. The last few blocks up
to the feature block (`first` .. `feature_block`) therefore run on windows around the handles, forward and backward;
the blocks before `first` run on the whole map as usual. The result equals the whole-map computation inside the
windows up to float summation order (tests/daemon/engine/test_windows.py checks features, gradients and drags).

Halo of each layer, in the arithmetic of daemon/models/stylegan2.py (StyleGAN2's synthesis layers, Karras et al.
2020, "Analyzing and Improving the Image Quality of StyleGAN"; NVIDIA's stylegan2-ada-pytorch, `SynthesisLayer`
and `upfirdn2d` give the same padding):
- conv1, a modulated 3x3 conv with zero padding 1: output rows [a, b) read input rows [a - 1, b + 1).
- conv0, the 2x up-sampling layer: a 3x3 transposed conv with stride 2 (input row i reaches rows t = 2i + k,
  k = 0, 1, 2), then the 4-tap FIR filter [1, 3, 3, 1] with padding 1, so output row u reads t in [u - 1, u + 2].
  Both output rows 2m and 2m + 1 therefore read input rows m - 1 .. m + 1: output rows [a, b) read input rows
  [floor(a / 2) - 1, floor((b - 1) / 2) + 2). A window is computed from whole input rows, so its outputs start on
  the even row at or before a (the up-sampling phase) and the layer crops the one extra row (`SynthesisLayer.apply`).
- constant noise (cropped with the window), bias, leaky ReLU, gain and clamp act per pixel: no halo.
- toRGB and the skip image are not read by the loss and are not computed here.
The same holds for columns. Every layer zero-pads its input, so a window that crosses the map's border is
zero-padded there and still equals the whole map. Two windows whose inputs at the last whole block overlap are
merged into their bounding box when that costs no more than both (`plan_windows`), so handles close together share
one window; overlapping windows that stay apart compute the same values twice.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..models.stylegan2 import SynthesisNetwork
from .features import SparseFeatures, rows_read

WINDOWED_BLOCKS = 4  # blocks computed on windows, the feature block included (benchmarks/drag_step.py)


@dataclass(frozen=True)
class Box:
    """Rows [top, bottom) and columns [left, right) of one block's feature map; may reach outside the map."""

    top: int
    left: int
    bottom: int
    right: int

    @property
    def shape(self) -> tuple[int, int]:
        return self.bottom - self.top, self.right - self.left

    def grow(self, n: int) -> Box:
        return Box(self.top - n, self.left - n, self.bottom + n, self.right + n)

    def clip(self, shape: tuple[int, int]) -> Box:
        return Box(max(self.top, 0), max(self.left, 0), min(self.bottom, shape[0]), min(self.right, shape[1]))

    def intersects(self, other: Box) -> bool:
        return (self.top < other.bottom and other.top < self.bottom
                and self.left < other.right and other.left < self.right)

    def union(self, other: Box) -> Box:
        return Box(min(self.top, other.top), min(self.left, other.left),
                   max(self.bottom, other.bottom), max(self.right, other.right))

    def as_tuple(self) -> tuple[int, int, int, int]:
        return self.top, self.left, self.bottom, self.right


def conv_input(out: Box) -> Box:
    """What a 3x3 conv with padding 1 reads for the output rows and columns `out`."""
    return out.grow(1)


def upsampling_input(out: Box) -> Box:
    """What StyleGAN2's up-sampling conv (transposed 3x3, stride 2, FIR [1, 3, 3, 1]) reads for `out`."""
    return Box(out.top // 2 - 1, out.left // 2 - 1, (out.bottom - 1) // 2 + 2, (out.right - 1) // 2 + 2)


def reframe(x: torch.Tensor, have: Box, want: Box) -> torch.Tensor:
    """x [N, C, *have.shape] holding the rows and columns `have`, cut or zero-padded to hold `want` instead."""
    return F.pad(x, [have.left - want.left, want.right - have.right, have.top - want.top, want.bottom - have.bottom])


@dataclass(frozen=True)
class WindowPlan:
    """One window's boxes: what it reads from the last whole block, and each windowed block's two layers' outputs."""

    source: Box  # rows and columns of the last whole block's output that the first windowed conv0 reads
    layers: tuple[tuple[Box, Box], ...]  # per windowed block: (conv0 output, conv1 output), inside the map
    features: Box  # the feature block's rows and columns this window computes (= layers[-1][1])


def plan_window(synthesis: SynthesisNetwork, first: int, feature_block: int, box: Box) -> WindowPlan:
    """Walks back from the feature-block box to the last whole block, through each layer's halo."""
    cfg = synthesis.cfg
    out1 = box.clip(cfg.block_shape(synthesis.block_resolutions[feature_block]))
    layers = []
    for index in range(feature_block, first - 1, -1):
        shape = cfg.block_shape(synthesis.block_resolutions[index])
        out0 = conv_input(out1).clip(shape)
        layers.append((out0, out1))
        out1 = upsampling_input(out0).clip(cfg.block_shape(synthesis.block_resolutions[index - 1]))
    return WindowPlan(upsampling_input(layers[-1][0]), tuple(reversed(layers)), layers[0][1])


def plan_cost(synthesis: SynthesisNetwork, first: int, plan: WindowPlan) -> int:
    """Multiply-adds of a window's convolutions, forward (output pixels x input x output channels x 9)."""
    cost = 0
    for index, (out0, out1) in zip(range(first, first + len(plan.layers)), plan.layers, strict=True):
        block = synthesis.block(index)
        out_ch, in_ch = block.conv0.weight.shape[:2]
        cost += 9 * out_ch * (in_ch * out0.shape[0] * out0.shape[1] + out_ch * out1.shape[0] * out1.shape[1])
    return cost


def plan_windows(synthesis: SynthesisNetwork, first: int, feature_block: int, boxes: list[Box]) -> list[WindowPlan]:
    """One plan per box; two windows whose sources overlap become one (their bounding box) when that costs no
    more than computing both, so nearby handles share a window and distant ones keep their own."""
    plans = [plan_window(synthesis, first, feature_block, box) for box in boxes]
    merged = True
    while merged:
        merged = False
        for i in range(len(plans)):
            for j in range(i + 1, len(plans)):
                if not plans[i].source.intersects(plans[j].source):
                    continue
                union = plan_window(synthesis, first, feature_block, plans[i].features.union(plans[j].features))
                if plan_cost(synthesis, first, union) <= (plan_cost(synthesis, first, plans[i])
                                                          + plan_cost(synthesis, first, plans[j])):
                    plans[i] = union
                    del plans[j]
                    merged = True
                    break
            if merged:
                break
    return plans


def feature_boxes(points: list[tuple[float, float]], radius: int, image_shape: tuple[int, int],
                  feature_shape: tuple[int, int]) -> list[Box]:
    """Boxes of the feature map that `upsampled_at` reads for the image pixels within `radius` px (a square) of
    each point (x, y); image_shape and feature_shape are (height, width)."""
    height, width = image_shape
    boxes = []
    for x, y in points:
        cy, cx = round(y), round(x)
        top, bottom = rows_read(max(cy - radius, 0), min(cy + radius, height - 1), feature_shape[0], height)
        left, right = rows_read(max(cx - radius, 0), min(cx + radius, width - 1), feature_shape[1], width)
        boxes.append(Box(top, left, bottom, right))
    return boxes


def windowed_features(synthesis: SynthesisNetwork, ws: torch.Tensor, first: int, feature_block: int,
                      boxes: list[Box], noise_mode: str = "const") -> SparseFeatures:
    """The feature block's output, computed inside `boxes` (and the windows grown from them) only.

    Blocks before `first` (>= 1) run on the whole map, blocks first .. feature_block on windows; all with the
    unfused modulated convs (`Modulation`), like `SynthesisNetwork.run(..., fused=False)`.
    ws: [1, num_ws, w_dim]; gradients flow to ws through every computed pixel.
    """
    if not 1 <= first <= feature_block < synthesis.num_blocks:
        raise ValueError(f"windowed blocks must satisfy 1 <= first ({first}) <= feature block ({feature_block})")
    if ws.shape[0] != 1:
        raise ValueError("windowed features are computed for one latent at a time")
    base = synthesis.run(ws, 0, first, noise_mode=noise_mode, images=False, fused=False).x
    plans = plan_windows(synthesis, first, feature_block, boxes)
    whole = Box(0, 0, base.shape[2], base.shape[3])
    windows = [reframe(base, whole, plan.source) for plan in plans]
    for step, index in enumerate(range(first, feature_block + 1)):
        block = synthesis.block(index)
        offset = synthesis.ws_offsets[index]
        mod0, mod1 = block.conv0.modulation(ws[:, offset], fused=False), block.conv1.modulation(ws[:, offset + 1],
                                                                                                  fused=False)
        for k, plan in enumerate(plans):
            out0, out1 = plan.layers[step]
            x = block.conv0.apply(windows[k], mod0, noise_mode, out0.as_tuple())
            x = block.conv1.apply(reframe(x, out0, conv_input(out1)), mod1, noise_mode, out1.as_tuple())
            if step + 1 < len(plan.layers):
                x = reframe(x, out1, upsampling_input(plan.layers[step + 1][0]))
            windows[k] = x
    height, width = synthesis.cfg.block_shape(synthesis.block_resolutions[feature_block])
    index = torch.full((height, width), -1, dtype=torch.long, device=base.device)
    start = 0
    for plan in plans:  # where windows overlap, the later one's copy is read (their values are the same)
        box = plan.features
        count = box.shape[0] * box.shape[1]
        index[box.top:box.bottom, box.left:box.right] = torch.arange(start, start + count,
                                                                     device=base.device).reshape(box.shape)
        start += count
    values = torch.cat([window[0].reshape(window.shape[1], -1) for window in windows], dim=1)
    return SparseFeatures(values, index)
