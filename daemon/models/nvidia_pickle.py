"""Reads NVIDIA's StyleGAN2 and StyleGAN3 network pickles (stylegan2-ada-pytorch, stylegan3, DragGAN) as pure data.

Those files are Python pickles of whole `torch.nn.Module` objects; loading them the usual way imports
NVIDIA's packages and executes the module source stored inside (`module_src`). Here a restricted
unpickler resolves only the handful of globals such files name (see `/work/shared/notes/formats.md`),
each to a small stand-in that builds plain data: a network becomes a `PersistentObject` holding its
`state` (the module's `__dict__`), tensors are rebuilt from storages read with `torch.load(...,
weights_only=True)`. Any other global is refused before anything is called, and `module_src` is never
looked at. The nested `state` is then walked for the flat state dict and the init kwargs.
"""

from __future__ import annotations

import collections
import io
import warnings
from pathlib import Path
from typing import Any

import torch

from .checkpoint import (
    Checkpoint,
    CheckpointError,
    CorruptCheckpointError,
    UnsafeCheckpointError,
    UnsupportedCheckpointError,
    config_from_nvidia_kwargs,
    weights_only_refusal,
    with_layout_from_weights,
)
from .restricted_pickle import PLAIN_DATA_GLOBALS, AllowListUnpickler, load_restricted, plain_data

FORMAT = "nvidia-pickle"
# The network dragd uses, then the one to fall back on in files without an EMA copy.
NETWORK_KEYS = ("G_ema", "G")
# Positional order of NVIDIA's Generator.__init__ arguments, for files that passed some positionally.
GENERATOR_POSITIONAL_ARGS = ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels")
MAX_MODULE_DEPTH = 16


class PersistentObject:
    """What `torch_utils.persistence._reconstruct_persistent_obj` would have built, as data only."""

    __slots__ = ("class_name", "state")

    def __init__(self, class_name: str, state: dict[str, Any]) -> None:
        self.class_name = class_name
        self.state = state


# --- stand-ins for the allowed globals ------------------------------------------------------------


def _reconstruct_persistent_obj(meta: Any) -> PersistentObject:
    if not isinstance(meta, dict) or not isinstance(meta.get("state"), dict):
        raise CorruptCheckpointError("a persistent network object in the pickle has no state dict")
    # meta["module_src"] (the defining module's Python source) is deliberately ignored: never run it.
    return PersistentObject(str(meta.get("class_name", "?")), meta["state"])


def _load_storage_from_bytes(data: Any) -> torch.storage.TypedStorage:
    if not isinstance(data, (bytes, bytearray)):
        raise CorruptCheckpointError("a tensor storage in the pickle is not a byte string")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # TypedStorage deprecation noise
            storage = torch.load(io.BytesIO(bytes(data)), map_location="cpu", weights_only=True)
    except Exception as exc:
        refusal = weights_only_refusal(exc)
        if refusal:
            raise UnsafeCheckpointError(f"refused a tensor storage that is not plain data ({refusal})") from exc
        raise CorruptCheckpointError(f"a tensor storage in the pickle is unreadable: {exc}") from exc
    if not isinstance(storage, torch.storage.TypedStorage):
        raise CorruptCheckpointError(f"a tensor storage in the pickle holds a {type(storage).__name__}")
    return storage


def _is_int_tuple(value: Any) -> bool:
    return isinstance(value, (tuple, list)) and all(isinstance(v, int) and v >= 0 for v in value)


def _rebuild_tensor_v2(storage: Any, storage_offset: Any, size: Any, stride: Any, requires_grad: Any = False,
                       backward_hooks: Any = None, metadata: Any = None) -> torch.Tensor:
    if not isinstance(storage, torch.storage.TypedStorage):
        raise CorruptCheckpointError("a tensor in the pickle is not backed by a storage")
    if not (isinstance(storage_offset, int) and storage_offset >= 0 and _is_int_tuple(size)
            and _is_int_tuple(stride) and len(size) == len(stride)):
        raise CorruptCheckpointError("a tensor in the pickle has a malformed size, stride or offset")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # TypedStorage deprecation noise
        # Tensor.set_ would silently grow the storage; a view past its end means a damaged file.
        last = storage_offset + sum((n - 1) * s for n, s in zip(size, stride, strict=True))
        if 0 not in size and last >= storage.size():
            raise CorruptCheckpointError("a tensor in the pickle reaches past the end of its storage")
        tensor = torch.empty((0,), dtype=storage.dtype)
        tensor.set_(storage.untyped(), storage_offset, tuple(size), tuple(stride))
    return tensor


def _rebuild_parameter(data: Any, requires_grad: Any = False, backward_hooks: Any = None) -> torch.Tensor:
    if not isinstance(data, torch.Tensor):
        raise CorruptCheckpointError("a parameter in the pickle does not hold a tensor")
    return data


ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _reconstruct_persistent_obj,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch.storage", "_load_from_bytes"): _load_storage_from_bytes,
    **PLAIN_DATA_GLOBALS,
    # Pickle protocols 2 and 3 (Python 3.7-era files) write sets as a call to `set`; an empty set
    # is part of every nn.Module's state (`_non_persistent_buffers_set`).
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
}


class RestrictedUnpickler(AllowListUnpickler):
    """Resolves only `ALLOWED_GLOBALS`; refuses every other global before it can be called."""

    allowed = ALLOWED_GLOBALS
    kind = "NVIDIA network pickle"

    def refusal(self, module: str, name: str) -> CheckpointError:
        if module.startswith("dnnlib.tflib"):
            return UnsupportedCheckpointError(
                f"this is a TensorFlow-era StyleGAN pickle ({module}.{name}); convert it to a PyTorch "
                "pickle with NVIDIA's stylegan2-ada-pytorch first")
        return super().refusal(module, name)


