"""Writer for TensorFlow-era StyleGAN2 pickles (NVlabs/stylegan2 layout), built without TensorFlow or dnnlib.

A real file is `pickle.dump((G, D, Gs))` of `dnnlib.tflib.network.Network` objects whose `__getstate__` is
{version: 4, name, static_kwargs, components, build_module_src, build_func_name, variables: [(name, ndarray)]}.
Here a stand-in `Network` class is registered under that module name only while writing, so the pickle
names exactly the globals of a real file; the numpy global is renamed to numpy 1's `numpy.core.multiarray`
(what every real file holds). The weights come from a dragd `Generator` by the inverse of the TF -> NVIDIA
mapping, written here by hand (independently of `dragd.daemon.models.tf_pickle`).
"""

from __future__ import annotations

import contextlib
import math
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch
from dragd.daemon.models.stylegan2 import Generator, GeneratorConfig
from model_fixtures import MODULE_SRC, pickled_as

TF_GLOBALS = {"dnnlib.tflib.network.Network", "numpy.core.multiarray._reconstruct", "numpy.ndarray", "numpy.dtype"}


class Network:
    """Pickles as `dnnlib.tflib.network.Network` (while registered) with the state NVlabs' class gives."""

    def __init__(self, name: str, static_kwargs: dict[str, Any], components: dict[str, Network],
                 variables: dict[str, np.ndarray], version: int = 4) -> None:
        self.state = {"version": version, "name": name, "static_kwargs": static_kwargs, "components": components,
                      "build_module_src": MODULE_SRC, "build_func_name": f"{name}_build",
                      "variables": list(variables.items())}

    def __getstate__(self) -> dict[str, Any]:
        return self.state


def tf_names() -> contextlib.AbstractContextManager[None]:
    """Registers `Network` under TensorFlow-era StyleGAN's module name so that pickle writes that name."""
    return pickled_as({"dnnlib.tflib.network.Network": Network})


def tf_variables(generator: Generator) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(Gs own, mapping, synthesis) variables in TF's layout, from the generator's NVIDIA-named weights."""
    sd = {k: v.detach().cpu().numpy().astype(np.float32) for k, v in generator.state_dict().items()}
    cfg = generator.cfg
    top = {"dlatent_avg": sd["mapping.w_avg"]}
    mapping = {}
    for i in range(cfg.mapping_layers):
        mapping[f"Dense{i}/weight"] = sd[f"mapping.fc{i}.weight"].T.copy()
        mapping[f"Dense{i}/bias"] = sd[f"mapping.fc{i}.bias"]
    synthesis: dict[str, np.ndarray] = {"lod": np.zeros((), np.float32)}  # present in real files, unused

    def layer(tf: str, nv: str, up: bool, noise: int | None) -> None:
        weight = sd[f"{nv}.weight"].transpose(2, 3, 1, 0)  # [out, in, kh, kw] -> [kh, kw, in, out]
        synthesis[f"{tf}/weight"] = (weight[::-1, ::-1] if up else weight).copy()
        synthesis[f"{tf}/bias"] = sd[f"{nv}.bias"]
        synthesis[f"{tf}/mod_weight"] = sd[f"{nv}.affine.weight"].T.copy()
        synthesis[f"{tf}/mod_bias"] = sd[f"{nv}.affine.bias"] - 1
        if noise is not None:
            synthesis[f"{tf}/noise_strength"] = sd[f"{nv}.noise_strength"]
            synthesis[f"noise{noise}"] = sd[f"{nv}.noise_const"][None, None]

    for res in cfg.block_resolutions:
        k = int(math.log2(res))
        if res == 4:
            synthesis["4x4/Const/const"] = sd["synthesis.b4.const"][None]
            layer("4x4/Conv", "synthesis.b4.conv1", False, 0)
        else:
            layer(f"{res}x{res}/Conv0_up", f"synthesis.b{res}.conv0", True, 2 * k - 5)
            layer(f"{res}x{res}/Conv1", f"synthesis.b{res}.conv1", False, 2 * k - 4)
        layer(f"{res}x{res}/ToRGB", f"synthesis.b{res}.torgb", False, None)
    return top, mapping, synthesis


def tf_representable(generator: Generator) -> Generator:
    """`generator` with its affine biases as a TF file can hold them: TF stores bias - 1 (its init of 1 is
    added at run time), and (b - 1) + 1 is not always b in float32. Those values survive the round trip."""
    with torch.no_grad():
        for name, tensor in generator.state_dict().items():
            if name.endswith("affine.bias"):
                tensor.copy_((tensor - 1) + 1)
    return generator


def static_kwargs(config: GeneratorConfig) -> dict[str, Any]:
    """G_main's static kwargs as NVlabs/stylegan2's run_training passes them."""
    assert config.conv_clamp is None and config.square, "TF-era generators have no clamp and are square"
    return {"num_channels": config.img_channels, "resolution": config.img_resolution, "label_size": 0,
            "latent_size": config.z_dim, "dlatent_size": config.w_dim, "mapping_layers": config.mapping_layers,
            "fmap_base": config.channel_base // 2, "fmap_max": config.channel_max, "truncation_psi": 0.5}


def tf_pickle_bytes(generator: Generator, *, protocol: int = 3, only_gs: bool = False,
                    kwargs_override: dict[str, Any] | None = None,
                    drop_variables: tuple[str, ...] = ()) -> bytes:
    top, mapping, synthesis = tf_variables(generator)
    for name in drop_variables:
        synthesis.pop(name, None)
    kwargs = static_kwargs(generator.cfg) | (kwargs_override or {})
    with tf_names():
        def gs(name: str) -> Network:
            return Network(name, dict(kwargs), {
                "mapping": Network("G_mapping", dict(kwargs), {}, mapping),
                "synthesis": Network("G_synthesis", dict(kwargs), {}, synthesis)}, top)

        disc = Network("D", {"resolution": generator.cfg.img_resolution}, {}, {"Output/bias": np.zeros(1, np.float32)})
        data = gs("Gs") if only_gs else (gs("G"), disc, gs("Gs"))
        raw = pickle.dumps(data, protocol=protocol)
    if protocol < 4:  # GLOBAL opcodes are text: rename numpy 2's module to numpy 1's, as real files have it
        raw = raw.replace(b"cnumpy._core.multiarray\n_reconstruct\n", b"cnumpy.core.multiarray\n_reconstruct\n")
    return raw


def write_tf_pickle(path: Path, generator: Generator, **options: Any) -> Path:
    path.write_bytes(tf_pickle_bytes(generator, **options))
    return path
