"""Non-square generators: StyleGAN-Human's portrait layout (H x H/2), from the weights to a safetensors file."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch
from dragd.daemon.models.loader import convert, load_generator, read_checkpoint
from dragd.daemon.models.stylegan2 import Generator, GeneratorConfig, UnsupportedModelError
from model_fixtures import TINY, outputs, random_generator, write_nvidia_pickle

PORTRAIT = replace(TINY, square=False)


def test_portrait_generator_has_the_stylegan_human_shapes() -> None:
    generator = Generator(PORTRAIT)
    assert PORTRAIT.img_shape == (16, 8)
    assert generator.img_shape == (16, 8)
    assert tuple(generator.synthesis.b4.const.shape[1:]) == (4, 2)
    assert tuple(generator.synthesis.b16.conv0.noise_const.shape) == (16, 8)
    for noise_mode in ("const", "random", "none"):
        image = generator(torch.randn(2, PORTRAIT.z_dim), noise_mode=noise_mode)
        assert image.shape == (2, 3, 16, 8)


def test_partial_forward_of_a_portrait_generator_matches_the_whole() -> None:
    generator = random_generator(PORTRAIT)
    ws = generator.ws_for_seed(3)
    with torch.no_grad():
        whole = generator.synthesis(ws)
        half = generator.synthesis.run(ws, 0, 2)
        assert half.x.shape[2:] == (8, 4)
        rest = generator.synthesis.run(ws, 2, None, half)
    assert torch.equal(whole, rest.img)


def test_square_is_read_from_kwargs_and_defaults_to_true() -> None:
    kwargs = TINY.nvidia_kwargs()
    assert "square" not in kwargs  # square files keep exactly the kwargs they had
    assert GeneratorConfig.from_nvidia_kwargs(kwargs).square is True
    portrait_kwargs = PORTRAIT.nvidia_kwargs()
    assert portrait_kwargs["square"] is False
    assert GeneratorConfig.from_nvidia_kwargs(portrait_kwargs) == PORTRAIT
    with pytest.raises(UnsupportedModelError, match="square"):
        GeneratorConfig.from_nvidia_kwargs({**kwargs, "square": "no"})


def test_stylegan_human_pickle_without_the_square_kwarg_loads_from_its_weights(tmp_path: Path) -> None:
    """Released StyleGAN-Human pickles do not say `square=False`: the 4x2 constant does."""
    generator = random_generator(PORTRAIT, seed=4)
    path = write_nvidia_pickle(tmp_path / "stylegan_human.pkl", generator, only_g_ema=True)
    checkpoint = read_checkpoint(path)
    assert checkpoint.config == PORTRAIT
    loaded = load_generator(path)
    assert torch.equal(outputs(loaded), outputs(generator))


def test_portrait_model_survives_conversion_to_safetensors(tmp_path: Path) -> None:
    generator = random_generator(PORTRAIT, seed=5)
    src = write_nvidia_pickle(tmp_path / "human.pkl", generator)
    convert(src, tmp_path / "human.safetensors")
    loaded = load_generator(tmp_path / "human.safetensors")
    assert loaded.img_shape == (16, 8)
    assert torch.equal(outputs(loaded), outputs(generator))


def test_square_pickle_is_still_square(tmp_path: Path) -> None:
    generator = random_generator(TINY, seed=6)
    path = write_nvidia_pickle(tmp_path / "square.pkl", generator)
    assert read_checkpoint(path).config.square is True
