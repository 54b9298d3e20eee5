"""The StyleGAN3 (alias-free) generator (Karras et al. 2021), written for dragd in plain torch ops.

Parameter and buffer names follow NVIDIA's stylegan3 layout (`synthesis.input.freqs`,
`synthesis.L5_148_512.affine.weight`, ...) so that its checkpoints (configs T and R) load with a strict
state-dict match. No compiled ops: the filtered leaky ReLU is written as the paper's Appendix C and NVIDIA's
reference path describe it (bias, zero-insertion upsampling with a low-pass FIR filter, leaky ReLU with gain
and clamp, FIR filtering and decimation), and the Fourier-feature input as ordinary sin/matmul ops.
Everything runs in float32 (NVIDIA's fp16 layers are a speed-up on CUDA only).

Layer sizes, sampling rates, cutoffs and filters follow the paper's design (section 3 and Appendix F):
cutoffs and minimum stopbands grow geometrically from `first_cutoff` / `first_stopband` to the image's
Nyquist rate over the first `num_layers - num_critical` layers; each layer keeps `margin_size` extra pixels
on each side until the last two. The FIR filters are buffers in NVIDIA's files and are read from them; a
generator built from scratch designs them (stylegan3_ops.py: `kaiser_lowpass`, `jinc_lowpass`) as scipy's
firwin would.

The synthesis network exposes the interface DragGAN's loop uses on StyleGAN2 (`run` over "blocks", a
`SynthesisState`), with one block per synthesis layer: block i is layer L{i} (block 0 also runs the Fourier
input), so block 5 is L5, the layer DragGAN's official code reads features from (`feature_idx = 5`).
`image_features` crops a layer's margin so that its features line up with the image's pixels.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from functools import cached_property
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

from .stylegan2 import (
    LRELU_GAIN,
    LRELU_SLOPE,
    NOISE_MODES,
    FullyConnected,
    Generator,
    MappingNetwork,
    SynthesisState,
    UnsupportedModelError,
)
from .stylegan3_ops import filtered_lrelu, jinc_lowpass, kaiser_lowpass, modulated_conv2d

FAMILY = "stylegan3"
NVIDIA_CLASS_NAME = "training.networks_stylegan3.Generator"


@dataclass(frozen=True)
class StyleGAN3Config:
    """Everything that fixes the StyleGAN3 generator's shapes and arithmetic (NVIDIA's kwargs and defaults)."""

    img_resolution: int
    z_dim: int = 512
    w_dim: int = 512
    img_channels: int = 3
    mapping_layers: int = 2
    mapping_lr_multiplier: float = 0.01
    channel_base: int = 32768  # config T; R uses 65536
    channel_max: int = 512  # config T; R uses 1024
    num_layers: int = 14  # synthesis layers, excluding the Fourier input and the toRGB layer
    num_critical: int = 2  # critically sampled layers at the end
    first_cutoff: float = 2.0
    first_stopband: float = 2**2.1
    last_stopband_rel: float = 2**0.3
    margin_size: int = 10
    output_scale: float = 0.25
    conv_kernel: int = 3  # config R: 1
    filter_size: int = 6
    lrelu_upsampling: int = 2
    use_radial_filters: bool = False  # config R: True
    conv_clamp: float | None = 256.0

    def __post_init__(self) -> None:
        res = self.img_resolution
        if res < 8 or res & (res - 1):
            raise UnsupportedModelError(f"image resolution must be a power of two >= 8, not {res}")
        for name in ("z_dim", "w_dim", "img_channels", "mapping_layers", "channel_base", "channel_max",
                     "conv_kernel", "filter_size", "lrelu_upsampling"):
            if int(getattr(self, name)) < 1:
                raise UnsupportedModelError(f"{name} must be positive")
        if not 0 <= self.num_critical < self.num_layers or self.margin_size < 0:
            raise UnsupportedModelError("num_critical must be in [0, num_layers) and margin_size >= 0")

    square = True  # StyleGAN3's images are square

    @property
    def num_ws(self) -> int:
        return self.num_layers + 2  # the Fourier input, each layer, and the toRGB layer

    @property
    def img_shape(self) -> tuple[int, int]:
        return self.img_resolution, self.img_resolution

    @cached_property
    def layers(self) -> list[LayerSpec]:
        return layer_specs(self)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_nvidia_kwargs(cls, kwargs: dict[str, Any]) -> StyleGAN3Config:
        """Reads the init kwargs of NVIDIA's stylegan3 `Generator` (synthesis kwargs flat or nested)."""
        merged = {**dict(kwargs.get("synthesis_kwargs") or {}), **kwargs}
        mapping = dict(kwargs.get("mapping_kwargs") or {})
        if int(kwargs.get("c_dim", 0) or 0) != 0:
            raise UnsupportedModelError("conditional generators (c_dim > 0) are not supported")
        names = {f.name for f in fields(cls)} - {"mapping_layers", "mapping_lr_multiplier"}
        values: dict[str, Any] = {k: merged[k] for k in names if k in merged}
        if "mapping_layers" in merged:  # dragd's own name, should a file carry it
            values["mapping_layers"] = merged["mapping_layers"]
        values["mapping_layers"] = int(mapping.get("num_layers", values.get("mapping_layers", 2)))
        values["mapping_lr_multiplier"] = float(mapping.get("lr_multiplier", 0.01))
        clamp = values.get("conv_clamp", 256)
        values["conv_clamp"] = None if clamp is None else float(clamp)
        if not isinstance(values.get("use_radial_filters", False), bool):
            raise UnsupportedModelError("use_radial_filters must be true or false")
        ints = ("img_resolution", "z_dim", "w_dim", "img_channels", "channel_base", "channel_max", "num_layers",
                "num_critical", "margin_size", "conv_kernel", "filter_size", "lrelu_upsampling")
        floats = ("first_cutoff", "first_stopband", "last_stopband_rel", "output_scale")
        values.update({k: int(values[k]) for k in ints if k in values})
        values.update({k: float(values[k]) for k in floats if k in values})
        return cls(**values)

    def nvidia_kwargs(self) -> dict[str, Any]:
        """Init kwargs for NVIDIA's stylegan3 Generator that `from_nvidia_kwargs` reads back as this config."""
        kwargs = self.to_dict()
        del kwargs["mapping_layers"], kwargs["mapping_lr_multiplier"]
        kwargs["c_dim"] = 0
        kwargs["mapping_kwargs"] = {"num_layers": self.mapping_layers, "lr_multiplier": self.mapping_lr_multiplier}
        return kwargs


