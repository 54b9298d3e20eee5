"""The StyleGAN2 generator (Karras et al. 2020), written for dragd in plain torch ops.

Parameter and buffer names follow NVIDIA's stylegan2-ada-pytorch / stylegan3 layout
(`mapping.fc0.weight`, `synthesis.b64.conv0.affine.bias`, ...) so that their checkpoints load
with a strict state-dict match. There are no custom CUDA kernels: the same code runs on CUDA, CPU
and Apple MPS. Everything runs in float32 (NVIDIA's fp16 layers are a training speed-up; the
activation clamp they come with is kept, since it changes outputs).

DragGAN needs the synthesis network in two halves: the blocks up to the feature block run with
autograd, the rest only when an image is wanted. `SynthesisNetwork.run` runs any range of blocks
from a `SynthesisState`, so a caller can stop and resume between blocks.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

LRELU_SLOPE = 0.2
LRELU_GAIN = math.sqrt(2.0)
NOISE_MODES = ("const", "random", "none")


class UnsupportedModelError(ValueError):
    """The checkpoint describes a network this generator does not implement."""


@dataclass(frozen=True)
class GeneratorConfig:
    """Everything that fixes the generator's shapes and arithmetic."""

    img_resolution: int  # the image height, and its width unless `square` is False
    z_dim: int = 512
    w_dim: int = 512
    img_channels: int = 3
    mapping_layers: int = 8
    mapping_lr_multiplier: float = 0.01
    channel_base: int = 32768
    channel_max: int = 512
    conv_clamp: float | None = 256.0
    # False: StyleGAN-Human's portrait layout, where every block (from the 4x2 constant on) and the image
    # are half as wide as they are high, e.g. 512x256.
    square: bool = True

    def __post_init__(self) -> None:
        res = self.img_resolution
        if res < 4 or res & (res - 1):
            raise UnsupportedModelError(f"image resolution must be a power of two >= 4, not {res}")
        if not isinstance(self.square, bool):
            raise UnsupportedModelError(f"square must be true or false, not {self.square!r}")
        for name in ("z_dim", "w_dim", "img_channels", "mapping_layers", "channel_base", "channel_max"):
            if int(getattr(self, name)) < 1:
                raise UnsupportedModelError(f"{name} must be positive")

    @property
    def block_resolutions(self) -> list[int]:
        return [2**i for i in range(2, int(math.log2(self.img_resolution)) + 1)]

    def channels(self, res: int) -> int:
        return min(self.channel_base // res, self.channel_max)

    def block_shape(self, res: int) -> tuple[int, int]:
        """(height, width) of the feature maps of the block of resolution `res`."""
        return (res, res) if self.square else (res, res // 2)

    @property
    def img_shape(self) -> tuple[int, int]:
        """(height, width) of the generated image."""
        return self.block_shape(self.img_resolution)

    @property
    def num_ws(self) -> int:
        # One w per conv layer (the 4 px block has one, the others two) plus one for the last toRGB.
        return 1 + 2 * (len(self.block_resolutions) - 1) + 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GeneratorConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise UnsupportedModelError(f"unknown generator config keys: {sorted(unknown)}")
        return cls(**data)

    def nvidia_kwargs(self) -> dict[str, Any]:
        """Init kwargs for NVIDIA's Generator (flat, stylegan3-repository style) that `from_nvidia_kwargs` reads
        back as this config."""
        kwargs: dict[str, Any] = {
            "z_dim": self.z_dim, "w_dim": self.w_dim, "c_dim": 0, "img_resolution": self.img_resolution,
            "img_channels": self.img_channels,
            "mapping_kwargs": {"num_layers": self.mapping_layers, "lr_multiplier": self.mapping_lr_multiplier},
            "channel_base": self.channel_base, "channel_max": self.channel_max, "conv_clamp": self.conv_clamp,
            "architecture": "skip",
        }
        if not self.square:  # StyleGAN-Human's name for its portrait layout; square files stay as they were
            kwargs["square"] = False
        return kwargs

    @classmethod
    def from_nvidia_kwargs(cls, kwargs: dict[str, Any]) -> GeneratorConfig:
        """Reads the init kwargs of NVIDIA's `Generator` (flat stylegan3 style or nested ada style)."""
        synthesis = dict(kwargs.get("synthesis_kwargs") or {})
        mapping = dict(kwargs.get("mapping_kwargs") or {})

        def pick(name: str, default: Any) -> Any:
            return kwargs.get(name, synthesis.get(name, default))

        if int(kwargs.get("c_dim", 0) or 0) != 0:
            raise UnsupportedModelError("conditional generators (c_dim > 0) are not supported")
        architecture = pick("architecture", "skip")
        if architecture != "skip":
            raise UnsupportedModelError(f"only the 'skip' generator architecture is supported, not {architecture!r}")
        if mapping.get("layer_features") not in (None, kwargs.get("w_dim", 512)):
            raise UnsupportedModelError("mapping networks with layer_features != w_dim are not supported")
        if tuple(pick("resample_filter", [1, 3, 3, 1])) != (1, 3, 3, 1):
            raise UnsupportedModelError("only the [1, 3, 3, 1] resampling filter is supported")
        # Without a recorded conv_clamp, the default of the code the kwargs come from: stylegan2-ada-pytorch
        # (its Generator nests synthesis_kwargs) has no clamp; the stylegan3 repository's StyleGAN2 (flat
        # kwargs) clamps at 256. Readers put the value a file's layers recorded into the kwargs first.
        clamp = pick("conv_clamp", None if "synthesis_kwargs" in kwargs else 256)
        square = pick("square", True)
        if not isinstance(square, bool):
            raise UnsupportedModelError(f"the 'square' kwarg must be true or false, not {square!r}")
        return cls(
            img_resolution=int(kwargs["img_resolution"]),
            z_dim=int(kwargs.get("z_dim", 512)),
            w_dim=int(kwargs.get("w_dim", 512)),
            img_channels=int(kwargs.get("img_channels", 3)),
            mapping_layers=int(mapping.get("num_layers", 8)),
            mapping_lr_multiplier=float(mapping.get("lr_multiplier", 0.01)),
            channel_base=int(pick("channel_base", 32768)),
            channel_max=int(pick("channel_max", 512)),
            conv_clamp=None if clamp is None else float(clamp),
            square=square,
        )


# --- low-level ops --------------------------------------------------------------------------------


def fir_filter(taps: list[float] | tuple[float, ...] = (1, 3, 3, 1)) -> torch.Tensor:
    """The separable low-pass filter as a normalised 2-D kernel."""
    f = torch.as_tensor(taps, dtype=torch.float32)
    f = torch.outer(f, f)
    return f / f.sum()


def upfirdn2d(x: torch.Tensor, f: torch.Tensor, up: int = 1, pad: tuple[int, int, int, int] = (0, 0, 0, 0),
              gain: float = 1.0) -> torch.Tensor:
    """Zero-insertion upsampling by `up`, padding (left, right, top, bottom), then FIR filtering."""
    b, c, h, w = x.shape
    if up > 1:
        x = x.reshape(b, c, h, 1, w, 1)
        x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1])
        x = x.reshape(b, c, h * up, w * up)
    x = F.pad(x, list(pad))
    # A true convolution: conv2d correlates, so the kernel is flipped (a no-op for symmetric filters).
    kernel = (f * gain).flip([0, 1]).to(x.dtype)
    kernel = kernel[None, None].expand(c, 1, *f.shape)
    return F.conv2d(x, kernel, groups=c)


