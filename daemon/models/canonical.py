"""dragd's own model format: safetensors with NVIDIA key names and the generator's kwargs as JSON.

The layout is the one of the embedded model: tensors float32 and contiguous under the keys of
`Generator(config).state_dict()`; metadata key `config` holds `{"init_args": [], "init_kwargs": {...},
"class_name": ..., "source": ...}` with kwargs in NVIDIA's flat stylegan3 style and the generator class as
NVIDIA's training options name it (`training.networks_stylegan3.Generator`; files without one are StyleGAN2),
so NVIDIA-minded tools read them too.
Metadata key `dragd` holds dragd's own facts: the format version and the checkpoint's metadata
(including `converted_from`, the format the weights came from).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from .checkpoint import Checkpoint, CorruptCheckpointError, config_from_nvidia_kwargs
from .generators import NVIDIA_CLASS_NAMES, family_of

FORMAT = "safetensors"
FORMAT_VERSION = 1


def write_canonical(checkpoint: Checkpoint, path: str | Path) -> None:
    """Writes `checkpoint` to `path` atomically (a half-written file never takes its place); OSError when it
    cannot be written."""
    family = family_of(checkpoint.config)
    kwargs = checkpoint.config.nvidia_kwargs()
    assert config_from_nvidia_kwargs(kwargs, family) == checkpoint.config
    tensors = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in checkpoint.state_dict.items()}
    facts = dict(checkpoint.metadata)
    facts.setdefault("converted_from", checkpoint.source_format)
    metadata = {
        "config": json.dumps({"init_args": [], "init_kwargs": kwargs, "class_name": NVIDIA_CLASS_NAMES[family],
                              "source": facts.get("source", "")}),
        "dragd": json.dumps({"format_version": FORMAT_VERSION, "metadata": facts}),
    }
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    try:
        try:
            save_file(tensors, partial, metadata=metadata)
        except SafetensorError as exc:  # its I/O failures (a missing folder, a full disk) are not OSErrors
            raise OSError(str(exc)) from None
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
    config = config_from_nvidia_kwargs(kwargs, config_json.get("class_name"))
    metadata = dict(dragd_json.get("metadata") or {})
    metadata.setdefault("source", config_json.get("source", path.name))
    metadata.setdefault("init_kwargs", kwargs)
    return Checkpoint(config=config, state_dict=state_dict, source_format=FORMAT, metadata=metadata)
