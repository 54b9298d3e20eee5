"""dragd's own model format: safetensors with NVIDIA key names and the generator's kwargs as JSON.

The layout is the one of the embedded model: tensors float32 and contiguous under the keys of
`Generator(config).state_dict()`; metadata key `config` holds `{"init_args": [], "init_kwargs": {...},
"source": ...}` with kwargs in NVIDIA's flat stylegan3 style, so NVIDIA-minded tools read them too.
Metadata key `dragd` holds dragd's own facts: the format version and the checkpoint's metadata
(including `converted_from`, the format the weights came from).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from .checkpoint import Checkpoint, CorruptCheckpointError, config_from_nvidia_kwargs
from .stylegan2 import GeneratorConfig

FORMAT = "safetensors"
FORMAT_VERSION = 1


def nvidia_kwargs(config: GeneratorConfig) -> dict[str, Any]:
    """Init kwargs for NVIDIA's Generator that `GeneratorConfig.from_nvidia_kwargs` reads back as `config`."""
    kwargs: dict[str, Any] = {
        "z_dim": config.z_dim,
        "w_dim": config.w_dim,
        "c_dim": 0,
        "img_resolution": config.img_resolution,
        "img_channels": config.img_channels,
        "mapping_kwargs": {"num_layers": config.mapping_layers, "lr_multiplier": config.mapping_lr_multiplier},
        "channel_base": config.channel_base,
        "channel_max": config.channel_max,
        "conv_clamp": config.conv_clamp,
        "architecture": "skip",
    }
    if not config.square:  # StyleGAN-Human's name for its portrait layout; square files stay as they were
        kwargs["square"] = False
    return kwargs


def write_canonical(checkpoint: Checkpoint, path: str | Path) -> None:
    """Writes `checkpoint` to `path` atomically (a half-written file never takes its place)."""
    kwargs = nvidia_kwargs(checkpoint.config)
    assert GeneratorConfig.from_nvidia_kwargs(kwargs) == checkpoint.config
    tensors = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in checkpoint.state_dict.items()}
    facts = dict(checkpoint.metadata)
    facts.setdefault("converted_from", checkpoint.source_format)
    metadata = {
        "config": json.dumps({"init_args": [], "init_kwargs": kwargs, "source": facts.get("source", "")}),
        "dragd": json.dumps({"format_version": FORMAT_VERSION, "metadata": facts}),
    }
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    try:
        save_file(tensors, partial, metadata=metadata)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


# safetensors itself refuses headers over 100 MB; a plausible length then "{" is its signature.
MAX_HEADER_BYTES = 100_000_000


def looks_like_safetensors(head: bytes) -> bool:
    """A little-endian u64 header length, then a JSON object (a truncated file still counts)."""
    if len(head) < 9:
        return False
    header_len = int.from_bytes(head[:8], "little")
    return 2 <= header_len <= MAX_HEADER_BYTES and head[8:9] == b"{"


def read_canonical(path: str | Path) -> Checkpoint:
    path = Path(path)
    try:
        with safe_open(str(path), framework="pt", device="cpu") as file:
            raw_metadata = file.metadata() or {}
            state_dict = {k: file.get_tensor(k).to(torch.float32) for k in file.keys()}  # noqa: SIM118
    except Exception as exc:  # safetensors raises its own error types for truncated/damaged files
        raise CorruptCheckpointError(f"the safetensors file is damaged or truncated: {exc}") from exc
    if "config" not in raw_metadata:
        raise CorruptCheckpointError(
            "the safetensors file has no 'config' metadata, so the network's shape is unknown; "
            "dragd writes it with `dragd convert`")
    try:
        config_json = json.loads(raw_metadata["config"])
        kwargs = config_json["init_kwargs"]
        dragd_json = json.loads(raw_metadata.get("dragd", "{}"))
    except (ValueError, KeyError, TypeError) as exc:
        raise CorruptCheckpointError(f"the safetensors 'config' metadata is not valid: {exc}") from exc
    if not isinstance(kwargs, dict) or not isinstance(dragd_json, dict):
        raise CorruptCheckpointError("the safetensors 'config' metadata is not valid")
    config = config_from_nvidia_kwargs(kwargs)
    metadata = dict(dragd_json.get("metadata") or {})
    metadata.setdefault("source", config_json.get("source", path.name))
    metadata.setdefault("init_kwargs", kwargs)
    return Checkpoint(config=config, state_dict=state_dict, source_format=FORMAT, metadata=metadata)
