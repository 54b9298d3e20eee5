"""Paste-back: the edit brought back into the photo with a feathered edge.

What lands in the photo depends on the plan's `mode`: "carry" (the default) moves the photo's own pixels along
the edit's motion and adds only what motion does not explain (`motion.py`), so a drag that moves nothing
changes nothing and the photo keeps its resolution and detail; "reconstruction" warps the generator's edited
image back (bicubic), replacing the photo's detail with the model's, for comparison.

The user's document is sacred: every pixel outside the edit region (the selection grown by the feather width)
is copied from the original, byte for byte, and so is the alpha channel everywhere. Inside, the weight of the
edit is the selection's own (1 on a hard selection, its softness on a feathered one) and falls off linearly over
`feather` pixels (Euclidean distance) outside it; it also fades out over `feather` pixels before the edge of
the model's square where that edge lies inside the photo (beyond it the model saw nothing to reproduce).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .motion import Carried, carry_sources
from .region import Frame, InvertInputError, Rect, warp_to_photo

PASTE_MODES = ("carry", "reconstruction")  # the first is the default
SOFT_LEVELS = 16  # a feathered selection grows its feather from this many weight levels


@dataclass(frozen=True)
class PastePlan:
    """Where and how strongly an edit lands in the photo: `alpha` covers the photo pixels in `box`."""

    box: Rect  # x, y, width, height; nothing outside it changes
    alpha: np.ndarray  # float32 box-sized, in [0, 1]
    photo_size: tuple[int, int]  # width, height
    mode: str = PASTE_MODES[0]  # one of PASTE_MODES


def distance_to(seed: np.ndarray) -> np.ndarray:
    """For every pixel, the Euclidean distance in pixels to the nearest pixel of the boolean `seed` (0 on it,
    inf everywhere when the seed is empty). Never less than the distance in x or in y alone."""
    if not seed.any():
        return np.full(seed.shape, np.inf, np.float32)
    if seed.all():
        return np.zeros(seed.shape, np.float32)
    return cv2.distanceTransform((~seed).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)


def _ramp(distance: np.ndarray, feather: int) -> np.ndarray:
    """1 at distance 0, falling linearly to 0 at feather + 1 pixels."""
    return np.clip(1 - distance / (feather + 1), 0, 1).astype(np.float32)


def grow_soft(selection: np.ndarray, feather: int) -> np.ndarray:
    """A selection's weights (H x W in [0, 1]) grown by a linear feather: the largest of the pixel's own weight
    and t * ramp(distance to the pixels weighing at least t), over the levels t = 1/16, 2/16, ..., 1 (a hard
    0/1 selection has one level: the ramp of the distance to it). Nothing reaches `feather` + 1 px or further."""
    weights = np.asarray(selection, dtype=np.float32)
    grown = weights.copy()
    levels = np.unique(np.floor(weights[weights > 0] * SOFT_LEVELS) / SOFT_LEVELS)
    for level in levels[levels > 0]:
        grown = np.maximum(grown, level * _ramp(distance_to(weights >= level), feather))
    return grown


def plan_paste(frame: Frame, selection: np.ndarray, feather: int, mode: str = PASTE_MODES[0]) -> PastePlan:
    """The paste weights for a photo-sized `selection`: boolean, or float weights in [0, 1] (a feathered
    selection: its softness weights the edit)."""
    if feather < 0:
        raise InvertInputError("the feather width must be >= 0")
    if mode not in PASTE_MODES:
        raise InvertInputError(f"the paste mode must be one of {PASTE_MODES}")
    selection = np.asarray(selection)
    height, width = selection.shape
    footprint = frame.footprint(width, height)
    cols, rows = np.flatnonzero(selection.any(axis=0)), np.flatnonzero(selection.any(axis=1))
    if footprint is None or len(cols) == 0:
        raise InvertInputError("the selection is empty or lies outside the model's region")
    x0, y0 = max(0, int(cols[0]) - feather), max(0, int(rows[0]) - feather)
    x1, y1 = min(width, int(cols[-1]) + feather + 1), min(height, int(rows[-1]) + feather + 1)
    # Clip to the model square's footprint: no weight lands outside it.
    fx, fy, fw, fh = footprint
    x0, y0, x1, y1 = max(x0, fx), max(y0, fy), min(x1, fx + fw), min(y1, fy + fh)
    if x1 <= x0 or y1 <= y0:
        raise InvertInputError("the selection lies outside the model's region")
    # Work on the box grown by one more feather, so that distances reach in from outside the box.
    gx0, gy0 = max(0, x0 - feather - 1), max(0, y0 - feather - 1)
    gx1, gy1 = min(width, x1 + feather + 1), min(height, y1 + feather + 1)
    selected = grow_soft(np.clip(selection[gy0:gy1, gx0:gx1].astype(np.float32), 0, 1), feather)
    # Photo pixels whose centre falls outside the model square; pixels outside the photo do not count.
    gx = np.arange(gx0, gx1, dtype=np.float64)[None, :]
    gy = np.arange(gy0, gy1, dtype=np.float64)[:, None]
    edge = frame.resolution - 0.5
    outside = np.zeros(selected.shape, dtype=bool)
    for (a, b, c) in frame.matrix:
        coordinate = a * gx + b * gy + c
        outside |= (coordinate < -0.5) | (coordinate > edge)
    inside = 1 - _ramp(distance_to(outside), feather)
    alpha = (selected * inside)[y0 - gy0:y1 - gy0, x0 - gx0:x1 - gx0]
    return PastePlan((x0, y0, x1 - x0, y1 - y0), np.ascontiguousarray(alpha, dtype=np.float32), (width, height),
                     mode)


def paste_back(original: np.ndarray, reference_model_rgb: np.ndarray, edited_model_rgb: np.ndarray, frame: Frame,
               plan: PastePlan) -> np.ndarray:
    """A copy of `original` (H x W x 3 or 4 uint8) with the edit composited in; equal to it outside the
    edit region and in the alpha channel. `reference_model_rgb` is the generator's image before the edit (G0,
    the pivot's), `edited_model_rgb` after it (G1), both R x R x 3 uint8."""
    return paste_carried(original, reference_model_rgb, edited_model_rgb, frame, plan)[0]


