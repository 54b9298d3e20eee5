"""How a drag runs (`DragOptions`) and the defaults a model fills in; daemon/engine/drag.py runs it."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from ..models.stylegan2 import Generator
from .errors import DragInputError
from .windows import WINDOWED_BLOCKS

LATENT_SPACES = ("w+", "w")
TRACKING_NORMS = ("l2", "l1")
MOTION_FORMS = ("paper", "reference")
COMPUTE_MODES = ("windowed", "full")
GENERIC_STEP_SIZE = 1e-3  # the paper's step size for models other than FFHQ, AFHQ cat and LSUN car
REFERENCE_MASK_STRENGTH = 20.0  # lambda in the reference implementation's GUI


@dataclass(frozen=True)
class DragOptions:
    step_size: float | None = None  # None: the model's default (2e-3 for faces, cars, cats; else 1e-3)
    latent_space: str = "w+"
    trainable_layers: int = 6
    feature_block: int | None = None  # index into the synthesis blocks (0 = the 4 px block)
    r1: float | None = None  # motion supervision radius in px; default round(3 / 512 * size)
    r2: int | None = None  # tracking half-size in px; default round(12 / 512 * size)
    mask_strength: float | None = None  # lambda; None: the model's default, else 20 as in the reference GUI
    stop_distance: float | None = None  # default 1 px for up to 5 handles, else 2 px
    max_steps: int = 300
    tracking_norm: str = "l2"
    motion_supervision: str = "paper"  # or "reference": DragGAN's official code, step for step
    compute: str = "windowed"  # or "full": every block on the whole map (same results, slower; for comparison)
    windowed_blocks: int = WINDOWED_BLOCKS  # with "windowed": how many blocks up to the feature block use windows

    def validate(self, generator: Generator) -> None:
        checks = [
            (self.step_size is None or (math.isfinite(self.step_size) and 0 < self.step_size <= 1),
             "step size must be in (0, 1]"),
            (self.latent_space in LATENT_SPACES, f"latent space must be one of {LATENT_SPACES}"),
            (1 <= self.trainable_layers <= generator.num_ws,
             f"trainable layers must be in [1, {generator.num_ws}]"),
            (self.feature_block is None or 0 <= self.feature_block < generator.synthesis.num_blocks,
             f"feature block must be in [0, {generator.synthesis.num_blocks - 1}]"),
            (self.r1 is None or (math.isfinite(self.r1) and 0 < self.r1 <= 64), "r1 must be in (0, 64]"),
            (self.r2 is None or 1 <= self.r2 <= 128, "r2 must be in [1, 128] (at 0 a handle cannot move)"),
            (self.mask_strength is None or (math.isfinite(self.mask_strength) and self.mask_strength >= 0),
             "mask strength must be a finite number >= 0"),
            (self.stop_distance is None or (math.isfinite(self.stop_distance) and self.stop_distance >= 0),
             "stop distance must be a finite number >= 0"),
            (0 <= self.max_steps <= 100_000, "max steps must be in [0, 100000]"),
            (self.tracking_norm in TRACKING_NORMS, f"tracking norm must be one of {TRACKING_NORMS}"),
            (self.motion_supervision in MOTION_FORMS, f"motion supervision must be one of {MOTION_FORMS}"),
            (self.compute in COMPUTE_MODES, f"compute must be one of {COMPUTE_MODES}"),
            (1 <= self.windowed_blocks <= 32, "windowed blocks must be in [1, 32]"),
        ]
        for ok, message in checks:
            if not ok:
                raise DragInputError(message)


def with_model_defaults(options: DragOptions, step_size: float | None, feature_block: int | None,
                        mask_strength: float | None = None) -> DragOptions:
    """Fills a model's own defaults into the options the caller left unset (None)."""
    defaults = {"step_size": step_size, "feature_block": feature_block, "mask_strength": mask_strength}
    changes = {k: v for k, v in defaults.items() if v is not None and getattr(options, k) is None}
    return replace(options, **changes)
