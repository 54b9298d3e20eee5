"""What every model-file reader returns, and the errors they raise.

A `Checkpoint` is the generator as plain data: its config and a flat state dict under NVIDIA's key
names (exactly the keys of `generators.new_generator(config).state_dict()`). The readers for each file format live
in their own modules (`nvidia_pickle`, `rosinality`, `canonical`); `loader` picks one by content.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import torch

from .errors import (  # noqa: F401 (re-exported: the readers import them from here)
    CheckpointError,
    CheckpointNotFoundError,
    CorruptCheckpointError,
    StateDictMismatchError,
    UnknownFormatError,
    UnsafeCheckpointError,
)
from .generators import ModelConfig, config_from_kwargs, family_from_class_name, new_generator
from .stylegan2 import UnsupportedModelError


class UnsupportedCheckpointError(CheckpointError, UnsupportedModelError):
    """A well-formed file describing a network dragd's generator does not implement."""


@dataclass
class Checkpoint:
    config: ModelConfig
    state_dict: dict[str, torch.Tensor]
    source_format: str
    # Free-form facts about the source (original kwargs, file name, ...); JSON-serialisable.
    metadata: dict[str, Any] = field(default_factory=dict)


def weights_only_refusal(exc: Exception) -> str | None:
    """From a `torch.load(weights_only=True)` failure, what it refused, in dragd's words (None if it refused
    nothing). torch's own message goes on to advise allow-listing the global or weights_only=False; dragd never
    does either, so that advice is left out."""
    for line in str(exc).splitlines():
        named = re.search(r"GLOBAL ([\w.]+)", line)
        if named:
            return f"it names {named.group(1)}, which is code, not data"
        if re.search(r"Unsupported (global|operand)", line):
            return line.split(". ")[0].strip()
    return None


def config_from_nvidia_kwargs(kwargs: dict[str, Any], family: str | None = None) -> ModelConfig:
    """The config NVIDIA's init kwargs describe for a generator of `family` (a family or NVIDIA class name;
    None: StyleGAN2), with bad or unsupported kwargs turned into checkpoint errors."""
    try:
        return config_from_kwargs(kwargs, family_from_class_name(family))
    except UnsupportedModelError as exc:
        raise UnsupportedCheckpointError(str(exc)) from exc
    except (KeyError, TypeError, ValueError) as exc:
        raise CorruptCheckpointError(f"the generator's init kwargs are malformed: {exc!r}") from exc


def with_layout_from_weights(kwargs: dict[str, Any], state_dict: dict[str, torch.Tensor]) -> dict[str, Any]:
    """`kwargs` with `square` set from the 4 px constant's shape when they do not say it.

    StyleGAN-Human's released pickles hold a portrait (H x H/2) generator whose init kwargs do not
    mention it (DragGAN passes `square=False` itself when it rebuilds them): the weights are the record.
    """
    const = state_dict.get("synthesis.b4.const")
    if "square" in kwargs or not isinstance(const, torch.Tensor) or const.ndim != 3:
        return kwargs
    return {**kwargs, "square": const.shape[1] == const.shape[2]}


def check_state_dict(config: ModelConfig, state_dict: dict[str, torch.Tensor]) -> None:
    """Raises `StateDictMismatchError` unless `state_dict` has exactly the generator's keys and shapes."""
    with torch.device("meta"):
        expected = {k: tuple(v.shape) for k, v in new_generator(config).state_dict().items()}
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    wrong_shape = sorted(k for k in set(expected) & set(state_dict) if tuple(state_dict[k].shape) != expected[k])
    if not (missing or unexpected or wrong_shape):
        return
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing (e.g. {', '.join(missing[:4])})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected (e.g. {', '.join(unexpected[:4])})")
    if wrong_shape:
        examples = ", ".join(f"{k} {list(state_dict[k].shape)} != {list(expected[k])}" for k in wrong_shape[:3])
        parts.append(f"{len(wrong_shape)} with the wrong shape (e.g. {examples})")
    raise StateDictMismatchError("the weights do not match the generator: " + "; ".join(parts))


def non_finite_keys(tensors: dict[str, torch.Tensor]) -> list[str]:
    """The keys of the floating-point tensors holding a NaN or an infinity, in order."""
    return [key for key, value in tensors.items()
            if value.is_floating_point() and not bool(torch.isfinite(value).all())]


def check_finite(state_dict: dict[str, torch.Tensor]) -> None:
    """Raises `CorruptCheckpointError` if any floating-point weight or buffer is NaN or infinite: such a
    generator draws nothing but NaN (a damaged download, a training run that diverged), so it is refused when
    the file is read rather than discovered as a black image mid-drag."""
    bad = non_finite_keys(state_dict)
    if bad:
        raise CorruptCheckpointError(
            f"{len(bad)} of its weight tensors hold NaN or infinite values (e.g. {', '.join(bad[:3])}): the file "
            "is damaged or comes from a training run that diverged; download or export it again")
