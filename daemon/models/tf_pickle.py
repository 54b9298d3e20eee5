"""Reads TensorFlow-era StyleGAN2 pickles (NVlabs/stylegan2, e.g. LSUN car and cat config-f) as pure data.

Those files pickle a tuple (G, D, Gs) of `dnnlib.tflib.network.Network` objects. Unpickling them the usual
way exec()s each network's build module source (`build_module_src`) and builds a TensorFlow graph. Here the
`Network` global resolves to `TFNetwork`, which keeps only the pickled state: `static_kwargs`, `components`
(sub-networks) and `variables` (name, numpy array) pairs; `build_module_src` is never looked at. numpy arrays
are rebuilt from their raw bytes by a checked stand-in; every other global is refused before anything runs
(`UnsafeCheckpointError`, as for NVIDIA's PyTorch pickles).

The variables of Gs (the moving average generator) are then renamed and re-laid out to NVIDIA's PyTorch key
names, by the rules stylegan2-ada-pytorch's `legacy.py` applies: TF dense weights are [in, out] (transposed),
conv weights [kh, kw, in, out] (to [out, in, kh, kw]; the upsampling conv also flipped in space), the
modulation bias is stored minus its init of 1, and the per-layer constant noise lives in the synthesis
network as `noise0`, `noise1`, ... ([1, 1, res, res]).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .checkpoint import (
    Checkpoint,
    CorruptCheckpointError,
    UnsupportedCheckpointError,
    config_from_nvidia_kwargs,
)
from .restricted_pickle import PLAIN_DATA_GLOBALS, AllowListUnpickler, PlainArray, load_restricted, plain_data
from .stylegan2 import GeneratorConfig, fir_filter

FORMAT = "tf-pickle"
NETWORK_MODULE = "dnnlib.tflib.network"
# The class name is pickled near the start (the first network of the tuple); this much is plenty.
SNIFF_BYTES = 4096
MAX_NETWORK_DEPTH = 8
# legacy.py converts pickles of Network version 4 (what NVlabs/stylegan2 writes); older ones differ.
SUPPORTED_VERSION = 4


def names_tf_network(path: str | Path) -> bool:
    """Whether the pickle at `path` names TensorFlow's Network class near its start."""
    with open(path, "rb") as file:
        return NETWORK_MODULE.encode() in file.read(SNIFF_BYTES)


# --- stand-ins for the allowed globals ------------------------------------------------------------


class TFNetwork:
    """What `dnnlib.tflib.network.Network` would have built, as data only (nothing is executed)."""

    # Until the pickle's BUILD gives the state: a network pickled without one is a damaged file.
    name = "?"
    static_kwargs: dict[str, Any] = {}
    components: dict[str, Any] = {}
    variables: list[tuple[str, np.ndarray]] = []
    has_state = False

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, dict):
            raise CorruptCheckpointError("a TensorFlow network in the pickle has no state dict")
        version = state.get("version")
        if version != SUPPORTED_VERSION:
            raise UnsupportedCheckpointError(
                f"this TensorFlow network pickle has version {version!r}; dragd reads version {SUPPORTED_VERSION} "
                "(NVlabs/stylegan2's)")
        kwargs, components, variables = state.get("static_kwargs"), state.get("components", {}), state.get(
            "variables")
        if not (isinstance(kwargs, dict) and isinstance(components, dict) and isinstance(variables, list)):
            raise CorruptCheckpointError("a TensorFlow network in the pickle has malformed state")
        for item in variables:
            if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)
                    and isinstance(item[1], PlainArray)):
                raise CorruptCheckpointError("a TensorFlow network's variables are not (name, array) pairs")
        # state["build_module_src"] (the Python source that built the graph) is deliberately ignored.
        self.name = str(state.get("name", "?"))
        self.static_kwargs = kwargs
        self.components = components
        self.variables = [(name, array.value) for name, array in variables]
        self.has_state = True


ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    (NETWORK_MODULE, "Network"): TFNetwork,
    **PLAIN_DATA_GLOBALS,
}


class TFRestrictedUnpickler(AllowListUnpickler):
    """Resolves only `ALLOWED_GLOBALS`; refuses every other global before it can be called."""

    allowed = ALLOWED_GLOBALS
    kind = "TensorFlow network pickle"


# --- from TensorFlow's layout to NVIDIA's ---------------------------------------------------------