def paste_carried(original: np.ndarray, reference_model_rgb: np.ndarray, edited_model_rgb: np.ndarray,
                  frame: Frame, plan: PastePlan) -> tuple[np.ndarray, Carried | None]:
    """`paste_back`'s result, and for a "carry" plan how the photo's content moved (`motion.Carried`: a photo
    file carries its own samples along it, `images.Photo.result`; None for "reconstruction")."""
    original = np.asarray(original)
    if original.dtype != np.uint8 or original.ndim != 3 or original.shape[2] not in (3, 4):
        raise InvertInputError(f"expected an H x W x 3 or 4 uint8 image, got {original.dtype} {original.shape}")
    if (original.shape[1], original.shape[0]) != plan.photo_size:
        raise InvertInputError(f"the image is {original.shape[1]}x{original.shape[0]}, the edit was planned for "
                          f"{plan.photo_size[0]}x{plan.photo_size[1]}")
    res = frame.resolution
    for image in (reference_model_rgb, edited_model_rgb):
        if image.shape[:2] != (res, res):
            raise InvertInputError(f"the model images must be {res}x{res}, got {image.shape[:2]}")
    x, y, w, h = plan.box
    carried = None
    if plan.mode == "reconstruction":
        content = warp_to_photo(edited_model_rgb, frame, plan.box)
    else:
        carried = carry_sources(original, reference_model_rgb, edited_model_rgb, frame, plan.box)
        content = carried.content
    out = original.copy()
    target = out[y:y + h, x:x + w, :3]
    alpha = plan.alpha[:, :, None]
    blended = np.rint(alpha * content + (1 - alpha) * target.astype(np.float32)).clip(0, 255).astype(np.uint8)
    touched = plan.alpha > 0
    target[touched] = blended[touched]
    return out, carried
