"""Pivotal tuning (Roich et al. 2022): fine-tune the generator around the projected latent (the pivot).

Projection alone cannot reach most real photos; nudging the synthesis weights so that the pivot reproduces
the photo can, and because the change is small and centred on the pivot, latents near it (a drag's) still
behave like the original model's. The generator passed in is modified: pass the session-local copy, never
the shared model. The mapping network is left alone (drags start from ws, not z).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..models.stylegan2 import Generator
from .losses import ReconstructionLoss
from .project import Tick


@dataclass(frozen=True)
class TuningOptions:
    steps: int = 100
    lr: float = 3e-4  # PTI's


def pivotal_tuning(generator: Generator, ws: torch.Tensor, target: torch.Tensor, loss_fn: ReconstructionLoss,
                   options: TuningOptions, tick: Tick) -> None:
    """Tunes `generator.synthesis` in place so that `ws` renders `target`; leaves it frozen and in eval mode."""
    synthesis = generator.synthesis
    params = [p for p in synthesis.parameters()]
    synthesis.requires_grad_(True)
    try:
        optimizer = torch.optim.Adam(params, lr=options.lr)
        for i in range(options.steps):
            tick(i)
            loss = loss_fn(synthesis(ws, noise_mode="const"), target)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    finally:
        generator.requires_grad_(False).eval()