class LayerSpec(NamedTuple):
    """One synthesis layer as NVIDIA's SynthesisNetwork designs it (sizes in pixels, rates in samples/unit)."""

    name: str
    in_channels: int
    out_channels: int
    in_size: int
    out_size: int
    in_sampling_rate: int
    out_sampling_rate: int
    in_cutoff: float
    out_cutoff: float
    in_half_width: float
    out_half_width: float
    is_torgb: bool
    is_critically_sampled: bool
    conv_kernel: int
    up: int
    down: int
    up_taps: int
    down_taps: int
    down_radial: bool
    padding: tuple[int, int, int, int]  # (left, right, top, bottom) before the upsampling filter

    @property
    def margin(self) -> int:
        """Extra pixels on each side of the image area in this layer's output."""
        return (self.out_size - self.out_sampling_rate) // 2


def layer_specs(cfg: StyleGAN3Config) -> list[LayerSpec]:
    """The input (index 0 of the returned arrays' sources) and layers L0..L{num_layers}, the last being toRGB."""
    n = cfg.num_layers
    last_cutoff = cfg.img_resolution / 2
    last_stopband = last_cutoff * cfg.last_stopband_rel
    exponents = np.minimum(np.arange(n + 1) / (n - cfg.num_critical), 1)
    cutoffs = cfg.first_cutoff * (last_cutoff / cfg.first_cutoff) ** exponents
    stopbands = cfg.first_stopband * (last_stopband / cfg.first_stopband) ** exponents
    rates = np.exp2(np.ceil(np.log2(np.minimum(stopbands * 2, cfg.img_resolution))))
    half_widths = np.maximum(stopbands, rates / 2) - cutoffs
    sizes = rates + cfg.margin_size * 2
    sizes[-2:] = cfg.img_resolution
    channels = np.rint(np.minimum((cfg.channel_base / 2) / cutoffs, cfg.channel_max))
    channels[-1] = cfg.img_channels
    specs = []
    for idx in range(n + 1):
        prev = max(idx - 1, 0)
        is_torgb = idx == n
        kernel = 1 if is_torgb else cfg.conv_kernel
        in_rate, out_rate = int(rates[prev]), int(rates[idx])
        tmp_rate = max(in_rate, out_rate) * (1 if is_torgb else cfg.lrelu_upsampling)
        up, down = tmp_rate // in_rate, tmp_rate // out_rate
        up_taps = cfg.filter_size * up if up > 1 and not is_torgb else 1
        down_taps = cfg.filter_size * down if down > 1 and not is_torgb else 1
        critical = idx >= n - cfg.num_critical
        in_size, out_size = int(sizes[prev]), int(sizes[idx])
        # Padding so that the output has out_size samples, placed by the symmetric interpretation (App. C.3).
        pad_total = (out_size - 1) * down + 1 - (in_size + kernel - 1) * up + up_taps + down_taps - 2
        pad_lo = (pad_total + up) // 2
        pad_hi = pad_total - pad_lo
        specs.append(LayerSpec(
            name=f"L{idx}_{out_size}_{int(channels[idx])}", in_channels=int(channels[prev]),
            out_channels=int(channels[idx]), in_size=in_size, out_size=out_size, in_sampling_rate=in_rate,
            out_sampling_rate=out_rate, in_cutoff=float(cutoffs[prev]), out_cutoff=float(cutoffs[idx]),
            in_half_width=float(half_widths[prev]), out_half_width=float(half_widths[idx]), is_torgb=is_torgb,
            is_critically_sampled=critical, conv_kernel=kernel, up=up, down=down, up_taps=up_taps,
            down_taps=down_taps, down_radial=cfg.use_radial_filters and not critical,
            padding=(pad_lo, pad_hi, pad_lo, pad_hi)))
    return specs


