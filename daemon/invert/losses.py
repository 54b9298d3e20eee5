"""Reconstruction losses and quality measures for inversion.

Images are [1, 3, R, R] tensors in [-1, 1]. Without LPIPS the loss is the mean squared error plus the same at
coarser scales (a pyramid of 2x box reductions): the coarse terms weigh shape and colour more than texture,
which a blurry fit otherwise trades away for a lower pixel error.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from .lpips import LpipsVgg

LPIPS_MAX_SIZE = 256


def pixel_loss(image: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(image, target)


def multiscale_loss(image: torch.Tensor, target: torch.Tensor, min_size: int = 8) -> torch.Tensor:
    """The mean of the MSEs at full size and each 2x reduction down to `min_size` pixels."""
    losses = [F.mse_loss(image, target)]
    while image.shape[-1] // 2 >= min_size:
        image, target = F.avg_pool2d(image, 2), F.avg_pool2d(target, 2)
        losses.append(F.mse_loss(image, target))
    return torch.stack(losses).mean()


def noise_regularisation(noises: list[torch.Tensor]) -> torch.Tensor:
    """Penalises spatial correlation in the noise maps at every scale down to 8 px, so that the noise inputs
    cannot quietly carry the image's content (StyleGAN2's projector, Karras et al. 2020, appendix)."""
    total = noises[0].new_zeros(())
    for noise in noises:
        n = noise[None, None]
        while True:
            total = total + (n * torch.roll(n, 1, dims=3)).mean() ** 2 + (n * torch.roll(n, 1, dims=2)).mean() ** 2
            if n.shape[-1] <= 8:
                break
            n = F.avg_pool2d(n, 2)
    return total


class ReconstructionLoss:
    """LPIPS + pixel MSE when the LPIPS network is there; pixel + multi-scale MSE otherwise."""

    def __init__(self, lpips: LpipsVgg | None) -> None:
        self.lpips = lpips

    @property
    def perceptual(self) -> bool:
        return self.lpips is not None

    def __call__(self, image: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.lpips is not None:
            return perceptual_distance(self.lpips, image, target) + pixel_loss(image, target)
        return pixel_loss(image, target) + multiscale_loss(image, target)


def perceptual_distance(lpips: LpipsVgg, image: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """LPIPS at no more than 256 px (area-downsampled above it), as StyleGAN2's projector measures it."""
    if image.shape[-1] > LPIPS_MAX_SIZE:
        image = F.interpolate(image, size=(LPIPS_MAX_SIZE, LPIPS_MAX_SIZE), mode="area")
        target = F.interpolate(target, size=(LPIPS_MAX_SIZE, LPIPS_MAX_SIZE), mode="area")
    return lpips(image, target).sum()


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB between two uint8 images; inf when they are equal."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)
