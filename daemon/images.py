"""Image files in and out: photos read as every viewer shows them, masks, PNG/GIF writing, handle/target markers.

A photo (`read_photo`) becomes two arrays:
- `Photo.pixels`: the file's own samples at their own depth (uint8 or uint16), turned upright as its EXIF
  orientation says, in the file's own colour space. This is what the result is made from.
- `Photo.working`: H x W x 3 uint8 sRGB (x 4 with the alpha): what the model sees. 16-bit samples are scaled
  with rounding (v / 257), never clipped; an embedded ICC profile is converted to sRGB (LittleCMS through
  Pillow's ImageCms, perceptual intent); grey is replicated to R, G, B; a palette is expanded.

`Photo.result(edited)` takes the working copy with the edit pasted in and returns the photo at its own depth:
every pixel the edit left unchanged is the file's sample exactly; a changed one is the file's sample plus the
change, carried back into the file's space (the inverse ICC transform, then x 257 for 16 bits). A grey photo file
gets a grey change (ITU-R BT.601 luma, as Pillow's "L" conversion), so no colour appears in it. The file's kind
decides, never its pixels: an RGB file stays RGB with colour changes even when every pixel of it is neutral (a
toned print may differ from grey by a level or two, which a grey change would erase). `write_photo` writes it
as a PNG of the same kind (grey, grey + alpha, RGB, RGBA; 8 or 16 bits; the ICC profile embedded again). What PNG
cannot hold is said in `Photo.notes`: a CMYK photo is converted to sRGB when read and written as RGB; a palette
photo is written as RGB(A).
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageCms, ImageDraw, UnidentifiedImageError

if TYPE_CHECKING:
    from .invert.motion import Carried

Point = tuple[float, float]
Weight = tuple[tuple[int, int, int, int], np.ndarray]  # (x, y, width, height) and a box-sized array in [0, 1]
HANDLE_COLOUR = (230, 40, 40)
TARGET_COLOUR = (40, 90, 230)
ORIENTATION_TAG = 0x0112  # EXIF/TIFF Orientation
GREY_TOLERANCE = 2  # 8-bit levels: an editor layer whose channels never differ by more than this is grey
LUMA = np.array([0.299, 0.587, 0.114])  # ITU-R BT.601, as Pillow's RGB -> L
SRGB = ImageCms.createProfile("sRGB")

# EXIF orientation -> how to turn the stored samples into what viewers show (Pillow's `ImageOps.exif_transpose`),
# as OpenCV calls (a numpy rot90 copy of a 24 Mpx photo takes seconds, these a fraction of one).
_UPRIGHT = {
    2: lambda a, cv2: cv2.flip(a, 1),
    3: lambda a, cv2: cv2.rotate(a, cv2.ROTATE_180),
    4: lambda a, cv2: cv2.flip(a, 0),
    5: lambda a, cv2: cv2.transpose(a),
    6: lambda a, cv2: cv2.rotate(a, cv2.ROTATE_90_CLOCKWISE),
    7: lambda a, cv2: cv2.rotate(cv2.transpose(a), cv2.ROTATE_180),
    8: lambda a, cv2: cv2.rotate(a, cv2.ROTATE_90_COUNTERCLOCKWISE),
}


class ImageFileError(ValueError):
    pass


def upright(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """H x W [x C] samples as stored -> as shown, for EXIF orientation 1-8 (other values: unchanged)."""
    turn = _UPRIGHT.get(orientation) if isinstance(orientation, int) else None
    if turn is None:
        return pixels
    import cv2

    turned = turn(np.ascontiguousarray(pixels), cv2)
    return turned.reshape(*turned.shape[:2], *pixels.shape[2:])  # OpenCV drops a single channel's axis


def to_8_bits(samples: np.ndarray) -> np.ndarray:
    """uint16 -> uint8 by v / 257 rounded half up (65535 -> 255: nothing is clipped), in integers."""
    return (samples // 257 + (samples % 257 > 128)).astype(np.uint8)


def luma(rgb: np.ndarray) -> np.ndarray:
    """... x 3 -> ... float64: 0.299 R + 0.587 G + 0.114 B (exactly v for a grey v, v, v)."""
    return rgb[..., :3].astype(np.float64) @ LUMA


def is_grey(rgb: np.ndarray, alpha: np.ndarray | None = None) -> bool:
    """True when no visible pixel of H x W x 3 uint8 `rgb` has channels more than GREY_TOLERANCE apart."""
    for step in (16, 1):  # a coarse look first: most colour photos are told from a few thousand pixels
        sample = rgb[::step, ::step]
        r, g, b = (sample[..., i].astype(np.int16) for i in range(3))
        spread = np.maximum(np.abs(r - g), np.maximum(np.abs(g - b), np.abs(r - b)))
        if alpha is not None:
            spread = spread[alpha[::step, ::step] > 0]
        if spread.size and spread.max() > GREY_TOLERANCE:
            return False
    return True


@dataclass(frozen=True)
class Photo:
    """A photo as the user sees it and the model's working copy of it (see the module's docstring).

    pixels: H x W x C uint8 or uint16; C = 1 grey, 2 grey + alpha, 3 colour, 4 colour + alpha.
    working: H x W x 3 (4 with alpha) uint8 sRGB.
    """

    pixels: np.ndarray
    working: np.ndarray
    grey: bool  # the result gets only grey changes (a grey file; `daemon/server` sets it for grey layers)
    icc: bytes | None  # the file's profile: pixels are in its space, and the result carries it
    notes: tuple[str, ...]

    @property
    def colours(self) -> int:
        """Colour channels of `pixels` (1 or 3); an alpha channel follows them."""
        return 1 if self.pixels.shape[2] in (1, 2) else 3

    @property
    def bits(self) -> int:
        return 16 if self.pixels.dtype == np.uint16 else 8

    def describe(self) -> str:
        height, width, channels = self.pixels.shape
        kind = {1: "grey", 2: "grey + alpha", 3: "RGB", 4: "RGBA"}[channels]
        return f"{width}x{height} {self.bits}-bit {kind}"

    def result(self, edited: np.ndarray, weight: Weight | None = None, carried: Carried | None = None) -> np.ndarray:
        """`edited` (the working copy with an edit pasted in) at the photo's own depth and in its colour space;
        equal to `pixels` wherever `edited` equals `working`, and in the alpha channel everywhere.

        A changed pixel is T(edited) + (1 - w) (pixels - T(working)), T taking sRGB into the file's space and
        scale: where the edit took over (weight w = 1) it is the edit, where it barely touched (w near 0) the
        file's own sample with the edit's change. `weight`: ((x, y, width, height), box-sized array in [0, 1]),
        the paste-back's weights; None counts every pixel as w = 0 (the file plus the change).

        `carried` (a carry paste's `motion.Carried`, with its `weight`): the moved content is the file's own,
        read at its own precision and in its own space, not the working copy's 8 bits (`_carried_result`).
        """
        if edited.shape != self.working.shape or edited.dtype != np.uint8:
            raise ValueError(f"the edit is {edited.dtype} {edited.shape}, the working copy {self.working.shape}")
        if carried is not None:
            if weight is None or tuple(weight[0]) != tuple(carried.box):
                raise ValueError("a carried edit needs the paste's weights over the same box")
            return self._carried_result(weight[1], carried)
        ys, xs = np.nonzero((edited[..., :3] != self.working[..., :3]).any(axis=2))
        out = self.pixels.copy()
        if len(ys) == 0:
            return out
        c = self.colours
        residual = self.pixels[ys, xs, :c] - self._to_file(self.working[ys, xs])
        if weight is not None:
            (x, y, width, height), alpha = weight
            inside = (xs >= x) & (xs < x + width) & (ys >= y) & (ys < y + height)
            w = np.zeros(len(ys))
            w[inside] = alpha[ys[inside] - y, xs[inside] - x]
            residual *= (1 - w)[:, None]
        top = 65535 if self.bits == 16 else 255
        samples = np.rint(self._to_file(edited[ys, xs]) + residual).clip(0, top)
        out[ys, xs, :c] = samples.astype(self.pixels.dtype)
        return out

    def _carried_result(self, alpha: np.ndarray, carried: Carried) -> np.ndarray:
        """The photo with a carry paste's content: at a pixel the paste touched (weight w > 0) whose content
        changed, w F + (1 - w) pixels, where F = T(content) + kept (P(source) - T(W(source))): the carried
        picture in the file's space, with the detail the 8-bit sRGB working copy W lacks put back from the file's
        own samples P, read at the same sources (`Carried.sample`) in the share `kept` that is the photo's own.
        Where content only moved (kept 1, nothing added), F = P(source): moved 16-bit samples keep their 16 bits.
        T is linear without a profile, exact on floats; with one it acts on 8-bit values (ImageCms), so the
        change the model adds is at 8 bits while the carried samples keep the file's."""
        x, y, w, h = carried.box
        out = self.pixels.copy()
        c = self.colours
        working = self.working[y:y + h, x:x + w, :3]
        changed = (alpha > 0) & (carried.moved | (carried.content != working).any(axis=2) | (carried.kept < 1))
        if not changed.any():
            return out
        own = carried.sample(self.pixels[..., :c])[changed].astype(np.float64)
        seen = carried.sample(self.working[..., :3])[changed]
        kept = carried.kept[changed].astype(np.float64)[:, None]
        lifted = self._to_file(carried.content[changed]) + kept * (own - self._to_file(seen))
        weight = alpha[changed].astype(np.float64)[:, None]
        box = out[y:y + h, x:x + w]
        samples = weight * lifted + (1 - weight) * box[changed][:, :c]
        box[changed, :c] = np.rint(samples).clip(0, 65535 if self.bits == 16 else 255).astype(self.pixels.dtype)
        return out

    def _to_file(self, rgb: np.ndarray) -> np.ndarray:
        """N x 3 sRGB in 8-bit levels (uint8, or float: rounded first where a profile is applied) -> N x colours
        float at the file's scale, in the file's colour space."""
        rgb = np.ascontiguousarray(rgb[:, :3])
        if self.icc is not None:
            rgb = np.rint(rgb).clip(0, 255).astype(np.uint8)
            into = _transform(SRGB, self.icc, "RGB", "L" if self.colours == 1 else "RGB")
            strip = Image.fromarray(rgb[None])
            values = np.asarray(ImageCms.applyTransform(strip, into)).reshape(len(rgb), -1).astype(np.float64)
        else:
            values = rgb.astype(np.float64)
        if self.grey or self.colours == 1:
            values = np.repeat(luma(values) if values.shape[1] == 3 else values[:, 0], self.colours).reshape(
                len(rgb), self.colours)
        return values * (257 if self.bits == 16 else 1)


def _transform(source: object, target: object, in_mode: str, out_mode: str) -> ImageCms.ImageCmsTransform:
    def profile(p: object) -> object:
        return ImageCms.ImageCmsProfile(io.BytesIO(p)) if isinstance(p, bytes) else p

    return ImageCms.buildTransform(profile(source), profile(target), in_mode, out_mode)


def _profile_name(icc: bytes) -> str:
    try:
        return ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(icc))).strip() or "unnamed"
    except (ImageCms.PyCMSError, OSError):
        return "unreadable"