# --- layers ---------------------------------------------------------------------------------------


class SynthesisInput(nn.Module):
    """Fourier features at `size` pixels, rotated and translated by an affine of w, mixed by a learned matrix."""

    def __init__(self, cfg: StyleGAN3Config, spec: LayerSpec) -> None:
        super().__init__()
        self.channels, self.size = spec.in_channels, spec.in_size
        self.sampling_rate, self.bandwidth = spec.in_sampling_rate, spec.in_cutoff
        self.weight = nn.Parameter(torch.randn(self.channels, self.channels))
        self.affine = FullyConnected(cfg.w_dim, 4)
        self.register_buffer("transform", torch.eye(3))  # the user's inverse transform of the image
        freqs = torch.randn(self.channels, 2)  # a random frequency in the disc of radius `bandwidth`
        radii = freqs.square().sum(dim=1, keepdim=True).sqrt()
        self.register_buffer("freqs", freqs / (radii * radii.square().exp().pow(0.25)) * self.bandwidth)
        self.register_buffer("phases", torch.rand(self.channels) - 0.5)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        t = self.affine(w)  # (r_c, r_s, t_x, t_y)
        t = t / t[:, :2].norm(dim=1, keepdim=True)
        batch = w.shape[0]
        rotation = torch.eye(3, device=w.device).repeat(batch, 1, 1)  # inverse rotation of the image
        rotation[:, 0, 0], rotation[:, 0, 1] = t[:, 0], -t[:, 1]
        rotation[:, 1, 0], rotation[:, 1, 1] = t[:, 1], t[:, 0]
        translation = torch.eye(3, device=w.device).repeat(batch, 1, 1)  # inverse translation of the image
        translation[:, 0, 2], translation[:, 1, 2] = -t[:, 2], -t[:, 3]
        transforms = rotation @ translation @ self.transform.unsqueeze(0)
        phases = self.phases.unsqueeze(0) + (self.freqs.unsqueeze(0) @ transforms[:, :2, 2:]).squeeze(2)
        freqs = self.freqs.unsqueeze(0) @ transforms[:, :2, :2]  # [batch, channel, xy]
        # Frequencies the user's transform pushes out of band fade out.
        amplitudes = (1 - (freqs.norm(dim=2) - self.bandwidth) / (self.sampling_rate / 2 - self.bandwidth)).clamp(0, 1)
        # Pixel centres in the units of the sampling rate, centred on the image (as affine_grid places them).
        coords = (torch.arange(self.size, device=w.device, dtype=torch.float32) + 0.5 - self.size / 2)
        coords = coords / self.sampling_rate
        grid = torch.stack(torch.meshgrid(coords, coords, indexing="xy"), dim=-1)  # [height, width, xy]
        x = torch.einsum("hwd,bcd->bhwc", grid, freqs) + phases[:, None, None, :]
        x = torch.sin(x * (2 * math.pi)) * amplitudes[:, None, None, :]
        x = x @ (self.weight / math.sqrt(self.channels)).t()
        return x.permute(0, 3, 1, 2)


