"""Opening any supported model file: detect its format by content, read it, build the generator.

    read_checkpoint(path) -> Checkpoint      weights + config, NVIDIA key names, nothing executed
    load_generator(path, device) -> Generator ready for inference (eval, no grads)
    convert(src, dst) -> Checkpoint          writes dragd's canonical safetensors file

Formats are told apart by their content, never by the file name: safetensors (a length-prefixed JSON header);
torch.save files (a zip archive, or the legacy pickle with torch's magic number): a whole NVIDIA generator as
PTI saves it when the archive's data.pkl names NVIDIA's persistence module, else rosinality checkpoints;
TensorFlow-era StyleGAN pickles (a pickle naming `dnnlib.tflib.network` at its start) and NVIDIA network
pickles (any other pickle).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import torch

from . import canonical, nvidia_pickle, nvidia_torch_save, rosinality, tf_pickle
from .checkpoint import (
    Checkpoint,
    CheckpointError,
    CheckpointNotFoundError,
    CorruptCheckpointError,
    StateDictMismatchError,
    UnknownFormatError,
    check_finite,
    check_state_dict,
)
from .generators import new_generator
from .stylegan2 import Generator

ZIP_MAGIC = b"PK\x03\x04"
# torch.save's pre-1.6 format starts with a pickled long: its magic number 0x1950a86a20f9469cfc6c.
LEGACY_TORCH_MAGIC = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"
PICKLE_PROTOCOLS = range(2, 6)

READERS: dict[str, Callable[[Path], Checkpoint]] = {
    canonical.FORMAT: canonical.read_canonical,
    rosinality.FORMAT: rosinality.read_rosinality,
    nvidia_pickle.FORMAT: nvidia_pickle.read_nvidia_pickle,
    nvidia_torch_save.FORMAT: nvidia_torch_save.read_nvidia_torch_save,
    tf_pickle.FORMAT: tf_pickle.read_tf_pickle,
}


def _existing_file(path: str | os.PathLike[str]) -> Path:
    path = Path(path)
    if not path.is_file():
        raise CheckpointNotFoundError(f"no model file at {path}")
    return path


def detect_format(path: str | os.PathLike[str]) -> str:
    """The format of the file at `path` (a key of `READERS`), from its content alone."""
    path = _existing_file(path)
    size = path.stat().st_size
    with open(path, "rb") as file:
        head = file.read(len(LEGACY_TORCH_MAGIC))
    if size == 0:
        raise CorruptCheckpointError(f"{path.name} is empty")
    if canonical.looks_like_safetensors(head):
        return canonical.FORMAT
    if head.startswith(ZIP_MAGIC) and nvidia_torch_save.names_nvidia_network(path):
        return nvidia_torch_save.FORMAT
    if head.startswith(ZIP_MAGIC) or head.startswith(LEGACY_TORCH_MAGIC):
        return rosinality.FORMAT
    if len(head) >= 2 and head[0] == 0x80 and head[1] in PICKLE_PROTOCOLS:
        return tf_pickle.FORMAT if tf_pickle.names_tf_network(path) else nvidia_pickle.FORMAT
    raise UnknownFormatError(
        f"{path.name} is not a model file dragd reads (safetensors, NVIDIA StyleGAN2/3 .pkl, PTI's tuned .pt, "
        "TensorFlow StyleGAN2 .pkl, rosinality .pt)")


def read_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Reads any supported model file; its weights are checked against the generator they describe and must be
    finite numbers (`check_finite`)."""
    fmt = detect_format(path)
    try:
        checkpoint = READERS[fmt](Path(path))
    except CheckpointError:
        raise
    except OSError as exc:
        raise CorruptCheckpointError(f"could not read {Path(path).name}: {exc}") from exc
    check_state_dict(checkpoint.config, checkpoint.state_dict)
    check_finite(checkpoint.state_dict)
    return checkpoint


def build_generator(checkpoint: Checkpoint, device: str | torch.device = "cpu") -> Generator:
    """A `Generator` holding the checkpoint's weights, in eval mode with gradients off."""
    generator = new_generator(checkpoint.config)
    try:
        generator.load_state_dict(checkpoint.state_dict, strict=True)
    except RuntimeError as exc:
        raise StateDictMismatchError(f"the weights do not load into the generator: {exc}") from exc
    return generator.eval().requires_grad_(False).to(device)


def load_generator(path: str | os.PathLike[str], device: str | torch.device = "cpu") -> Generator:
    return build_generator(read_checkpoint(path), device)


def convert(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> Checkpoint:
    """Reads `src` in any supported format and writes it to `dst` in dragd's canonical format."""
    checkpoint = read_checkpoint(src)
    try:
        canonical.write_canonical(checkpoint, dst)
    except OSError as exc:
        raise CheckpointError(f"could not write {dst}: {exc}") from exc
    return checkpoint