# --- walking the unpickled data -------------------------------------------------------------------


def flatten_state(obj: PersistentObject, prefix: str = "", depth: int = 0,
                  out: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
    """The module tree under `obj` as a flat state dict, as `nn.Module.state_dict()` would name it."""
    out = {} if out is None else out
    if depth > MAX_MODULE_DEPTH:
        raise CorruptCheckpointError("the network's submodules nest too deeply (or form a cycle)")
    state = obj.state
    non_persistent = state.get("_non_persistent_buffers_set") or set()
    for group in ("_parameters", "_buffers"):
        tensors = state.get(group) or {}
        if not isinstance(tensors, dict):
            raise CorruptCheckpointError(f"{prefix or 'the network'}: {group} is not a dict")
        for name, tensor in tensors.items():
            if tensor is None or (group == "_buffers" and name in non_persistent):
                continue
            if not isinstance(tensor, torch.Tensor):
                raise CorruptCheckpointError(f"{prefix}{name} is a {type(tensor).__name__}, not a tensor")
            out[f"{prefix}{name}"] = tensor
    modules = state.get("_modules") or {}
    if not isinstance(modules, dict):
        raise CorruptCheckpointError(f"{prefix or 'the network'}: _modules is not a dict")
    for name, child in modules.items():
        if child is None:
            continue
        if not isinstance(child, PersistentObject):
            raise CorruptCheckpointError(f"submodule {prefix}{name} is a {type(child).__name__}")
        flatten_state(child, f"{prefix}{name}.", depth + 1, out)
    return out


def generator_kwargs(network: PersistentObject) -> dict[str, Any]:
    """The generator's constructor arguments as one kwargs dict."""
    state = network.state
    # persistence.py stores them as `_init_args` / `_init_kwargs` (exposed as properties without `_`).
    args = state.get("_init_args", state.get("init_args")) or ()
    kwargs = state.get("_init_kwargs", state.get("init_kwargs"))
    if not isinstance(kwargs, dict) or not isinstance(args, (tuple, list)):
        raise CorruptCheckpointError(f"the {network.class_name} in the pickle has no init kwargs")
    if len(args) > len(GENERATOR_POSITIONAL_ARGS):
        raise UnsupportedCheckpointError(f"the generator was built with {len(args)} positional arguments")
    merged = dict(zip(GENERATOR_POSITIONAL_ARGS, args, strict=False))
    merged.update(kwargs)
    return plain_data(merged)


def recorded_attribute(network: PersistentObject, name: str, depth: int = 0) -> tuple[bool, Any]:
    """(found, value) of attribute `name` in the state of the first submodule (depth first) that records it:
    NVIDIA's layers keep their constructor's settings (`conv_clamp`, ...) in their `__dict__`."""
    if depth > MAX_MODULE_DEPTH:
        return False, None
    if name in network.state:
        return True, network.state[name]
    for child in (network.state.get("_modules") or {}).values():
        if isinstance(child, PersistentObject):
            found, value = recorded_attribute(child, name, depth + 1)
            if found:
                return True, value
    return False, None


def _generator_network(data: Any) -> tuple[str, PersistentObject]:
    """The generator in an NVIDIA snapshot's dict of networks, or the generator itself (PTI's torch.save)."""
    if isinstance(data, PersistentObject):
        return data.class_name, data
    if not isinstance(data, dict):
        raise UnsupportedCheckpointError(
            f"the pickle holds a {type(data).__name__}, not NVIDIA's dict of networks (G, D, G_ema)")
    key = next((k for k in NETWORK_KEYS if isinstance(data.get(k), PersistentObject)), None)
    if key is None:
        raise UnsupportedCheckpointError(
            f"the pickle holds no generator network (looked for {', '.join(NETWORK_KEYS)}; "
            f"found {', '.join(map(str, data)) or 'nothing'})")
    return key, data[key]


def checkpoint_from_pickle_data(data: Any, source: str = "", source_format: str = FORMAT) -> Checkpoint:
    """Builds a `Checkpoint` from what `RestrictedUnpickler` returned for an NVIDIA network pickle: a dict of
    networks, or (from a `torch.save`d module, as PTI writes) the generator network itself."""
    key, network = _generator_network(data)
    kwargs = generator_kwargs(network)
    state_dict = {k: v.to(torch.float32).contiguous() for k, v in flatten_state(network).items()}
    # StyleGAN3's synthesis network starts with Fourier features; the weights are the record of the family.
    family = "stylegan3" if any(k.startswith("synthesis.input.") for k in state_dict) else "stylegan2"
    config_kwargs = with_layout_from_weights(kwargs, state_dict)
    nested = config_kwargs.get("synthesis_kwargs")
    if "conv_clamp" not in config_kwargs and not (isinstance(nested, dict) and "conv_clamp" in nested):
        found, clamp = recorded_attribute(network, "conv_clamp")
        if found:  # the value the layers were built with; else the family's code default applies
            config_kwargs = {**config_kwargs, "conv_clamp": plain_data(clamp)}
    config = config_from_nvidia_kwargs(config_kwargs, family)
    metadata = {"source": source, "network": key, "class_name": network.class_name, "family": family,
                "init_kwargs": kwargs}
    return Checkpoint(config=config, state_dict=state_dict, source_format=source_format, metadata=metadata)


def read_nvidia_pickle(path: str | Path) -> Checkpoint:
    path = Path(path)
    with open(path, "rb") as file:
        data = load_restricted(file, RestrictedUnpickler)
    return checkpoint_from_pickle_data(data, source=path.name)
