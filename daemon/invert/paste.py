"""Paste-back: the edited model image warped back into the photo with a feathered edge.

The user's document is sacred: every pixel outside the edit region (the selection grown by the feather width)
is copied from the original, byte for byte, and so is the alpha channel everywhere. Inside, the weight of the
edit is 1 on the selection and falls off linearly over `feather` pixels outside it; it also fades out over
`feather` pixels before the edge of the model's square where that edge lies inside the photo (beyond it the
model saw nothing to reproduce).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .region import Frame, InvertInputError, Rect, warp_to_photo


@dataclass(frozen=True)
class PastePlan:
    """Where and how strongly an edit lands in the photo: `alpha` covers the photo pixels in `box`."""

    box: Rect  # x, y, width, height; nothing outside it changes
    alpha: np.ndarray  # float32 box-sized, in [0, 1]
    photo_size: tuple[int, int]  # width, height


def grow_steps(seed: np.ndarray, limit: int) -> np.ndarray:
    """For every pixel, the number of dilation steps that reach it from `seed` (0 on the seed), limit + 1
    where more would be needed. Steps alternate 8- and 4-neighbour growth, which approximates the
    Euclidean distance and never reaches further than `steps` pixels in x or in y."""
    reached = torch.from_numpy(seed.astype(np.float32))[None, None]
    steps = torch.where(reached[0, 0] > 0, 0, limit + 1).to(torch.int32)
    for step in range(1, limit + 1):
        if step % 2:
            reached = F.max_pool2d(reached, 3, stride=1, padding=1)
        else:
            padded = F.pad(reached, (1, 1, 1, 1))
            reached = torch.stack([reached, padded[..., :-2, 1:-1], padded[..., 2:, 1:-1], padded[..., 1:-1, :-2],
                                   padded[..., 1:-1, 2:]]).amax(0)
        steps[(reached[0, 0] > 0) & (steps > limit)] = step
    return steps.numpy()


def _ramp(steps: np.ndarray, feather: int) -> np.ndarray:
    """1 at 0 steps, falling linearly to 0 at feather + 1 steps."""
    return np.clip(1 - steps.astype(np.float32) / (feather + 1), 0, 1)


def plan_paste(frame: Frame, selection: np.ndarray, feather: int) -> PastePlan:
    """The paste weights for a photo-sized boolean `selection`."""
    if feather < 0:
        raise InvertInputError("the feather width must be >= 0")
    height, width = selection.shape
    footprint = frame.footprint(width, height)
    ys, xs = np.nonzero(selection)
    if footprint is None or len(xs) == 0:
        raise InvertInputError("the selection is empty or lies outside the model's region")
    x0, y0 = max(0, int(xs.min()) - feather), max(0, int(ys.min()) - feather)
    x1, y1 = min(width, int(xs.max()) + feather + 1), min(height, int(ys.max()) + feather + 1)
    # Clip to the model square's footprint: no weight lands outside it.
    fx, fy, fw, fh = footprint
    x0, y0, x1, y1 = max(x0, fx), max(y0, fy), min(x1, fx + fw), min(y1, fy + fh)
    if x1 <= x0 or y1 <= y0:
        raise InvertInputError("the selection lies outside the model's region")
    # Work on the box grown by one more feather, so that distances reach in from outside the box.
    gx0, gy0 = max(0, x0 - feather - 1), max(0, y0 - feather - 1)
    gx1, gy1 = min(width, x1 + feather + 1), min(height, y1 + feather + 1)
    selected = _ramp(grow_steps(selection[gy0:gy1, gx0:gx1], feather), feather)
    # Photo pixels whose centre falls outside the model square; pixels outside the photo do not count.
    gy, gx = np.mgrid[gy0:gy1, gx0:gx1]
    model = frame.to_model(np.stack([gx.ravel(), gy.ravel()], axis=1)).reshape(gy1 - gy0, gx1 - gx0, 2)
    edge = frame.resolution - 0.5
    outside = ((model < -0.5) | (model > edge)).any(axis=2)
    inside = _ramp(grow_steps(outside, feather), feather)
    inside = 1 - inside if outside.any() else np.ones_like(inside)
    alpha = (selected * inside)[y0 - gy0:y1 - gy0, x0 - gx0:x1 - gx0]
    return PastePlan((x0, y0, x1 - x0, y1 - y0), np.ascontiguousarray(alpha, dtype=np.float32), (width, height))


def paste_back(original: np.ndarray, edited_model_rgb: np.ndarray, frame: Frame, plan: PastePlan) -> np.ndarray:
    """A copy of `original` (H x W x 3 or 4 uint8) with the edit composited in; equal to it outside the
    edit region and in the alpha channel."""
    original = np.asarray(original)
    if original.dtype != np.uint8 or original.ndim != 3 or original.shape[2] not in (3, 4):
        raise InvertInputError(f"expected an H x W x 3 or 4 uint8 image, got {original.dtype} {original.shape}")
    if (original.shape[1], original.shape[0]) != plan.photo_size:
        raise InvertInputError(f"the image is {original.shape[1]}x{original.shape[0]}, the edit was planned for "
                          f"{plan.photo_size[0]}x{plan.photo_size[1]}")
    res = frame.resolution
    if edited_model_rgb.shape[:2] != (res, res):
        raise InvertInputError(f"the edited image must be {res}x{res}, got {edited_model_rgb.shape[:2]}")
    x, y, w, h = plan.box
    warped = warp_to_photo(edited_model_rgb, frame, plan.box)
    out = original.copy()
    target = out[y:y + h, x:x + w, :3]
    alpha = plan.alpha[:, :, None]
    blended = np.rint(alpha * warped + (1 - alpha) * target.astype(np.float32)).clip(0, 255).astype(np.uint8)
    touched = plan.alpha > 0
    target[touched] = blended[touched]
    return out