def upsample2d(x: torch.Tensor, f: torch.Tensor, up: int = 2) -> torch.Tensor:
    fw = f.shape[-1]
    p0, p1 = (fw + up - 1) // 2, (fw - up) // 2
    return upfirdn2d(x, f, up=up, pad=(p0, p1, p0, p1), gain=up * up)


def bias_act(x: torch.Tensor, bias: torch.Tensor | None, lrelu: bool, gain: float,
             clamp: float | None) -> torch.Tensor:
    if bias is not None:
        x = x + bias.reshape([1, -1] + [1] * (x.ndim - 2))
    if lrelu:
        x = F.leaky_relu(x, LRELU_SLOPE)
    if gain != 1:
        x = x * gain
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    return x


def modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, demodulate: bool,
                     up: int = 1, resample_filter: torch.Tensor | None = None) -> torch.Tensor:
    """A convolution whose weights are scaled per sample by `styles` (one grouped conv per batch)."""
    batch, in_ch, h, w = x.shape
    out_ch, _, kh, kw = weight.shape
    wts = weight.unsqueeze(0) * styles.reshape(batch, 1, in_ch, 1, 1)
    if demodulate:
        wts = wts * (wts.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt().reshape(batch, out_ch, 1, 1, 1)
    x = x.reshape(1, batch * in_ch, h, w)
    if up == 1:
        x = F.conv2d(x, wts.reshape(batch * out_ch, in_ch, kh, kw), padding=kh // 2, groups=batch)
    else:
        # Transposed conv with stride `up`, then the FIR filter, as StyleGAN2 does; the padding
        # (1 on each side for a 3x3 kernel and a 4-tap filter) makes the output exactly `up` times larger.
        assert resample_filter is not None and kh == kw == 3 and up == 2
        wt = wts.transpose(1, 2).reshape(batch * in_ch, out_ch, kh, kw)
        x = F.conv_transpose2d(x, wt, stride=up, groups=batch)
        fw = resample_filter.shape[-1]
        p = (fw + up - 1) // 2 + 1 - (kw - 1)
        x = upfirdn2d(x, resample_filter, pad=(p, p, p, p), gain=up * up)
    return x.reshape(batch, out_ch, x.shape[2], x.shape[3])


# --- layers ---------------------------------------------------------------------------------------


class FullyConnected(nn.Module):
    """A dense layer with equalised learning rate (weights stored unscaled, scaled at run time)."""

    def __init__(self, in_features: int, out_features: int, lrelu: bool = False, lr_multiplier: float = 1.0,
                 bias_init: float = 0.0) -> None:
        super().__init__()
        self.lrelu = lrelu
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_multiplier)
        self.bias = nn.Parameter(torch.full([out_features], float(bias_init)))
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.matmul((self.weight * self.weight_gain).t())
        return bias_act(x, self.bias * self.bias_gain, self.lrelu, LRELU_GAIN if self.lrelu else 1.0, None)


class MappingNetwork(nn.Module):
    def __init__(self, cfg: GeneratorConfig) -> None:
        super().__init__()
        self.num_layers = cfg.mapping_layers
        self.num_ws = cfg.num_ws
        for i in range(cfg.mapping_layers):
            in_features = cfg.z_dim if i == 0 else cfg.w_dim
            layer = FullyConnected(in_features, cfg.w_dim, lrelu=True, lr_multiplier=cfg.mapping_lr_multiplier)
            setattr(self, f"fc{i}", layer)
        self.register_buffer("w_avg", torch.zeros([cfg.w_dim]))

    def forward(self, z: torch.Tensor, truncation_psi: float = 1.0,
                truncation_cutoff: int | None = None) -> torch.Tensor:
        x = z * (z.square().mean(dim=1, keepdim=True) + 1e-8).rsqrt()
        for i in range(self.num_layers):
            x = getattr(self, f"fc{i}")(x)
        ws = x.unsqueeze(1).repeat(1, self.num_ws, 1)
        if truncation_psi != 1:
            cutoff = self.num_ws if truncation_cutoff is None else truncation_cutoff
            ws[:, :cutoff] = self.w_avg.lerp(ws[:, :cutoff], truncation_psi)
        return ws


class SynthesisLayer(nn.Module):
    """Modulated 3x3 conv, optional 2x upsampling, noise, bias, leaky ReLU, clamp."""

    def __init__(self, in_ch: int, out_ch: int, w_dim: int, shape: tuple[int, int], up: int,
                 conv_clamp: float | None) -> None:
        super().__init__()
        self.up = up
        self.shape = shape  # (height, width) of the output
        self.conv_clamp = conv_clamp
        self.affine = FullyConnected(w_dim, in_ch, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, 3, 3))
        self.bias = nn.Parameter(torch.zeros(out_ch))
        self.noise_strength = nn.Parameter(torch.zeros([]))
        self.register_buffer("resample_filter", fir_filter())
        self.register_buffer("noise_const", torch.randn(*shape))

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str) -> torch.Tensor:
        styles = self.affine(w)
        x = modulated_conv2d(x, self.weight, styles, demodulate=True, up=self.up,
                             resample_filter=self.resample_filter)
        if noise_mode == "const":
            x = x + self.noise_const * self.noise_strength
        elif noise_mode == "random":
            noise = torch.randn(x.shape[0], 1, *self.shape, device=x.device)
            x = x + noise * self.noise_strength
        return bias_act(x, self.bias, lrelu=True, gain=LRELU_GAIN,
                        clamp=None if self.conv_clamp is None else self.conv_clamp)


