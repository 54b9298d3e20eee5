"""Where the model looks in the photo: a square of the photo mapped onto the model's pixel grid.

A `Frame` is a similarity transform (rotation, uniform scale, translation) from photo pixel centres to model
pixel centres; the centre of the top-left pixel is (0, 0) in both. A plain region is an axis-aligned square
(`square_frame`); a face region is rotated and scaled to the model's face alignment (`align.py`). Pixels are
moved between the two grids by `warp_to_model` (photo -> model, low-pass filtered when shrinking, so that the
model sees what a downscaled photo looks like) and `warp_to_photo` (model -> photo, bicubic).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..engine.points import inside_image

if TYPE_CHECKING:  # torch is imported by the functions that move pixels: the checks above them need none
    import torch

Rect = tuple[int, int, int, int]  # x, y, width, height in photo pixels
MIN_SIDE = 8  # pixels: the smallest width and height of a photo an inversion takes


class InvertInputError(ValueError):
    """A photo, region, mask or option that cannot describe an inversion or a paste-back."""


@dataclass(frozen=True)
class Frame:
    """photo pixel centre p -> model pixel centre matrix[:, :2] @ p + matrix[:, 2], on a resolution^2 grid."""

    matrix: np.ndarray  # 2 x 3, float64
    resolution: int

    @property
    def scale(self) -> float:
        """Model pixels per photo pixel."""
        return float(math.sqrt(abs(np.linalg.det(self.matrix[:, :2]))))

    @property
    def inverse(self) -> np.ndarray:
        """The 2 x 3 matrix from model pixel centres to photo pixel centres."""
        linear = np.linalg.inv(self.matrix[:, :2])
        return np.hstack([linear, -linear @ self.matrix[:, 2:]])

    def to_model(self, points: np.ndarray) -> np.ndarray:
        points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        return points @ self.matrix[:, :2].T + self.matrix[:, 2]

    def to_photo(self, points: np.ndarray) -> np.ndarray:
        inverse = self.inverse
        points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        return points @ inverse[:, :2].T + inverse[:, 2]

    def footprint(self, width: int, height: int) -> Rect | None:
        """The photo pixels the model square touches (clipped to the photo), or None if it misses the photo."""
        edge = self.resolution - 0.5
        corners = self.to_photo(np.array([[-0.5, -0.5], [edge, -0.5], [edge, edge], [-0.5, edge]]))
        x0 = max(0, math.floor(corners[:, 0].min()))
        y0 = max(0, math.floor(corners[:, 1].min()))
        x1 = min(width, math.ceil(corners[:, 0].max()) + 1)
        y1 = min(height, math.ceil(corners[:, 1].max()) + 1)
        if x1 <= x0 or y1 <= y0:
            return None
        return x0, y0, x1 - x0, y1 - y0


def points_outside(frame: Frame, points) -> list[tuple[float, float]]:
    """The photo points (pixel centres) whose model position is not on the model's square (`inside_image`)."""
    if len(points) == 0:
        return []
    model = frame.to_model(np.asarray(points, dtype=np.float64))
    res = frame.resolution
    return [(float(x), float(y)) for (x, y), m in zip(points, model, strict=True)
            if not inside_image((float(m[0]), float(m[1])), res, res)]


def check_photo(rgb: np.ndarray) -> np.ndarray:
    """The photo as H x W x 3 uint8 (an alpha channel is dropped here; paste-back keeps it)."""
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] not in (3, 4) or rgb.dtype != np.uint8:
        raise InvertInputError(f"expected an H x W x 3 or 4 uint8 image, got {rgb.dtype} of shape {rgb.shape}")
    check_size(rgb.shape[1], rgb.shape[0])
    return rgb[:, :, :3]


def check_size(width: int, height: int) -> None:
    if min(width, height) < MIN_SIDE:
        raise InvertInputError(f"the image is too small ({width}x{height}); it needs at least {MIN_SIDE}x{MIN_SIDE} "
                               "pixels")


def check_inputs(width: int, height: int, region: Rect | None = None, mask: np.ndarray | None = None,
                 points: Sequence[tuple[float, float]] = ()) -> Rect | None:
    """Everything about an inversion that the photo's size tells, checked before a model is loaded (and without
    torch): the size, the region (returned as ints), the mask's size and that it selects something, and that
    the points (photo pixel centres, handles and targets) lie on the photo (`inside_image`). Whether the
    model's square holds them is known only once the frame is (`points_outside`). Raises InvertInputError."""
    check_size(width, height)
    rect = None if region is None else check_rect(region, width, height)
    if mask is not None:
        mask = np.asarray(mask)
        if mask.shape != (height, width):
            raise InvertInputError(f"the mask is {'x'.join(map(str, mask.shape[::-1]))}, the image {width}x{height}")
        if not mask.any():
            raise InvertInputError("the mask selects nothing")
    for x, y in points:
        if not inside_image((x, y), width, height):
            raise InvertInputError(f"point ({x:g}, {y:g}) lies outside the {width}x{height} image")
    return rect


def check_rect(rect: Rect, width: int, height: int) -> Rect:
    x, y, w, h = (int(v) for v in rect)
    if w < 1 or h < 1:
        raise InvertInputError(f"region {rect} is empty")
    if x < 0 or y < 0 or x + w > width or y + h > height:
        raise InvertInputError(f"region {rect} reaches outside the {width}x{height} image")
    return x, y, w, h


def mask_bbox(mask: np.ndarray) -> Rect | None:
    """The bounding box of a mask's non-zero pixels, or None when it has none."""
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    return int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)


