"""Reads rosinality's stylegan2-pytorch checkpoints (`.pt` files from its train.py or convert_weight.py).

Such a file is a `torch.save`d dict whose `g_ema` entry is the generator's state dict (and, from
convert_weight.py, `latent_avg`). It is read with `torch.load(weights_only=True)`; the only class
admitted besides tensors is `argparse.Namespace` (train.py stores its command-line `args`), which
unpickles to attributes without running code.

rosinality's layers compute what NVIDIA's do with the same weights, so the mapping is by name plus
reshapes (no rescaling): `style.{i+1}` (EqualLinear after the PixelNorm at `style.0`) is `fc{i}`;
`input.input` [1, C, 4, 4] is `b4.const`; `conv1` / `to_rgb1` are the 4 px block; `convs.{2k}` /
`convs.{2k+1}` / `to_rgbs.{k}` are conv0 / conv1 / torgb of the block at 8 * 2**k px; a styled conv's
`conv.weight` [1, out, in, 3, 3], `conv.modulation`, `noise.weight` [1] and `activate.bias` are
NVIDIA's `weight`, `affine`, `noise_strength` and `bias`; `noises.noise_{i}` [1, 1, r, r] is the
i-th conv layer's `noise_const`. There is no activation clamp (conv_clamp None), z_dim = w_dim =
style_dim, and channel_multiplier m gives NVIDIA's channel_base 16384 * m with channel_max 512.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from .checkpoint import (
    Checkpoint,
    CorruptCheckpointError,
    StateDictMismatchError,
    UnknownFormatError,
    UnsafeCheckpointError,
    UnsupportedCheckpointError,
    check_state_dict,
    weights_only_refusal,
)
from .stylegan2 import Generator, GeneratorConfig, UnsupportedModelError, fir_filter

FORMAT = "rosinality"
# rosinality's generator default (`lr_mlp`); the file has no record of it.
MAPPING_LR_MULTIPLIER = 0.01
# Without a stored `latent_avg`, w_avg is estimated as rosinality's own tools do: the mean w of many z.
W_AVG_SAMPLES = 4096
W_AVG_SEED = 0
# rosinality's blur kernels are buffers: the [1, 3, 3, 1] filter times the upsampling gain 2 * 2.
UPSAMPLE_KERNEL_GAIN = 4.0


def key_pairs(config: GeneratorConfig) -> Iterator[tuple[str, str]]:
    """(rosinality key, NVIDIA key) for every learned weight and noise buffer of the generator."""
    for i in range(config.mapping_layers):
        for p in ("weight", "bias"):
            yield f"style.{i + 1}.{p}", f"mapping.fc{i}.{p}"
    yield "input.input", "synthesis.b4.const"
    layers = [("conv1", "synthesis.b4.conv1")]
    rgbs = [("to_rgb1", "synthesis.b4.torgb")]
    for k, res in enumerate(config.block_resolutions[1:]):
        layers += [(f"convs.{2 * k}", f"synthesis.b{res}.conv0"), (f"convs.{2 * k + 1}", f"synthesis.b{res}.conv1")]
        rgbs.append((f"to_rgbs.{k}", f"synthesis.b{res}.torgb"))
    for i, (ros, nv) in enumerate(layers):
        yield f"{ros}.conv.weight", f"{nv}.weight"
        yield f"{ros}.conv.modulation.weight", f"{nv}.affine.weight"
        yield f"{ros}.conv.modulation.bias", f"{nv}.affine.bias"
        yield f"{ros}.noise.weight", f"{nv}.noise_strength"
        yield f"{ros}.activate.bias", f"{nv}.bias"
        yield f"noises.noise_{i}", f"{nv}.noise_const"
    for ros, nv in rgbs:
        yield f"{ros}.conv.weight", f"{nv}.weight"
        yield f"{ros}.conv.modulation.weight", f"{nv}.affine.weight"
        yield f"{ros}.conv.modulation.bias", f"{nv}.affine.bias"
        yield f"{ros}.bias", f"{nv}.bias"


def kernel_keys(config: GeneratorConfig) -> list[str]:
    """rosinality's fixed blur-kernel buffers (NVIDIA's counterpart is `resample_filter`)."""
    keys = []
    for k in range(len(config.block_resolutions) - 1):
        keys += [f"convs.{2 * k}.conv.blur.kernel", f"to_rgbs.{k}.upsample.kernel"]
    return keys


def rosinality_shape(nvidia_key: str, shape: tuple[int, ...]) -> tuple[int, ...]:
    """The shape rosinality gives the tensor NVIDIA stores as `nvidia_key` with `shape`."""
    leaf = nvidia_key.rsplit(".", 1)[-1]
    if leaf == "const" or (leaf == "weight" and ".affine." not in nvidia_key and ".fc" not in nvidia_key):
        return (1, *shape)  # const input, modulated conv weights
    if leaf == "noise_strength":
        return (1,)
    if leaf == "noise_const":
        return (1, 1, *shape)
    if nvidia_key.endswith("torgb.bias"):
        return (1, shape[0], 1, 1)
    return shape


def _indexed(state_dict: dict[str, torch.Tensor], pattern: str) -> list[int]:
    regex = re.compile(pattern)
    return sorted(int(m.group(1)) for k in state_dict if (m := regex.fullmatch(k)))


def infer_config(state_dict: dict[str, torch.Tensor]) -> GeneratorConfig:
    """The generator config, from the tensor shapes of a rosinality generator state dict."""
    try:
        n_mlp = len(_indexed(state_dict, r"style\.(\d+)\.weight"))
        style_dim = state_dict["style.1.weight"].shape[1]
        num_upsampling_blocks = len(_indexed(state_dict, r"to_rgbs\.(\d+)\.conv\.weight"))
        channels = [state_dict["input.input"].shape[1]]
        channels += [state_dict[f"convs.{2 * k}.conv.weight"].shape[1] for k in range(num_upsampling_blocks)]
        img_channels = state_dict["to_rgb1.conv.weight"].shape[1]
    except (KeyError, IndexError) as exc:
        raise StateDictMismatchError(f"not a complete rosinality generator: missing {exc}") from exc
    resolutions = [4 * 2**k for k in range(len(channels))]
    channel_max = max(channels)
    # NVIDIA's channels(res) = min(channel_base // res, channel_max): the first resolution below the
    # maximum fixes channel_base; if none is, any base that keeps every block at the maximum will do.
    below = [(res, ch) for res, ch in zip(resolutions, channels, strict=True) if ch < channel_max]
    channel_base = below[0][0] * below[0][1] if below else channel_max * resolutions[-1]
    try:
        config = GeneratorConfig(
            img_resolution=resolutions[-1], z_dim=style_dim, w_dim=style_dim, img_channels=img_channels,
            mapping_layers=n_mlp, mapping_lr_multiplier=MAPPING_LR_MULTIPLIER,
            channel_base=channel_base, channel_max=channel_max, conv_clamp=None)
    except UnsupportedModelError as exc:
        raise UnsupportedCheckpointError(str(exc)) from exc
    if [config.channels(r) for r in resolutions] != channels:
        raise UnsupportedCheckpointError(
            f"the per-resolution channel counts {channels} follow no StyleGAN2 channel_base/channel_max rule")
    return config


def _check_kernels(state_dict: dict[str, torch.Tensor], config: GeneratorConfig) -> None:
    expected = fir_filter() * UPSAMPLE_KERNEL_GAIN
    for key in kernel_keys(config):
        kernel = state_dict.get(key)
        if kernel is not None and (kernel.shape != expected.shape or not torch.allclose(kernel.float(), expected)):
            raise UnsupportedCheckpointError(f"{key}: only the [1, 3, 3, 1] blur kernel is supported")


def estimate_w_avg(config: GeneratorConfig, state_dict: dict[str, torch.Tensor]) -> torch.Tensor:
    """The mean w over `W_AVG_SAMPLES` fixed random z, for files that store no average."""
    generator = Generator(config)
    mapping_weights = {k[len("mapping."):]: v for k, v in state_dict.items() if k.startswith("mapping.fc")}
    generator.mapping.load_state_dict(mapping_weights, strict=False)
    z = torch.randn(W_AVG_SAMPLES, config.z_dim, generator=torch.Generator().manual_seed(W_AVG_SEED))
    with torch.no_grad():
        return generator.mapping(z)[:, 0].mean(dim=0)


def from_rosinality_state_dict(ros: dict[str, torch.Tensor], latent_avg: torch.Tensor | None = None,
                               source: str = "") -> Checkpoint:
    """Converts a rosinality generator state dict (and its `latent_avg`, if any) to a `Checkpoint`."""
    config = infer_config(ros)
    _check_kernels(ros, config)
    pairs = dict(key_pairs(config))
    known = set(pairs) | set(kernel_keys(config))
    unexpected = sorted(set(ros) - known)
    missing = sorted(set(pairs) - set(ros))
    if unexpected or missing:
        raise StateDictMismatchError(
            "not a rosinality StyleGAN2 generator: "
            f"{len(missing)} missing (e.g. {', '.join(missing[:4]) or '-'}), "
            f"{len(unexpected)} unexpected (e.g. {', '.join(unexpected[:4]) or '-'})")
    with torch.device("meta"):
        shapes = {k: tuple(v.shape) for k, v in Generator(config).state_dict().items()}
    state_dict: dict[str, torch.Tensor] = {}
    for ros_key, nv_key in pairs.items():
        tensor, expected = ros[ros_key], rosinality_shape(nv_key, shapes[nv_key])
        if tuple(tensor.shape) != expected:
            raise StateDictMismatchError(f"{ros_key} has shape {list(tensor.shape)}, expected {list(expected)}")
        state_dict[nv_key] = tensor.to(torch.float32).reshape(shapes[nv_key]).contiguous()
    for key, shape in shapes.items():
        if key.endswith("resample_filter"):
            state_dict[key] = fir_filter().reshape(shape)
    metadata: dict[str, Any] = {"source": source, "mapping_lr_multiplier": "assumed rosinality default 0.01"}
    if latent_avg is not None:
        if latent_avg.numel() != config.w_dim:
            raise StateDictMismatchError(f"latent_avg has {latent_avg.numel()} values, expected {config.w_dim}")
        state_dict["mapping.w_avg"] = latent_avg.to(torch.float32).reshape(config.w_dim).contiguous()
    else:
        state_dict["mapping.w_avg"] = estimate_w_avg(config, state_dict)
        metadata["w_avg"] = f"estimated from {W_AVG_SAMPLES} random z (seed {W_AVG_SEED}): the file has no latent_avg"
    check_state_dict(config, state_dict)
    return Checkpoint(config=config, state_dict=state_dict, source_format=FORMAT, metadata=metadata)


def to_rosinality_state_dict(checkpoint: Checkpoint) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """The inverse mapping: a rosinality `g_ema` state dict and `latent_avg` holding the same weights.

    Only generators rosinality can express (no activation clamp) convert to an equivalent network.
    """
    if checkpoint.config.conv_clamp is not None:
        raise UnsupportedCheckpointError("rosinality's generator has no activation clamp (conv_clamp must be None)")
    sd = checkpoint.state_dict
    ros = {ros_key: sd[nv_key].reshape(rosinality_shape(nv_key, tuple(sd[nv_key].shape))).clone()
           for ros_key, nv_key in key_pairs(checkpoint.config)}
    for key in kernel_keys(checkpoint.config):
        ros[key] = fir_filter() * UPSAMPLE_KERNEL_GAIN
    return ros, sd["mapping.w_avg"].clone()


def read_rosinality(path: str | Path) -> Checkpoint:
    """Reads a rosinality `.pt` (any torch.save file is tried; other layouts get a clear error)."""
    path = Path(path)
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        refusal = weights_only_refusal(exc)
        if refusal:
            raise UnsafeCheckpointError(f"refused a torch file that is not plain data ({refusal})") from exc
        first_line = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise CorruptCheckpointError(f"the torch file is damaged or truncated: {first_line}") from exc
    if isinstance(data, dict) and isinstance(data.get("g_ema"), dict):
        ros, latent_avg = data["g_ema"], data.get("latent_avg")
    elif isinstance(data, dict) and "style.1.weight" in data:
        ros, latent_avg = data, None  # a bare generator state dict
    else:
        found = ", ".join(map(str, list(data)[:8])) if isinstance(data, dict) else type(data).__name__
        raise UnknownFormatError(f"a torch file, but not a rosinality StyleGAN2 checkpoint (it holds {found})")
    if not all(isinstance(v, torch.Tensor) for v in ros.values()) or not (
            latent_avg is None or isinstance(latent_avg, torch.Tensor)):
        raise CorruptCheckpointError("the rosinality generator state dict holds something other than tensors")
    return from_rosinality_state_dict(ros, latent_avg, source=path.name)