class SynthesisLayer(nn.Module):
    """Modulated conv, then the filtered leaky ReLU that resamples to the next layer's rate and size."""

    def __init__(self, cfg: StyleGAN3Config, spec: LayerSpec) -> None:
        super().__init__()
        self.spec = spec
        self.conv_clamp = cfg.conv_clamp
        self.affine = FullyConnected(cfg.w_dim, spec.in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(spec.out_channels, spec.in_channels, spec.conv_kernel, spec.conv_kernel))
        self.bias = nn.Parameter(torch.zeros(spec.out_channels))
        self.register_buffer("magnitude_ema", torch.ones([]))
        tmp_rate = spec.in_sampling_rate * spec.up
        up_filter = None if spec.up_taps == 1 else kaiser_lowpass(
            spec.up_taps, spec.in_cutoff, spec.in_half_width * 2, tmp_rate)
        design = jinc_lowpass if spec.down_radial else kaiser_lowpass
        down_filter = None if spec.down_taps == 1 else design(
            spec.down_taps, spec.out_cutoff, spec.out_half_width * 2, tmp_rate)
        self.register_buffer("up_filter", up_filter)
        self.register_buffer("down_filter", down_filter)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        spec = self.spec
        styles = self.affine(w)
        if spec.is_torgb:
            styles = styles / math.sqrt(spec.in_channels * spec.conv_kernel**2)
        x = modulated_conv2d(x, self.weight, styles, demodulate=not spec.is_torgb, padding=spec.conv_kernel - 1,
                             input_gain=self.magnitude_ema.rsqrt())
        return filtered_lrelu(x, self.up_filter, self.down_filter, self.bias, spec.up, spec.down, spec.padding,
                              gain=1.0 if spec.is_torgb else LRELU_GAIN, slope=1.0 if spec.is_torgb else LRELU_SLOPE,
                              clamp=self.conv_clamp)


class SynthesisNetwork(nn.Module):
    """The Fourier input and layers L0..L{num_layers}; `run` treats each layer as one block."""

    def __init__(self, cfg: StyleGAN3Config) -> None:
        super().__init__()
        self.cfg = cfg
        self.num_ws = cfg.num_ws
        self.input = SynthesisInput(cfg, cfg.layers[0])
        self.layer_names = [spec.name for spec in cfg.layers]
        for spec in cfg.layers:
            setattr(self, spec.name, SynthesisLayer(cfg, spec))

    @property
    def num_blocks(self) -> int:
        return len(self.layer_names)

    def block(self, index: int) -> SynthesisLayer:
        return getattr(self, self.layer_names[index])

    def run(self, ws: torch.Tensor, start: int = 0, stop: int | None = None, state: SynthesisState | None = None,
            noise_mode: str = "const", images: bool = True, fused: bool = True) -> SynthesisState:
        """Runs layers [start, stop) from `state` (None when start is 0); `img` is set once the toRGB layer ran.

        noise_mode, images and fused are accepted for the StyleGAN2 interface: StyleGAN3 has no noise inputs and
        no skip image, and its modulated convs always run in one form.
        """
        if ws.ndim != 3 or ws.shape[1:] != (self.num_ws, self.cfg.w_dim):
            raise ValueError(f"ws must be [batch, {self.num_ws}, {self.cfg.w_dim}], got {list(ws.shape)}")
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}")
        if (start == 0) != (state is None):
            raise ValueError("a state is needed exactly when starting after the first block")
        stop = self.num_blocks if stop is None else stop
        x = self.input(ws[:, 0]) if state is None else state.x
        for i in range(start, stop):
            x = self.block(i)(x, ws[:, i + 1])
        img = x * self.cfg.output_scale if stop == self.num_blocks else None
        return SynthesisState(x, img)  # type: ignore[arg-type]  # img is None before the toRGB layer

    def image_features(self, x: torch.Tensor, block: int) -> torch.Tensor:
        """Block `block`'s output `x` without its margin: the samples that cover the image, which a bilinear
        resize to the image size then lines up with its pixels. (DragGAN's official code resizes the map with
        its margin, which shifts features outwards by up to margin * image size / sampling rate pixels at the
        image's border: 40 px at 512 px for L5.)"""
        margin = self.cfg.layers[block].margin
        return x[:, :, margin: x.shape[2] - margin, margin: x.shape[3] - margin] if margin else x

    def forward(self, ws: torch.Tensor, noise_mode: str = "const") -> torch.Tensor:
        return self.run(ws, noise_mode=noise_mode).img


class StyleGAN3Generator(Generator):
    """Mapping and StyleGAN3 synthesis behind the interface of dragd's StyleGAN2 `Generator` (`cfg`, `mapping`,
    `synthesis.run`, `num_ws`, `img_shape`, `ws_for_seed`), so the drag loop and sessions take either."""

    family = FAMILY

    def __init__(self, cfg: StyleGAN3Config) -> None:
        nn.Module.__init__(self)  # not Generator.__init__: it would build a StyleGAN2 synthesis network
        self.cfg = cfg  # type: ignore[assignment]
        self.mapping = MappingNetwork(cfg)  # type: ignore[arg-type]  # the same mapping network as StyleGAN2's
        self.synthesis = SynthesisNetwork(cfg)  # type: ignore[assignment]
