"""The generator: the embedded model reproduces its training-time sample grid; outputs are deterministic."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from dragd.daemon.models.loader import load_generator
from dragd.daemon.models.stylegan2 import to_uint8_image
from model_fixtures import TINY, outputs, random_generator
from PIL import Image

REPO = Path(__file__).resolve().parents[3]
EMBEDDED = REPO / "daemon" / "models" / "embedded" / "faces-128-cpu.safetensors"
# Rendered by NVIDIA's code when the model was trained: seeds 0..15, psi 0.7, row-major 4 x 4 tiles.
GRID = REPO.parent / "shared" / "models" / "faces-128-cpu" / "grid.png"  # shared/ lies beside the repository
TILE = 128


@pytest.fixture(scope="module")
def embedded():
    return load_generator(EMBEDDED)


def _tile(grid: np.ndarray, seed: int) -> np.ndarray:
    row, col = divmod(seed, 4)
    return grid[row * TILE:(row + 1) * TILE, col * TILE:(col + 1) * TILE]


@pytest.mark.parametrize("seed", [0, 5, 15])
def test_embedded_model_matches_its_sample_grid(embedded, seed):
    grid = np.asarray(Image.open(GRID).convert("RGB"))
    with torch.no_grad():
        image = to_uint8_image(embedded.synthesis(embedded.ws_for_seed(seed, truncation_psi=0.7)))
    difference = np.abs(image.astype(int) - _tile(grid, seed).astype(int))
    assert difference.max() <= 1, f"seed {seed}: up to {difference.max()} levels off"
    # A wrong tile or seed differs by far more than rounding: make sure the check can fail.
    other = np.abs(image.astype(int) - _tile(grid, (seed + 1) % 16).astype(int))
    assert other.max() > 50


def test_embedded_model_config(embedded):
    assert embedded.img_resolution == 128 and embedded.num_ws == 12


def test_same_seed_same_image(embedded):
    with torch.no_grad():
        first = embedded.synthesis(embedded.ws_for_seed(7))
        second = embedded.synthesis(embedded.ws_for_seed(7))
        other = embedded.synthesis(embedded.ws_for_seed(8))
    assert torch.equal(first, second)
    assert not torch.equal(first, other)


def test_tiny_generator_is_deterministic_and_batch_independent():
    generator = random_generator(TINY, seed=9)
    both = outputs(generator)
    assert torch.equal(both, outputs(random_generator(TINY, seed=9)))
    z = torch.from_numpy(np.random.RandomState(0).randn(2, TINY.z_dim)).float()
    with torch.no_grad():
        single = generator(z[:1], truncation_psi=0.7)
    torch.testing.assert_close(single, both[:1], atol=1e-5, rtol=1e-5)
