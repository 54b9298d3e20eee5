"""The StyleGAN2 generator (Karras et al. 2020), written for dragd in plain torch ops.

Parameter and buffer names follow NVIDIA's stylegan2-ada-pytorch / stylegan3 layout
(`mapping.fc0.weight`, `synthesis.b64.conv0.affine.bias`, ...) so that their checkpoints load
with a strict state-dict match. There are no custom CUDA kernels: the same code runs on CUDA, CPU
and Apple MPS. Everything runs in float32 (NVIDIA's fp16 layers are a training speed-up; the
activation clamp they come with is kept, since it changes outputs).

DragGAN needs the synthesis network in two halves: the blocks up to the feature block run with
autograd, the rest only when an image is wanted. `SynthesisNetwork.run` runs any range of blocks
from a `SynthesisState`, so a caller can stop and resume between blocks; `SynthesisLayer.apply` runs a
layer on a window of its map (daemon/engine/windows.py). The low-level ops are in stylegan2_ops.py.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

from ...protocol.limits import DEFAULT_TRUNCATION, MAX_SEED
from .stylegan2_ops import (
    LRELU_GAIN,
    LRELU_SLOPE,  # noqa: F401  (re-exported: other generators import the activation constants from here)
    Modulation,
    bias_act,
    fir_filter,
    modulated_conv,
    modulated_conv2d,
    modulation,
    upfirdn2d,  # noqa: F401  (re-exported)
    upsample2d,
)

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
        self._energy: tuple[tuple[int, int, int], torch.Tensor] | None = None  # (weight key, sum_k w^2)

    def weight_energy(self) -> torch.Tensor:
        """sum over the kernel of weight^2, [out, in]; cached while the weight is frozen and unchanged."""
        if self.weight.requires_grad:
            return self.weight.square().sum(dim=[2, 3])
        key = (id(self.weight), self.weight.data_ptr(), self.weight._version)
        if self._energy is None or self._energy[0] != key:
            with torch.no_grad():
                self._energy = key, self.weight.square().sum(dim=[2, 3])
        return self._energy[1]

    def modulation(self, w: torch.Tensor, fused: bool = True) -> Modulation:
        """This layer's modulation for latents w [batch, w_dim] (see `Modulation`)."""
        energy = None if fused else self.weight_energy()
        return modulation(self.weight, self.affine(w), demodulate=True, fused=fused, energy=energy)

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str, fused: bool = True) -> torch.Tensor:
        return self.apply(x, self.modulation(w, fused), noise_mode)

    def apply(self, x: torch.Tensor, mod: Modulation, noise_mode: str,
              region: tuple[int, int, int, int] | None = None) -> torch.Tensor:
        """The layer with the modulation `mod`, on the whole map (region None) or on a window of it.

        region: (top, left, bottom, right), half-open, of the output map. x must then hold exactly the input
        rows and columns that region reads (zero where they leave the map), as `engine/windows.py` crops them.
        """
        x = modulated_conv(x, self.weight, mod, up=self.up, resample_filter=self.resample_filter,
                           padded=region is None)
        if region is None:
            shape = self.shape
        else:
            top, left, bottom, right = region
            shape = (bottom - top, right - left)
            if self.up == 2:  # the valid outputs start at the even row (column) at or before the region's
                x = x[:, :, top % 2: top % 2 + shape[0], left % 2: left % 2 + shape[1]]
            assert tuple(x.shape[2:]) == shape, (tuple(x.shape), region)
        if noise_mode == "const":
            noise = self.noise_const if region is None else self.noise_const[top:bottom, left:right]
            x = x + noise * self.noise_strength
        elif noise_mode == "random":
            noise = torch.randn(x.shape[0], 1, *shape, device=x.device)
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
                noise_mode: str, images: bool = True, fused: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
        """`ws` holds this block's num_conv + 1 latents (the last one for toRGB); images=False skips the skip
        image; fused picks the form of the modulated convs (see `Modulation`)."""
        if self.first:
            x = self.const.unsqueeze(0).expand(ws.shape[0], -1, -1, -1)
            x = self.conv1(x, ws[:, 0], noise_mode, fused)
        else:
            assert x is not None
            x = self.conv0(x, ws[:, 0], noise_mode, fused)
            x = self.conv1(x, ws[:, 1], noise_mode, fused)
            if not images:
                return x, None
            assert img is not None
            img = upsample2d(img, self.resample_filter)
        if not images:
            return x, None
        y = self.torgb(x, ws[:, self.num_conv])
        img = y if img is None else img + y
        return x, img


class SynthesisState(NamedTuple):
    """Where the synthesis network stands after some blocks: their feature map and the skip image."""

    x: torch.Tensor
    img: torch.Tensor | None  # None when the blocks ran with images=False


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
            state: SynthesisState | None = None, noise_mode: str = "const", images: bool = True,
            fused: bool = True) -> SynthesisState:
        """Runs blocks [start, stop) from `state` (None when start is 0).

        images=False computes only the feature maps (no toRGB, no skip image): the state's img is None, and it
        cannot be resumed towards an image. fused=False uses the unfused modulated convs (see `Modulation`):
        the same values up to float rounding, and a much cheaper backward pass to the latent.
        """
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
            x, img = block(x, img, ws[:, offset: offset + block.num_conv + 1], noise_mode, images, fused)
        assert x is not None
        return SynthesisState(x, img)

    def forward(self, ws: torch.Tensor, noise_mode: str = "const") -> torch.Tensor:
        img = self.run(ws, noise_mode=noise_mode).img
        assert img is not None
        return img


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

    def ws_for_seed(self, seed: int, truncation_psi: float = DEFAULT_TRUNCATION) -> torch.Tensor:
        """The latent NVIDIA's and DragGAN's tools mean by a seed: z = RandomState(seed).randn(1, z_dim)."""
        if not 0 <= seed <= MAX_SEED:
            raise ValueError(f"seed must be in [0, {MAX_SEED}], got {seed}")
        z = np.random.RandomState(seed).randn(1, self.cfg.z_dim)
        device = self.mapping.w_avg.device
        with torch.no_grad():
            return self.mapping(torch.from_numpy(z).float().to(device), truncation_psi)


def to_uint8_image(img: torch.Tensor) -> np.ndarray:
    """[1, C, H, W] generator output in [-1, 1] -> H x W x C uint8, as NVIDIA's tools round it."""
    pixels = (img[0].detach().permute(1, 2, 0) * 127.5 + 128).clamp(0, 255).to(torch.uint8)
    return pixels.cpu().numpy()
