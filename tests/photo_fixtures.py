"""Real photos from ../shared/photos for the inversion tests (public domain / CC0; see its README)."""

from __future__ import annotations

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