class ToRGB(nn.Module):
    def __init__(self, in_ch: int, img_ch: int, w_dim: int, conv_clamp: float | None) -> None:
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = FullyConnected(w_dim, in_ch, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(img_ch, in_ch, 1, 1))
        self.bias = nn.Parameter(torch.zeros(img_ch))
        self.weight_gain = 1 / math.sqrt(in_ch)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        styles = self.affine(w) * self.weight_gain
        x = modulated_conv2d(x, self.weight, styles, demodulate=False)
        return bias_act(x, self.bias, lrelu=False, gain=1.0, clamp=self.conv_clamp)


class SynthesisBlock(nn.Module):
    """One resolution: (constant input or upsampling conv0), conv1, and a toRGB added to the skip image."""

    def __init__(self, in_ch: int, out_ch: int, cfg: GeneratorConfig, resolution: int) -> None:
        super().__init__()
        self.resolution = resolution
        self.first = in_ch == 0
        shape = cfg.block_shape(resolution)
        if self.first:
            self.const = nn.Parameter(torch.randn(out_ch, *shape))
        else:
            self.conv0 = SynthesisLayer(in_ch, out_ch, cfg.w_dim, shape, up=2, conv_clamp=cfg.conv_clamp)
        self.conv1 = SynthesisLayer(out_ch, out_ch, cfg.w_dim, shape, up=1, conv_clamp=cfg.conv_clamp)
        self.torgb = ToRGB(out_ch, cfg.img_channels, cfg.w_dim, cfg.conv_clamp)
        self.register_buffer("resample_filter", fir_filter())
        self.num_conv = 1 if self.first else 2

    def forward(self, x: torch.Tensor | None, img: torch.Tensor | None, ws: torch.Tensor,
                noise_mode: str) -> tuple[torch.Tensor, torch.Tensor]:
        """`ws` holds this block's num_conv + 1 latents (the last one for toRGB)."""
        if self.first:
            x = self.const.unsqueeze(0).expand(ws.shape[0], -1, -1, -1)
            x = self.conv1(x, ws[:, 0], noise_mode)
        else:
            assert x is not None and img is not None
            x = self.conv0(x, ws[:, 0], noise_mode)
            x = self.conv1(x, ws[:, 1], noise_mode)
            img = upsample2d(img, self.resample_filter)
        y = self.torgb(x, ws[:, self.num_conv])
        img = y if img is None else img + y
        return x, img


