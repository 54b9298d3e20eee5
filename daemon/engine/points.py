"""Points on an image, without torch (the command line checks them before it imports torch): the one definition
of a valid point and of the pixel that holds it. Coordinates are (x, y) pixel indices: the centre of the top-left
pixel is (0, 0)."""

from __future__ import annotations

import math

Point = tuple[float, float]


def inside_image(point: Point, width: int, height: int) -> bool:
    """Whether `point` lies on a width x height image. Pixel centres are 0 .. size - 1, so the image spans
    [-0.5, size - 0.5] on each axis, edges included: the one definition of a valid point."""
    x, y = point
    return -0.5 <= x <= width - 0.5 and -0.5 <= y <= height - 0.5


def nearest_pixel(point: Point, width: int, height: int) -> Point:
    """The centre of the pixel holding `point` (halves round up; an edge point belongs to its edge pixel), so
    every point on the image maps to a pixel of it: (127.5, 0) on a 128 px image is pixel (127, 0)."""
    x, y = point
    return (float(min(max(math.floor(x + 0.5), 0), width - 1)), float(min(max(math.floor(y + 0.5), 0), height - 1)))

