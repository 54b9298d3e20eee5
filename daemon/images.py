"""Image files in and out for the CLI: reading images and masks, PNG/GIF writing, drawing handle/target markers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, UnidentifiedImageError

Point = tuple[float, float]
HANDLE_COLOUR = (230, 40, 40)
TARGET_COLOUR = (40, 90, 230)


class ImageFileError(ValueError):
    pass


def load_image(path: str | Path) -> np.ndarray:
    """H x W x 3 uint8, or H x W x 4 when the file has transparency (kept untouched by paste-back)."""
    try:
        with Image.open(path) as im:
            has_alpha = im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info)
            return np.asarray(im.convert("RGBA" if has_alpha else "RGB"))
    except FileNotFoundError:
        raise ImageFileError(f"no such image: {path}") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise ImageFileError(f"cannot read image {path}: {exc}") from None


def load_mask(path: str | Path, height: int, width: int) -> np.ndarray:
    """A mask of the image's size (height x width) as a bool array, True where the image may move.

    A pixel may move when it is light (grey level >= 128) and, in an image with transparency (an alpha channel
    or a transparent palette colour), also opaque (alpha >= 128): transparent means fixed, as in editors, where
    what was not painted is not part of the mask, whatever colour its hidden pixels hold.
    """
    try:
        with Image.open(path) as im:
            if im.size != (width, height):
                raise ImageFileError(f"mask {path} is {im.size[0]}x{im.size[1]}, the image is {width}x{height}")
            if "A" in im.getbands() or "transparency" in im.info:
                rgba = im.convert("RGBA")
                return (np.asarray(rgba.convert("L")) >= 128) & (np.asarray(rgba)[:, :, 3] >= 128)
            return np.asarray(im.convert("L")) >= 128
    except FileNotFoundError:
        raise ImageFileError(f"no such mask: {path}") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise ImageFileError(f"cannot read mask {path}: {exc}") from None


def save_png(pixels: np.ndarray, path: str | Path) -> None:
    Image.fromarray(pixels).save(path)


def draw_points(pixels: np.ndarray, handles: list[Point], targets: list[Point], scale: int = 1) -> Image.Image:
    """The image (optionally enlarged) with an arrow from each handle to its target."""
    im = Image.fromarray(pixels).convert("RGB")
    if scale > 1:
        im = im.resize((im.width * scale, im.height * scale), Image.NEAREST)
    draw = ImageDraw.Draw(im)
    radius = max(2, scale * 2)

    def at(p: Point) -> tuple[float, float]:
        return ((p[0] + 0.5) * scale, (p[1] + 0.5) * scale)

    for handle, target in zip(handles, targets, strict=True):
        draw.line([at(handle), at(target)], fill=(255, 255, 255), width=max(1, scale // 2))
        for p, colour in ((target, TARGET_COLOUR), (handle, HANDLE_COLOUR)):
            x, y = at(p)
            draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=colour, outline=(255, 255, 255))
    return im


def side_by_side(left: Image.Image, right: Image.Image, gap: int = 8) -> Image.Image:
    out = Image.new("RGB", (left.width + gap + right.width, max(left.height, right.height)), (255, 255, 255))
    out.paste(left, (0, 0))
    out.paste(right, (left.width + gap, 0))
    return out


def save_gif(frames: list[Image.Image], path: str | Path, frame_ms: int = 80, hold_last_ms: int = 1200) -> None:
    if not frames:
        raise ValueError("no frames to write")
    durations = [frame_ms] * (len(frames) - 1) + [hold_last_ms]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=durations, loop=0, optimize=False)
