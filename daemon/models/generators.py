"""The generator families dragd runs (StyleGAN2, StyleGAN3), and the one place that tells them apart.

A family is named as NVIDIA's training configs name the generator class (`class_name` in their kwargs);
dragd's own files record it the same way (`canonical`). Everything family-specific that readers, the
loader and the canonical writer need goes through here: config from kwargs and building (each config writes
its own kwargs: `nvidia_kwargs()`).
"""

from __future__ import annotations

from typing import Any

import torch

from .stylegan2 import Generator, GeneratorConfig, UnsupportedModelError
from .stylegan3 import StyleGAN3Config, StyleGAN3Generator

ModelConfig = GeneratorConfig | StyleGAN3Config
FAMILIES = ("stylegan2", "stylegan3")
DEFAULT_FAMILY = "stylegan2"  # files written before dragd knew StyleGAN3 name no family
NVIDIA_CLASS_NAMES = {"stylegan2": "training.networks_stylegan2.Generator",
                      "stylegan3": "training.networks_stylegan3.Generator"}


def family_of(config_or_generator: ModelConfig | Generator) -> str:
    config = config_or_generator.cfg if isinstance(config_or_generator, Generator) else config_or_generator
    return "stylegan3" if isinstance(config, StyleGAN3Config) else "stylegan2"


def family_from_class_name(class_name: Any) -> str:
    """The family a recorded class name names (NVIDIA's `training.networks_stylegan3.Generator`, or the family
    itself); None means StyleGAN2, anything else is refused."""
    if class_name is None:
        return DEFAULT_FAMILY
    for family, nvidia_name in NVIDIA_CLASS_NAMES.items():
        if class_name in (family, nvidia_name):
            return family
    raise UnsupportedModelError(f"unknown generator class {class_name!r} (dragd runs {', '.join(FAMILIES)})")


def config_from_kwargs(kwargs: dict[str, Any], family: str) -> ModelConfig:
    """The config NVIDIA's init kwargs describe for a generator of `family`."""
    if family == "stylegan3":
        return StyleGAN3Config.from_nvidia_kwargs(kwargs)
    return GeneratorConfig.from_nvidia_kwargs(kwargs)


def new_generator(config: ModelConfig) -> Generator:
    """A freshly initialised generator of the config's family (weights to be loaded)."""
    if isinstance(config, StyleGAN3Config):
        return StyleGAN3Generator(config)
    return Generator(config)


def image_features(generator: Generator, x: torch.Tensor, block: int) -> torch.Tensor:
    """Block `block`'s output `x` [batch, C, h, w] as the drag loop reads features: the part covering the image.

    StyleGAN2's block outputs cover the image exactly and come back as they are; StyleGAN3's layers carry a
    margin, which `stylegan3.SynthesisNetwork.image_features` crops.
    """
    if isinstance(generator, StyleGAN3Generator):
        return generator.synthesis.image_features(x, block)
    return x
