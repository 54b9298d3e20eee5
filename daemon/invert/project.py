"""Projection: the latent whose image best reproduces a target, first as one w, then refined in W+.

Stage 1 follows StyleGAN2's projector (Karras et al. 2020): start from the mean w, Adam with a learning rate
that ramps up over the first 5 % of steps and down (cosine) over the last 25 %, Gaussian noise on w that
shrinks to zero over the first 75 % (it keeps the early search from settling in a poor basin), and the
per-layer noise inputs optimised too, under a regulariser that keeps them noise-like and renormalised to
zero mean and unit variance after every step. Stage 2 lets each layer's w move on its own from there (W+),
with a smaller step: more expressive, which real photos need, while the start keeps it near the manifold.

The generator passed in is modified: its noise inputs become the optimised ones. Pass a session-local copy.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..models.stylegan2 import Generator, SynthesisLayer
from .losses import ReconstructionLoss, noise_regularisation

Tick = Callable[[int], None]  # called before each step with its index; raises to cancel


@dataclass(frozen=True)
class ProjectionOptions:
    w_steps: int = 200
    wplus_steps: int = 100
    w_lr: float = 0.1
    wplus_lr: float = 0.01
    w_noise: float = 0.05  # initial noise on w, as a fraction of w's spread
    w_noise_ramp: float = 0.75  # fraction of the w steps over which that noise falls to zero
    lr_rampdown: float = 0.25
    lr_rampup: float = 0.05
    noise_weight: float = 1e5  # weight of the noise regulariser
    optimise_noise: bool = True
    stat_samples: int = 4096  # z samples for w's mean and spread
    seed: int = 0


def w_statistics(generator: Generator, samples: int, seed: int) -> tuple[torch.Tensor, float]:
    """Mean w ([1, 1, w_dim]) and the root-mean-square distance of w from it."""
    device = generator.mapping.w_avg.device
    z = torch.randn(samples, generator.cfg.z_dim, generator=torch.Generator().manual_seed(seed)).to(device)
    with torch.no_grad():
        ws = generator.mapping(z)[:, :1]
    mean = ws.mean(dim=0, keepdim=True)
    return mean, float(((ws - mean).square().sum() / samples).sqrt())


def noise_inputs(generator: Generator) -> list[torch.Tensor]:
    """The per-layer constant noise maps `noise_mode="const"` adds (what a drag renders with)."""
    return [m.noise_const for m in generator.synthesis.modules() if isinstance(m, SynthesisLayer)]


def _learning_rate(base: float, t: float, options: ProjectionOptions) -> float:
    ramp = min(1.0, (1.0 - t) / options.lr_rampdown)
    ramp = 0.5 - 0.5 * math.cos(ramp * math.pi)
    return base * ramp * min(1.0, t / options.lr_rampup)


def project(generator: Generator, target: torch.Tensor, loss_fn: ReconstructionLoss, options: ProjectionOptions,
            tick: Tick) -> torch.Tensor:
    """The W+ latent [1, num_ws, w_dim] reproducing `target` ([1, 3, R, R] in [-1, 1])."""
    num_ws = generator.num_ws
    w_mean, w_spread = w_statistics(generator, options.stat_samples, options.seed)
    noises = noise_inputs(generator) if options.optimise_noise else []
    for n in noises:
        n.requires_grad_(True)
    rng = torch.Generator().manual_seed(options.seed + 1)

    def step(optimizer: torch.optim.Optimizer, ws: torch.Tensor) -> None:
        image = generator.synthesis(ws, noise_mode="const")
        loss = loss_fn(image, target)
        if noises:
            loss = loss + options.noise_weight * noise_regularisation(noises)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        with torch.no_grad():  # keep the noise maps at zero mean, unit variance
            for n in noises:
                n.sub_(n.mean()).div_(n.square().mean().sqrt() + 1e-8)

    w = w_mean.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([w, *noises], betas=(0.9, 0.999), lr=options.w_lr)
    for i in range(options.w_steps):
        tick(i)
        t = i / options.w_steps
        for group in optimizer.param_groups:
            group["lr"] = _learning_rate(options.w_lr, t, options)
        scale = w_spread * options.w_noise * max(0.0, 1.0 - t / options.w_noise_ramp) ** 2
        jitter = torch.randn(w.shape, generator=rng).to(w.device) * scale
        step(optimizer, (w + jitter).repeat(1, num_ws, 1))

    ws = w.detach().repeat(1, num_ws, 1).requires_grad_(True)
    optimizer = torch.optim.Adam([ws, *noises], betas=(0.9, 0.999), lr=options.wplus_lr)
    for i in range(options.wplus_steps):
        tick(options.w_steps + i)
        for group in optimizer.param_groups:
            group["lr"] = _learning_rate(options.wplus_lr, i / options.wplus_steps, options)
        step(optimizer, ws)

    for n in noises:
        n.requires_grad_(False)
    return ws.detach()