class SynthesisState(NamedTuple):
    """Where the synthesis network stands after some blocks: their feature map and the skip image."""

    x: torch.Tensor
    img: torch.Tensor


class SynthesisNetwork(nn.Module):
    def __init__(self, cfg: GeneratorConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.block_resolutions = cfg.block_resolutions
        self.num_ws = cfg.num_ws
        self.block_names = [f"b{res}" for res in self.block_resolutions]
        prev = 0
        self.ws_offsets: list[int] = []
        offset = 0
        for res in self.block_resolutions:
            block = SynthesisBlock(prev, cfg.channels(res), cfg, res)
            setattr(self, f"b{res}", block)
            self.ws_offsets.append(offset)
            offset += block.num_conv
            prev = cfg.channels(res)

    @property
    def num_blocks(self) -> int:
        return len(self.block_resolutions)

    def block(self, index: int) -> SynthesisBlock:
        return getattr(self, self.block_names[index])

    def run(self, ws: torch.Tensor, start: int = 0, stop: int | None = None,
            state: SynthesisState | None = None, noise_mode: str = "const") -> SynthesisState:
        """Runs blocks [start, stop) from `state` (None when start is 0)."""
        if ws.ndim != 3 or ws.shape[1:] != (self.num_ws, self.cfg.w_dim):
            raise ValueError(f"ws must be [batch, {self.num_ws}, {self.cfg.w_dim}], got {list(ws.shape)}")
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}")
        stop = self.num_blocks if stop is None else stop
        x, img = (None, None) if state is None else state
        if (start == 0) != (state is None):
            raise ValueError("a state is needed exactly when starting after the first block")
        for i in range(start, stop):
            block = self.block(i)
            offset = self.ws_offsets[i]
            x, img = block(x, img, ws[:, offset: offset + block.num_conv + 1], noise_mode)
        assert x is not None and img is not None
        return SynthesisState(x, img)

    def forward(self, ws: torch.Tensor, noise_mode: str = "const") -> torch.Tensor:
        return self.run(ws, noise_mode=noise_mode).img


class Generator(nn.Module):
    def __init__(self, cfg: GeneratorConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.mapping = MappingNetwork(cfg)
        self.synthesis = SynthesisNetwork(cfg)

    @property
    def img_resolution(self) -> int:
        return self.cfg.img_resolution

    @property
    def img_shape(self) -> tuple[int, int]:
        """(height, width) of the generated image."""
        return self.cfg.img_shape

    @property
    def num_ws(self) -> int:
        return self.cfg.num_ws

    def forward(self, z: torch.Tensor, truncation_psi: float = 1.0, noise_mode: str = "const") -> torch.Tensor:
        return self.synthesis(self.mapping(z, truncation_psi), noise_mode=noise_mode)

    def ws_for_seed(self, seed: int, truncation_psi: float = 0.7) -> torch.Tensor:
        """The latent NVIDIA's and DragGAN's tools mean by a seed: z = RandomState(seed).randn(1, z_dim)."""
        if not 0 <= seed < 2**32:
            raise ValueError(f"seed must be in [0, 2**32), got {seed}")
        z = np.random.RandomState(seed).randn(1, self.cfg.z_dim)
        device = self.mapping.w_avg.device
        with torch.no_grad():
            return self.mapping(torch.from_numpy(z).float().to(device), truncation_psi)


def to_uint8_image(img: torch.Tensor) -> np.ndarray:
    """[1, C, H, W] generator output in [-1, 1] -> H x W x C uint8, as NVIDIA's tools round it."""
    pixels = (img[0].detach().permute(1, 2, 0) * 127.5 + 128).clamp(0, 255).to(torch.uint8)
    return pixels.cpu().numpy()