def square_frame(rect: Rect, width: int, height: int, resolution: int, margin: float = 0.1) -> Frame:
    """The square around `rect` grown by `margin` of its longer side on each side, kept inside the photo
    where it fits (shifted, not shrunk), centred on the photo along an axis where it does not fit."""
    x, y, w, h = rect
    side = max(w, h) * (1 + 2 * margin)
    side = min(side, max(width, height))  # never larger than the photo's longer side

    def place(start: float, length: float, limit: int) -> float:
        lo = start + length / 2 - side / 2
        if side >= limit:
            return (limit - side) / 2
        return min(max(lo, 0.0), limit - side)

    left, top = place(x, w, width), place(y, h, height)
    # In pixel-edge coordinates (pixel i spans [i, i + 1)) the map is e' = (e - left) * s; centres are edges + 0.5.
    s = resolution / side
    matrix = np.array([[s, 0.0, s * (0.5 - left) - 0.5], [0.0, s, s * (0.5 - top) - 0.5]])
    return Frame(matrix, resolution)


# --- pixels between the grids -------------------------------------------------------------------------


def _grid(matrix: np.ndarray, out_h: int, out_w: int, in_h: int, in_w: int, offset: tuple[float, float],
          device: torch.device) -> torch.Tensor:
    """grid_sample's grid: for each output pixel centre (plus `offset`), its input centre, normalised."""
    import torch

    ys, xs = torch.meshgrid(torch.arange(out_h, dtype=torch.float64) + offset[1],
                            torch.arange(out_w, dtype=torch.float64) + offset[0], indexing="ij")
    m = torch.from_numpy(matrix)
    u = m[0, 0] * xs + m[0, 1] * ys + m[0, 2]
    v = m[1, 0] * xs + m[1, 1] * ys + m[1, 2]
    # align_corners=False: pixel centre c of an n-pixel axis sits at (2 c + 1) / n - 1.
    grid = torch.stack([(2 * u + 1) / in_w - 1, (2 * v + 1) / in_h - 1], dim=-1)
    return grid.to(device, torch.float32)[None]


def warp_to_model(rgb: np.ndarray, frame: Frame, device: torch.device | str = "cpu") -> torch.Tensor:
    """The model's view of the photo: [1, 3, R, R] float in [-1, 1]. Outside the photo it is mirrored.

    When the model square is smaller than the photo square, the photo is first box-averaged by the largest
    whole factor that still leaves at least one photo sample per model pixel (aliasing would otherwise put
    detail into the target that no downscaled photo has).
    """
    import torch
    import torch.nn.functional as F

    rgb = check_photo(rgb)
    height, width = rgb.shape[:2]
    res = frame.resolution
    box = frame.footprint(width, height)
    if box is None:
        raise InvertInputError("the region lies outside the image")
    # Crop generously (the mirrored border needs a few pixels beyond the footprint) and work on that.
    pad = 4 + math.ceil(1 / max(frame.scale, 1e-9))
    x0, y0 = max(0, box[0] - pad), max(0, box[1] - pad)
    x1, y1 = min(width, box[0] + box[2] + pad), min(height, box[1] + box[3] + pad)
    crop = torch.from_numpy(rgb[y0:y1, x0:x1].copy()).to(device).permute(2, 0, 1)[None].float()
    crop = crop / 127.5 - 1
    factor = max(1, math.floor(1 / frame.scale))
    factor = min(factor, crop.shape[2], crop.shape[3])
    if factor > 1:
        crop = F.avg_pool2d(crop, factor)
    # Reduced pixel k covers crop pixels [k f, (k + 1) f): its centre is crop pixel k f + (f - 1) / 2.
    to_photo = frame.inverse  # model -> photo
    shift = np.array([x0 + (factor - 1) / 2, y0 + (factor - 1) / 2])
    to_reduced = np.hstack([to_photo[:, :2] / factor, ((to_photo[:, 2] - shift) / factor)[:, None]])
    grid = _grid(to_reduced, res, res, crop.shape[2], crop.shape[3], (0.0, 0.0), crop.device)
    return F.grid_sample(crop, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def warp_to_photo(model_rgb: np.ndarray, frame: Frame, box: Rect) -> np.ndarray:
    """The model image seen from the photo: float H x W x 3 in [0, 255] for the photo pixels in `box`.

    Bicubic (the model square is usually smaller than the photo square); beyond the model square's edge
    the border pixel repeats, and paste-back fades that part out anyway.
    """
    import torch
    import torch.nn.functional as F

    x, y, w, h = box
    image = torch.from_numpy(np.array(model_rgb[:, :, :3])).permute(2, 0, 1)[None].float()
    grid = _grid(frame.matrix, h, w, frame.resolution, frame.resolution, (float(x), float(y)), image.device)
    out = F.grid_sample(image, grid, mode="bicubic", padding_mode="border", align_corners=False)
    return out[0].permute(1, 2, 0).clamp(0, 255).numpy()


def mask_to_model(mask: np.ndarray, frame: Frame) -> np.ndarray:
    """A photo-sized boolean mask seen on the model's grid (nearest photo pixel; outside the photo: False)."""
    import torch
    import torch.nn.functional as F

    height, width = mask.shape
    image = torch.from_numpy(mask.astype(np.float32))[None, None]
    res = frame.resolution
    grid = _grid(frame.inverse, res, res, height, width, (0.0, 0.0), image.device)
    return F.grid_sample(image, grid, mode="nearest", padding_mode="zeros", align_corners=False)[0, 0].numpy() > 0.5
