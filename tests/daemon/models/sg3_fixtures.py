"""Writers for StyleGAN3 files in NVIDIA's published layouts, built without NVIDIA's code.

`nvidia_stylegan3_pickle_bytes`: a training snapshot (G, D, G_ema) as NVIDIA's persistence pickles it, each
network a `_reconstruct_persistent_obj(meta)` call whose state holds what NVIDIA's stylegan3 modules keep in
their `__dict__` (sizes as numpy int arrays, rates and cutoffs as numpy floats, `conv_clamp`, None buffers for
identity filters). `write_pti_torch_save`: the generator saved whole with `torch.save`, as PTI saves its tuned
generator (a torch zip whose data.pkl pickles the same persistent objects, storages in records).
"""

from __future__ import annotations

import pickle
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from conftest import TINY3
from dragd.daemon.models.stylegan3 import StyleGAN3Config, StyleGAN3Generator
from model_fixtures import EasyDict, PersistentNet, module_state, nvidia_names

# Config R's choices (1x1 convs, radial downsampling filters) on the tiny shape, with a clamp that bites.
TINY3_R = replace(TINY3, conv_kernel=1, use_radial_filters=True, conv_clamp=0.5)


def stylegan3_kwargs(cfg: StyleGAN3Config, omit: tuple[str, ...] = ()) -> dict[str, Any]:
    """NVIDIA's Generator kwargs as stylegan3's train.py passes them (flat; R adds conv_kernel, radial filters)."""
    kwargs: dict[str, Any] = {
        "z_dim": cfg.z_dim, "c_dim": 0, "w_dim": cfg.w_dim, "img_resolution": cfg.img_resolution,
        "img_channels": cfg.img_channels, "mapping_kwargs": EasyDict(num_layers=cfg.mapping_layers),
        "channel_base": cfg.channel_base, "channel_max": cfg.channel_max, "magnitude_ema_beta": 0.999,
        "num_layers": cfg.num_layers, "margin_size": cfg.margin_size, "conv_clamp": cfg.conv_clamp}
    if cfg.conv_kernel != 3 or cfg.use_radial_filters:
        kwargs.update(conv_kernel=cfg.conv_kernel, use_radial_filters=cfg.use_radial_filters)
    return {k: v for k, v in kwargs.items() if k not in omit}


def _layer_attributes(generator: StyleGAN3Generator, name: str, conv_clamp: bool) -> dict[str, Any]:
    cfg = generator.cfg
    if name == "input":
        spec = cfg.layers[0]
        return {"w_dim": cfg.w_dim, "channels": spec.in_channels, "size": np.array([spec.in_size] * 2),
                "sampling_rate": np.float64(spec.in_sampling_rate), "bandwidth": np.float64(spec.in_cutoff)}
    spec = generator.synthesis.block(generator.synthesis.layer_names.index(name)).spec
    attributes = {"is_torgb": spec.is_torgb, "in_size": np.array([spec.in_size] * 2),
                  "out_size": np.array([spec.out_size] * 2), "in_cutoff": np.float64(spec.in_cutoff),
                  "up_factor": spec.up, "down_factor": spec.down, "padding": list(spec.padding)}
    if conv_clamp:
        attributes["conv_clamp"] = cfg.conv_clamp
    return attributes


def _tree(module: torch.nn.Module, generator: StyleGAN3Generator, class_name: str, kwargs: dict[str, Any],
          conv_clamp: bool) -> PersistentNet:
    children = {}
    for name, child in module.named_children():
        child_class = {"mapping": "MappingNetwork", "synthesis": "SynthesisNetwork", "input": "SynthesisInput",
                       "affine": "FullyConnectedLayer"}.get(name, "FullyConnectedLayer" if name.startswith("fc")
                                                           else "SynthesisLayer")
        children[name] = _tree(child, generator, child_class, {}, conv_clamp)
    extra: dict[str, Any] = {}
    if class_name in ("SynthesisInput", "SynthesisLayer"):
        extra = _layer_attributes(generator, "input" if class_name == "SynthesisInput" else
                                  next(n for n, m in generator.synthesis.named_children() if m is module), conv_clamp)
    elif class_name == "FullyConnectedLayer":
        extra = {"activation": "linear", "weight_gain": np.float64(module.weight_gain)}
    return PersistentNet(class_name, module_state(module, children, kwargs, extra))


def generator_tree(generator: StyleGAN3Generator, omit_kwargs: tuple[str, ...] = (),
                   conv_clamp_attribute: bool = True) -> PersistentNet:
    """G_ema as NVIDIA's persistence pickles it (call inside `nvidia_names()`)."""
    return _tree(generator, generator, "Generator", stylegan3_kwargs(generator.cfg, omit_kwargs), conv_clamp_attribute)


def nvidia_stylegan3_pickle_bytes(generator: StyleGAN3Generator, **options: Any) -> bytes:
    with nvidia_names():
        g_ema = generator_tree(generator, **options)
        disc = PersistentNet("Discriminator", module_state(torch.nn.Linear(3, 1), {}, {"c_dim": 0}))
        return pickle.dumps({"G": g_ema, "D": disc, "G_ema": g_ema, "augment_pipe": None,
                             "training_set_kwargs": None}, protocol=4)


def write_pti_torch_save(path: Path, generator: StyleGAN3Generator | Any, tree: Any = None) -> Path:
    """`torch.save(G, path)` as PTI does, for `generator` (or an already built persistent `tree`)."""
    with nvidia_names():
        torch.save(generator_tree(generator) if tree is None else tree, path)
    return path