def tf_variables(network: TFNetwork, prefix: str = "", depth: int = 0,
                 out: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Every variable of `network` and its components, named as TF scopes them ("synthesis/4x4/Conv/bias")."""
    out = {} if out is None else out
    if depth > MAX_NETWORK_DEPTH:
        raise CorruptCheckpointError("the TensorFlow networks nest too deeply (or form a cycle)")
    if not network.has_state:
        raise CorruptCheckpointError(f"the TensorFlow network {prefix or network.name} in the pickle has no state")
    for name, value in network.variables:
        out[prefix + name] = value
    for name, component in network.components.items():
        if not isinstance(component, TFNetwork):
            raise CorruptCheckpointError(f"component {prefix}{name} is a {type(component).__name__}, not a network")
        tf_variables(component, f"{prefix}{name}/", depth + 1, out)
    return out


# Static kwargs of NVlabs/stylegan2's G_main: (TF name, default). Those that change nothing at inference
# are accepted and dropped; anything else is refused, as legacy.py does, since it might change the outputs.
_INFERENCE_IRRELEVANT = {"truncation_psi", "truncation_cutoff", "style_mixing_prob", "structure", "w_avg_beta",
                         "num_fp16_res", "label_fmaps"}
_MUST_BE = {"mapping_nonlinearity": "lrelu", "nonlinearity": "lrelu", "use_noise": True}


def nvidia_kwargs_from_tf(static_kwargs: dict[str, Any]) -> dict[str, Any]:
    """The TF generator's static kwargs as NVIDIA PyTorch Generator kwargs (stylegan2-ada nesting)."""
    tf = plain_data(static_kwargs)
    used = set(_INFERENCE_IRRELEVANT)

    def get(name: str, default: Any) -> Any:
        used.add(name)
        value = tf.get(name, default)
        return default if value is None else value

    for name, required in _MUST_BE.items():
        if get(name, required) != required:
            raise UnsupportedCheckpointError(f"TensorFlow generators with {name}={tf[name]!r} are not supported")
    kwargs = {
        "z_dim": get("latent_size", 512),
        "c_dim": get("label_size", 0),
        "w_dim": get("dlatent_size", 512),
        "img_resolution": get("resolution", 1024),
        "img_channels": get("num_channels", 3),
        "mapping_kwargs": {"num_layers": get("mapping_layers", 8), "layer_features": tf.get("mapping_fmaps"),
                           "lr_multiplier": get("mapping_lrmul", 0.01)},
        "synthesis_kwargs": {"channel_base": get("fmap_base", 16384) * 2, "channel_max": get("fmap_max", 512),
                             "conv_clamp": tf.get("conv_clamp"), "architecture": get("architecture", "skip"),
                             "resample_filter": get("resample_kernel", [1, 3, 3, 1])},
    }
    used.update({"mapping_fmaps", "conv_clamp"})
    unknown = sorted(set(tf) - used)
    if unknown:
        raise UnsupportedCheckpointError(f"unknown TensorFlow generator kwargs {unknown}: the outputs might differ")
    return kwargs


Transform = Callable[[np.ndarray], np.ndarray]


def _same(a: np.ndarray) -> np.ndarray:
    return a


def _dense(a: np.ndarray) -> np.ndarray:  # [in, out] -> [out, in]
    return a.transpose()


def _conv(a: np.ndarray) -> np.ndarray:  # [kh, kw, in, out] -> [out, in, kh, kw]
    return a.transpose(3, 2, 0, 1)


def _conv_up(a: np.ndarray) -> np.ndarray:  # TF's transposed conv holds the kernel flipped in space
    return a[::-1, ::-1].transpose(3, 2, 0, 1)


def _mod_bias(a: np.ndarray) -> np.ndarray:  # TF adds the affine bias's init of 1 at run time
    return a + 1


def _first(a: np.ndarray) -> np.ndarray:  # const [1, C, H, W] -> [C, H, W]
    return a[0]


def _noise(a: np.ndarray) -> np.ndarray:  # [1, 1, H, W] -> [H, W]
    return a[0, 0]


def _layer(nv: str, tf: str, weight: Transform, noise_index: int | None) -> Iterator[tuple[str, str, Transform]]:
    yield f"{nv}.weight", f"{tf}/weight", weight
    yield f"{nv}.bias", f"{tf}/bias", _same
    yield f"{nv}.affine.weight", f"{tf}/mod_weight", _dense
    yield f"{nv}.affine.bias", f"{tf}/mod_bias", _mod_bias
    if noise_index is not None:
        yield f"{nv}.noise_strength", f"{tf}/noise_strength", _same
        yield f"{nv}.noise_const", f"synthesis/noise{noise_index}", _noise


def tf_sources(config: GeneratorConfig) -> Iterator[tuple[str, str, Transform]]:
    """(NVIDIA key, TF variable, transform) for every weight of the generator `config` describes."""
    yield "mapping.w_avg", "dlatent_avg", _same
    for i in range(config.mapping_layers):
        yield f"mapping.fc{i}.weight", f"mapping/Dense{i}/weight", _dense
        yield f"mapping.fc{i}.bias", f"mapping/Dense{i}/bias", _same
    for res in config.block_resolutions:
        nv, tf = f"synthesis.b{res}", f"synthesis/{res}x{res}"
        level = int(math.log2(res))
        if res == 4:
            yield f"{nv}.const", f"{tf}/Const/const", _first
            yield from _layer(f"{nv}.conv1", f"{tf}/Conv", _conv, 0)
        else:  # noise inputs count the layers from the 4x4 one: conv0 of 2^k px is 2k - 5, conv1 2k - 4
            yield from _layer(f"{nv}.conv0", f"{tf}/Conv0_up", _conv_up, 2 * level - 5)
            yield from _layer(f"{nv}.conv1", f"{tf}/Conv1", _conv, 2 * level - 4)
        yield from _layer(f"{nv}.torgb", f"{tf}/ToRGB", _conv, None)


def nvidia_state_dict(config: GeneratorConfig, variables: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """The generator's state dict under NVIDIA's names, from the TF variables."""
    if any(name.startswith("ToRGB_lod") for name in variables):
        raise UnsupportedCheckpointError("this TensorFlow generator uses the 'orig' architecture; dragd runs 'skip'")
    state_dict: dict[str, torch.Tensor] = {}
    for key, tf_name, transform in tf_sources(config):
        if tf_name not in variables:
            raise CorruptCheckpointError(f"the TensorFlow generator has no variable {tf_name} (for {key})")
        try:
            array = np.array(transform(variables[tf_name]), dtype=np.float32, order="C")  # a writable copy
        except (ValueError, IndexError) as exc:
            raise CorruptCheckpointError(f"TensorFlow variable {tf_name} has an unexpected shape: {exc}") from exc
        state_dict[key] = torch.from_numpy(array)
    # The resampling filter is a constant of the architecture, not a TF variable.
    for res in config.block_resolutions:
        state_dict[f"synthesis.b{res}.resample_filter"] = fir_filter()
        for layer in ("conv0", "conv1") if res > 4 else ("conv1",):
            state_dict[f"synthesis.b{res}.{layer}.resample_filter"] = fir_filter()
    return state_dict


def checkpoint_from_tf_data(data: Any, source: str = "") -> Checkpoint:
    """Builds a `Checkpoint` from what the restricted unpickler returned for a TF network pickle."""
    if isinstance(data, tuple) and len(data) == 3 and all(isinstance(n, TFNetwork) for n in data):
        network, role = data[2], "Gs"  # (G, D, Gs): Gs is the moving average generator, the one to use
    elif isinstance(data, TFNetwork):
        network, role = data, "network"
    else:
        raise UnsupportedCheckpointError(
            f"the pickle holds a {type(data).__name__}, not TensorFlow StyleGAN's (G, D, Gs) networks")
    variables = tf_variables(network)  # first: it checks that every network has its state
    kwargs = nvidia_kwargs_from_tf(network.static_kwargs)
    config = config_from_nvidia_kwargs(kwargs)
    state_dict = nvidia_state_dict(config, variables)
    metadata = {"source": source, "network": role, "tf_name": network.name, "init_kwargs": kwargs,
                "tf_static_kwargs": plain_data(network.static_kwargs)}
    return Checkpoint(config=config, state_dict=state_dict, source_format=FORMAT, metadata=metadata)


def read_tf_pickle(path: str | Path) -> Checkpoint:
    path = Path(path)
    with open(path, "rb") as file:
        data = load_restricted(file, TFRestrictedUnpickler)
    return checkpoint_from_tf_data(data, source=path.name)