def _deep_rawmode(im: Image.Image) -> str | None:
    """The raw mode of 16-bit colour or grey + alpha samples (RGB;16B, LA;16B, ...), which Pillow would cut to
    8 bits; None for everything Pillow reads whole. Must be asked before anything loads the image."""
    if im.mode not in ("RGB", "RGBA", "LA") or not im.tile:
        return None
    args = im.tile[0].args
    rawmode = args[0] if isinstance(args, tuple) else args
    return rawmode if isinstance(rawmode, str) and ";16" in rawmode else None


def _deep_samples(path: str | Path, rawmode: str) -> np.ndarray:
    import cv2  # OpenCV reads 16-bit colour PNG and TIFF exactly; Pillow has no such mode

    pixels = cv2.imdecode(np.fromfile(str(path), dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if pixels is None or pixels.dtype != np.uint16 or pixels.ndim != 3:
        raise ImageFileError(f"cannot read the 16-bit samples of {path}")
    pixels = pixels[..., [2, 1, 0, 3][:pixels.shape[2]]]  # BGR(A) -> RGB(A)
    return np.ascontiguousarray(pixels[..., [0, 3]] if rawmode.startswith("LA") else pixels)


def _samples(im: Image.Image, path: str | Path, deep: str | None, notes: list[str]) -> tuple[np.ndarray,
                                                                                          bytes | None]:
    """The stored samples as H x W x C (not yet turned upright), and the profile they are in."""
    icc = im.info.get("icc_profile") or None
    mode = im.mode
    if deep is not None:
        return _deep_samples(path, deep), icc
    if mode.startswith("I;16") or mode == "I":
        pixels = np.asarray(im)
        if pixels.min() < 0 or pixels.max() > 65535:
            raise ImageFileError(f"{path} has 32-bit samples; save it with 8 or 16 bits per sample")
        return pixels.astype(np.uint16)[..., None], icc
    if mode == "CMYK":
        notes.append("CMYK: converted to sRGB when read and written as RGB (PNG has no CMYK)")
        if icc is not None:
            try:
                return np.asarray(ImageCms.applyTransform(im, _transform(icc, SRGB, "CMYK", "RGB"))), None
            except (ImageCms.PyCMSError, OSError, ValueError) as exc:
                notes.append(f"its colour profile cannot be used ({exc}); converted without it")
        return np.asarray(im.convert("RGB")), None
    if mode in ("1", "L", "LA", "RGB", "RGBA"):
        pixels = np.asarray(im.convert("L") if mode == "1" else im)
        return (pixels[..., None] if pixels.ndim == 2 else pixels), icc
    if mode in ("P", "PA"):
        notes.append("a palette image: the result is written as RGB(A), since an edit brings new colours")
        alpha = mode == "PA" or "transparency" in im.info
        return np.asarray(im.convert("RGBA" if alpha else "RGB")), icc
    if mode == "F":
        raise ImageFileError(f"{path} has floating-point samples; save it with 8 or 16 bits per sample")
    notes.append(f"{mode} samples: converted to RGB")
    return np.asarray(im.convert("RGBA" if "A" in mode else "RGB")), None


def _working(pixels: np.ndarray, icc: bytes | None, notes: list[str]) -> tuple[np.ndarray, bytes | None]:
    """The model's H x W x 3 (or 4) uint8 sRGB copy, and the profile that stays valid for `pixels`."""
    eight = to_8_bits(pixels) if pixels.dtype == np.uint16 else pixels
    colours = 1 if pixels.shape[2] in (1, 2) else 3
    colour, alpha = eight[..., :colours], eight[..., colours:]
    if icc is not None:
        try:
            to_srgb = _transform(icc, SRGB, "L" if colours == 1 else "RGB", "RGB")
            colour = np.asarray(ImageCms.applyTransform(Image.fromarray(np.squeeze(colour, -1) if colours == 1
                                                                        else colour), to_srgb))
            notes.append(f"colour profile '{_profile_name(icc)}': converted to sRGB for the model; the result "
                         "keeps the profile")
        except (ImageCms.PyCMSError, OSError, ValueError) as exc:
            notes.append(f"its colour profile cannot be used ({exc}); read as sRGB")
            icc = None
    if colour.shape[-1] == 1:
        colour = np.repeat(colour, 3, axis=-1)
    if alpha.shape[-1] == 0:
        return np.ascontiguousarray(colour), icc  # 8-bit RGB without a profile: the pixels themselves
    return np.concatenate([colour, alpha], axis=-1), icc


def read_photo(path: str | Path) -> Photo:
    """The photo at `path` as its viewers show it (see the module's docstring); raises ImageFileError."""
    notes: list[str] = []
    try:
        with Image.open(path) as im:
            deep = _deep_rawmode(im)  # before getexif(), which may load the image
            orientation = im.getexif().get(ORIENTATION_TAG, 1)
            pixels, icc = _samples(im, path, deep, notes)
    except FileNotFoundError:
        raise ImageFileError(f"no such image: {path}") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        if isinstance(exc, ImageFileError):
            raise
        raise ImageFileError(f"cannot read image {path}: {exc}") from None
    if isinstance(orientation, int) and orientation in _UPRIGHT:
        pixels = upright(pixels, orientation)
        notes.append(f"turned upright as its EXIF orientation ({orientation}) says; the result is written upright")
    if pixels.dtype == np.uint16:
        notes.append("16 bits per sample: the model sees 8 (rounded); the result has 16")
    working, icc = _working(pixels, icc, notes)
    grey = pixels.shape[2] in (1, 2)  # the file's kind: an RGB file of neutral pixels stays RGB
    if grey:
        notes.append("greyscale: the result is grey")
    for array in (pixels, working):  # the two may share memory (8-bit RGB without a profile): both read-only
        array.flags.writeable = False
    return Photo(pixels, working, grey, icc, tuple(notes))


# --- writing ------------------------------------------------------------------------------------------------


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _with_icc(png: bytes, icc: bytes) -> bytes:
    """A PNG with an iCCP chunk (profile name, compression 0, zlib data) right after its IHDR chunk."""
    end_of_ihdr = 8 + 8 + 13 + 4  # signature, IHDR length + type, IHDR data, CRC
    chunk = _png_chunk(b"iCCP", b"ICC profile\0\0" + zlib.compress(icc))
    return png[:end_of_ihdr] + chunk + png[end_of_ihdr:]


def write_photo(pixels: np.ndarray, path: str | Path, icc: bytes | None = None) -> None:
    """H x W x C uint8 or uint16 (C = 1, 2, 3, 4 as `Photo.pixels`) as a PNG of that kind and depth, with `icc`.

    16-bit grey + alpha, which neither Pillow nor OpenCV writes, becomes 16-bit RGBA with R = G = B.
    """
    channels = pixels.shape[2]
    if pixels.dtype == np.uint8 or channels == 1:
        plain = pixels[..., 0] if channels == 1 else pixels
        Image.fromarray(np.ascontiguousarray(plain)).save(path, icc_profile=icc)
        return
    import cv2

    if channels == 2:
        pixels = pixels[..., [0, 0, 0, 1]]
    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(pixels[..., [2, 1, 0, 3][:pixels.shape[2]]]))
    if not ok:
        raise ImageFileError(f"cannot encode {path}")
    Path(path).write_bytes(_with_icc(encoded.tobytes(), icc) if icc else encoded.tobytes())


def load_mask(path: str | Path, height: int, width: int) -> np.ndarray:
    """A mask of the image's size (height x width) as a bool array, True where the image may move; turned upright
    by its EXIF orientation, like a photo.

    A pixel may move when it is light (grey level >= 128) and, in an image with transparency (an alpha channel
    or a transparent palette colour), also opaque (alpha >= 128): transparent means fixed, as in editors, where
    what was not painted is not part of the mask, whatever colour its hidden pixels hold.
    """
    try:
        with Image.open(path) as im:
            orientation = im.getexif().get(ORIENTATION_TAG, 1)
            if "A" in im.getbands() or "transparency" in im.info:
                rgba = im.convert("RGBA")
                movable = (np.asarray(rgba.convert("L")) >= 128) & (np.asarray(rgba)[:, :, 3] >= 128)
            else:
                movable = np.asarray(im.convert("L")) >= 128
    except FileNotFoundError:
        raise ImageFileError(f"no such mask: {path}") from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise ImageFileError(f"cannot read mask {path}: {exc}") from None
    movable = upright(movable.astype(np.uint8), orientation) > 0  # OpenCV turns no bool arrays
    if movable.shape != (height, width):
        raise ImageFileError(f"mask {path} is {movable.shape[1]}x{movable.shape[0]}, the image is {width}x{height}")
    return movable


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
