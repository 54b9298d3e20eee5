"""Photos for the tests: the real ones in ../shared/photos (public domain / CC0; see its README), and files of
every kind the photo reader must handle, built here: 16-bit PNGs written byte by byte (no library under test
writes them), an ICC matrix profile written by hand (Display P3's colorants, gamma 2.2), EXIF orientation."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

PHOTOS = Path(__file__).resolve().parents[2] / "shared" / "photos"


def photo(name: str) -> np.ndarray:
    path = PHOTOS / name
    if not path.is_file():
        pytest.fail(f"test photo {path} is missing (the shared/ folder beside the repository)")
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


# Display P3's colorants adapted to D50, as Apple's "Display P3" profile lists them (rXYZ, gXYZ, bXYZ).
P3_COLORANTS = ((0.5151, 0.2412, -0.0011), (0.2920, 0.6922, 0.0419), (0.1571, 0.0666, 0.7841))
# sRGB's, from the same Bradford adaptation (IEC 61966-2-1 primaries).
SRGB_COLORANTS = ((0.4361, 0.2225, 0.0139), (0.3851, 0.7169, 0.0971), (0.1431, 0.0606, 0.7141))
D50 = (0.9642, 1.0, 0.8249)


def _s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def _xyz(x: float, y: float, z: float) -> bytes:
    return b"XYZ " + bytes(4) + _s15(x) + _s15(y) + _s15(z)


def matrix_profile(name: str, colorants=P3_COLORANTS, gamma: float = 2.2) -> bytes:
    """An ICC v2 RGB display profile: three colorants (D50 XYZ) and one pure-gamma tone curve."""
    text = name.encode() + b"\0"
    desc = b"desc" + bytes(4) + struct.pack(">I", len(text)) + text + bytes(8) + bytes(3) + bytes(67)
    curve = b"curv" + bytes(4) + struct.pack(">IH", 1, round(gamma * 256)) + bytes(2)
    tags = [(b"desc", desc), (b"wtpt", _xyz(*D50)), (b"cprt", b"text" + bytes(4) + b"none\0")]
    tags += [(sig, _xyz(*xyz)) for sig, xyz in zip((b"rXYZ", b"gXYZ", b"bXYZ"), colorants, strict=True)]
    tags += [(b"rTRC", curve), (b"gTRC", curve), (b"bTRC", curve)]
    offset = 128 + 4 + 12 * len(tags)
    table, data = b"", b""
    for sig, body in tags:
        body += bytes(-len(body) % 4)
        table += sig + struct.pack(">II", offset + len(data), len(body))
        data += body
    header = struct.pack(">I", offset + len(data)) + b"none" + bytes([2, 0x10, 0, 0]) + b"mntrRGB XYZ "
    header += bytes(12) + b"acsp"
    header += bytes(68 - len(header)) + _s15(D50[0]) + _s15(D50[1]) + _s15(D50[2])
    header += bytes(128 - len(header))
    return header + struct.pack(">I", len(tags)) + table + data


def matrix_to_srgb(rgb: np.ndarray, colorants=P3_COLORANTS, gamma: float = 2.2) -> np.ndarray:
    """What a colour-managed viewer shows for `rgb` (... x 3 uint8) in a `matrix_profile`: float sRGB 0-255."""
    linear = (rgb / 255.0) ** gamma
    xyz = linear @ np.array(colorants)
    srgb_linear = np.clip(xyz @ np.linalg.inv(np.array(SRGB_COLORANTS)), 0, 1)
    encoded = np.where(srgb_linear <= 0.0031308, 12.92 * srgb_linear, 1.055 * srgb_linear ** (1 / 2.4) - 0.055)
    return encoded * 255


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png16(path: Path, samples: np.ndarray) -> Path:
    """H x W x C uint16 (C = 1 grey, 2 grey + alpha, 3 RGB, 4 RGBA) as a 16-bit PNG, written by hand."""
    height, width, channels = samples.shape
    raw = b"".join(b"\0" + samples[y].astype(">u2").tobytes() for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 16, {1: 0, 2: 4, 3: 2, 4: 6}[channels], 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(raw))
                     + _chunk(b"IEND", b""))
    return path


def with_orientation(upright: Image.Image, orientation: int) -> Image.Image:
    """The stored image whose EXIF `orientation` (6: turn 90 degrees clockwise to show) shows `upright`."""
    undo = {3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}
    return upright.transpose(undo[orientation])


def save_with_orientation(upright: Image.Image, orientation: int, path: Path, **params) -> Path:
    exif = Image.Exif()
    exif[0x0112] = orientation
    with_orientation(upright, orientation).save(path, exif=exif, **params)
    return path


def gradient(height: int, width: int, top: int = 65535) -> np.ndarray:
    """H x W x 3 uint16 smooth colour ramps reaching `top` (a 16-bit image that 8 bits cannot hold)."""
    ys, xs = np.mgrid[0:height, 0:width]
    ramps = [xs / (width - 1), ys / (height - 1), (xs + ys) / (width + height - 2)]
    return np.stack([np.rint(r * top) for r in ramps], axis=2).astype(np.uint16)
