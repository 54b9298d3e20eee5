"""Fixtures shared across the suite: small random-weight generators, the embedded model, loopback addresses."""

from __future__ import annotations

import math
import os
import socket

# One intra-op thread for the suite and the daemons/CLIs it starts: on a shared 2-core machine torch's default
# (one spinning OpenMP thread per core) made small drags ~16x slower than one thread. A user's setting wins.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402
import torch  # noqa: E402
from dragd.daemon.models.stylegan2 import Generator, GeneratorConfig  # noqa: E402
from dragd.daemon.models.stylegan3 import StyleGAN3Config, StyleGAN3Generator  # noqa: E402

torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))

TINY = GeneratorConfig(img_resolution=32, z_dim=32, w_dim=32, mapping_layers=2, channel_base=512, channel_max=32)
# A StyleGAN3 small enough for seconds-long tests; its 6th layer (L5, the drag's feature layer) keeps a margin.
TINY3 = StyleGAN3Config(img_resolution=16, z_dim=16, w_dim=16, channel_base=256, channel_max=16, num_layers=8,
                        margin_size=2)


def make_generator(cfg: GeneratorConfig = TINY, seed: int = 0) -> Generator:
    torch.manual_seed(seed)
    generator = Generator(cfg)
    with torch.no_grad():  # noise strengths start at zero; give them a value so noise paths are exercised
        for name, p in generator.named_parameters():
            if name.endswith("noise_strength"):
                p.fill_(0.1)
    return generator.eval().requires_grad_(False)


def make_stylegan3_generator(cfg: StyleGAN3Config = TINY3, seed: int = 0) -> StyleGAN3Generator:
    """A StyleGAN3 with every parameter and w_avg random, input magnitudes around 1, a rotated input transform."""
    rng = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    generator = StyleGAN3Generator(cfg)
    with torch.no_grad():
        for name, tensor in generator.state_dict().items():
            if name.endswith(("weight", "w_avg")):
                tensor.copy_(torch.randn(tensor.shape, generator=rng))
            elif name.endswith("bias"):
                tensor.copy_(torch.randn(tensor.shape, generator=rng) * 0.3 + (1 if ".affine." in name else 0))
            elif name.endswith("magnitude_ema"):
                tensor.fill_(0.5 + torch.rand([], generator=rng).item())
        angle = 0.3
        generator.synthesis.input.transform.copy_(torch.tensor(
            [[math.cos(angle), -math.sin(angle), 0.1], [math.sin(angle), math.cos(angle), -0.2], [0.0, 0.0, 1.0]]))
    return generator.eval().requires_grad_(False)


def free_tcp_address() -> str:
    """A tcp address on loopback where nothing listens (the port was free a moment ago)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{probe.getsockname()[1]}"


@pytest.fixture
def tiny_generator() -> Generator:
    return make_generator()


@pytest.fixture
def tiny_stylegan3() -> StyleGAN3Generator:
    return make_stylegan3_generator()


@pytest.fixture(scope="session")
def embedded_generator() -> Generator:
    from dragd.daemon.models.loader import load_generator
    from dragd.daemon.models.registry import find_model

    return load_generator(find_model(None).path)


@pytest.fixture
def http_server():
    """(base address, Served): a loopback HTTP server with Range support for download tests (tests/http_fixtures.py)."""
    from http_fixtures import serve_loopback

    with serve_loopback() as server:
        yield server
