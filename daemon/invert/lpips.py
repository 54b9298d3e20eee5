"""LPIPS (Zhang et al. 2018, VGG variant, v0.1): the perceptual distance inversion optimises and reports.

The network: inputs in [-1, 1] are shifted and scaled per channel, passed through VGG16's convolutional
layers; the ReLU outputs relu1_2, relu2_2, relu3_3, relu4_3 and relu5_3 are unit-normalised along channels,
their squared differences weighted per channel by a learned non-negative 1x1 "linear head", averaged over
space and summed over the five layers.

Its weights are two files a user downloads once (`lpips_files.fetch_lpips_weights`, torch-free): torchvision's
ImageNet VGG16 (`features.N.weight/bias`) and the LPIPS heads (`linK.model.1.weight`, [1, C, 1, 1]). Both are plain
tensor dictionaries, read with `torch.load(weights_only=True)`, which builds tensors and nothing else.
Without them inversion still works with pixel losses only (`load_lpips` returns None).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..models.checkpoint import non_finite_keys
from .lpips_files import (  # noqa: F401 (re-exported: where the weights come from is lpips_files' business)
    HEADS_FILE,
    LPIPS_FILES,
    NO_LPIPS,
    VGG16_FILE,
    WeightsFile,
    fetch_lpips_weights,
    lpips_dir,
)

VGG16_LAYERS = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512]
# Index (in torchvision's `features` Sequential) of the ReLU after which each LPIPS layer is read.
TAP_AFTER = (3, 8, 15, 22, 29)
TAP_CHANNELS = (64, 128, 256, 512, 512)
# LPIPS's input normalisation for images in [-1, 1].
SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)


class LpipsWeightsError(ValueError):
    """A weights file is present but is not what LPIPS needs."""


class LpipsVgg(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        in_ch = 3
        for item in VGG16_LAYERS:
            if item == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(in_ch, int(item), 3, padding=1), nn.ReLU()]
                in_ch = int(item)
        self.features = nn.Sequential(*layers)
        self.heads = nn.ParameterList([nn.Parameter(torch.zeros(1, c, 1, 1)) for c in TAP_CHANNELS])
        self.register_buffer("shift", torch.tensor(SHIFT).reshape(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(SCALE).reshape(1, 3, 1, 1))

    def taps(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = (x - self.shift) / self.scale
        out = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in TAP_AFTER:
                out.append(x / (x.square().sum(dim=1, keepdim=True).sqrt() + 1e-10))
                if len(out) == len(TAP_AFTER):
                    break
        return out

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Distances [batch] between images in [-1, 1] of equal shape."""
        total = a.new_zeros(a.shape[0])
        for fa, fb, head in zip(self.taps(a), self.taps(b), self.heads, strict=True):
            total = total + F.conv2d((fa - fb).square(), head).mean(dim=(1, 2, 3))
        return total

    def load_weights(self, vgg16: dict[str, torch.Tensor], heads: dict[str, torch.Tensor]) -> None:
        mine = {}
        for i, layer in enumerate(self.features):
            if isinstance(layer, nn.Conv2d):
                for part in ("weight", "bias"):
                    key = f"features.{i}.{part}"
                    if key not in vgg16 or vgg16[key].shape != getattr(layer, part).shape:
                        raise LpipsWeightsError(f"VGG16 weights lack {key} of shape {list(getattr(layer, part).shape)}")
                    mine[key] = vgg16[key]
        for k, c in enumerate(TAP_CHANNELS):
            key = f"lin{k}.model.1.weight"
            if key not in heads or heads[key].shape != (1, c, 1, 1):
                raise LpipsWeightsError(f"LPIPS heads lack {key} of shape [1, {c}, 1, 1]")
            mine[f"heads.{k}"] = heads[key]
        bad = non_finite_keys(mine)
        if bad:
            raise LpipsWeightsError(f"the LPIPS weights hold NaN or infinite values (e.g. {', '.join(bad[:3])}); "
                                    "fetch them again with `dragd models --fetch-lpips`")
        self.load_state_dict(mine, strict=False)


def _read_tensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a broken or foreign file: say which, never run it
        raise LpipsWeightsError(f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise LpipsWeightsError(f"{path} is not a dictionary of tensors")
    return data


def load_lpips(folder: Path | None = None, device: torch.device | str = "cpu") -> LpipsVgg | None:
    """The LPIPS network with its weights from `folder` (default `lpips_dir()`), or None if not installed."""
    folder = lpips_dir() if folder is None else folder
    paths = [folder / f.name for f in LPIPS_FILES]
    if not all(p.is_file() for p in paths):
        return None
    net = LpipsVgg()
    net.load_weights(_read_tensors(paths[0]), _read_tensors(paths[1]))
    return net.to(device).eval().requires_grad_(False)
