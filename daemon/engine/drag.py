"""The DragGAN optimisation loop (Pan et al. 2023, section 3): motion supervision + point tracking.

Faithful to the paper and its reference implementation by default:
- features F: the output of one synthesis block (default the 6th, or the last of a smaller model), read as if
  bilinearly resized to the image size; on StyleGAN3, a block is one synthesis layer (the 6th is L5, as in
  the reference code), read without its margin (`generators.image_features`);
- motion supervision: for each handle p more than 1 px from its target, the mean L1 distance over the pixels q
  closer than r1 to p between, as the paper writes it (`motion_supervision="paper"`, the default), F(q) detached
  and F(q + d), d the unit vector towards the target; or, as the reference code computes it ("reference"),
  F(q) and a detached F(q - d), with distances to p measured on the reference's stretched grid (see
  `_motion_disc`). Both push the content by d; the gradient flows through other pixels, so drags differ
  within a few steps. "reference" matches the official implementation step for step (a hand check on the
  embedded model gave identical trajectories and images). Plus lambda * mean(|F - F0| * fixed) where `fixed`
  is the region outside the user's mask;
- one Adam step on the first `trainable_layers` latents (W+), the rest stay at their initial values;
- point tracking: each handle moves to the pixel within a (2 r2 + 1)^2 square whose feature is nearest to the
  handle's initial feature (L2 like the reference code, or L1 like the paper);
- one generator forward per step: the features of step k track the handles moved by step k - 1 and drive
  step k's loss. Blocks after the feature block run without autograd, and only when an image is wanted.

What is computed (`compute`): "windowed" (the default) runs the feature block and the block before it only on
windows around the handles (daemon/engine/windows.py), the whole map is never differentiated; the results equal
"full" (every block on the whole map) up to float summation order. The mask term reads the whole map, so a drag
with a mask (and lambda > 0) computes the whole map either way; so does a generator that is not StyleGAN2's.
With "windowed", previews and the final image come from a separate full synthesis without autograd.

Coordinates are (x, y) pixel indices of the generated image: the centre of the top-left pixel is (0, 0).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

import numpy as np
import torch
import torch.nn.functional as F

from ..models.generators import image_features
from ..models.stylegan2 import Generator, SynthesisNetwork, SynthesisState, to_uint8_image
from .errors import DragInputError
from .features import Features, upsampled_at, upsampled_bilinear
from .pairs import PairKey, PairMailbox, PairSpec, key_id, rearranged
from .points import inside_image, nearest_pixel
from .windows import WINDOWED_BLOCKS, feature_boxes, windowed_features

Point = tuple[float, float]
LATENT_SPACES = ("w+", "w")
TRACKING_NORMS = ("l2", "l1")
MOTION_FORMS = ("paper", "reference")
COMPUTE_MODES = ("windowed", "full")
STOP_REASONS = ("reached", "max_steps", "cancelled")
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


@dataclass
class DragStep:
    """What one step produced. `points` are the tracked handles after `step` optimisation steps."""

    step: int
    points: list[Point]
    distances: list[float]
    loss: float | None  # None on the final report, which takes no optimisation step
    image: np.ndarray | None = None  # H x W x C uint8, when requested
    done: bool = False
    stopped: str | None = None  # one of STOP_REASONS on the final report


@dataclass
class DragResult:
    ws: torch.Tensor  # [1, num_ws, w_dim], the latent to continue from
    points: list[Point]
    image: np.ndarray
    steps: int
    reached: bool
    stopped: str
    trajectory: list[list[Point]] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)


def _offsets(radius: int) -> torch.Tensor:
    """Integer (dy, dx) offsets of the square of half-size `radius`."""
    span = torch.arange(-radius, radius + 1)
    dy, dx = torch.meshgrid(span, span, indexing="ij")
    return torch.stack([dy.reshape(-1), dx.reshape(-1)], dim=1)


def default_radii(size: int) -> tuple[float, int]:
    """r1 and r2 for an image of `size` pixels, scaled from the paper's 3 and 12 px at 512 px."""
    return max(1, round(3 / 512 * size)), max(1, round(12 / 512 * size))


def default_feature_block(generator: Generator) -> int:
    """The 6th block (the 128 px block of a 512 px model), or the last block of a smaller model."""
    return min(5, generator.synthesis.num_blocks - 1)


class DragRun:
    """One drag: iterate `steps()` to run it; `cancel()` (any thread) ends it after the current step;
    `set_pairs()` (any thread) changes the pairs from the next step on (live drags, daemon/engine/live.py)."""

    def __init__(self, generator: Generator, ws: torch.Tensor, handles: list[Point], targets: list[Point],
                 mask: np.ndarray | None = None, options: DragOptions | None = None,
                 keys: list[PairKey] | None = None) -> None:
        self.generator = generator
        self.options = options or DragOptions()
        self.options.validate(generator)
        self.height, self.width = generator.img_shape  # StyleGAN-Human's models are twice as high as wide
        self.device = generator.mapping.w_avg.device
        self._check_points(handles, targets)
        if ws.shape != (1, generator.num_ws, generator.cfg.w_dim):
            raise DragInputError(f"latent must be [1, {generator.num_ws}, {generator.cfg.w_dim}], "
                                 f"got {list(ws.shape)}")
        if not torch.isfinite(ws).all():
            raise DragInputError("latent contains NaN or infinite values")
        self.fixed = self._fixed_region(mask)
        r1, r2 = default_radii(self.height)  # DragGAN scales them by the height (its human images are padded)
        self.r1 = self.options.r1 if self.options.r1 is not None else r1
        self.r2 = self.options.r2 if self.options.r2 is not None else r2
        self.feature_block = (self.options.feature_block if self.options.feature_block is not None
                              else default_feature_block(generator))
        self.mask_strength = (self.options.mask_strength if self.options.mask_strength is not None
                              else REFERENCE_MASK_STRENGTH)
        # Windowed: the blocks first_windowed .. feature_block run on windows (None: every block on the whole map).
        self.first_windowed: int | None = None
        mask_term = self.fixed is not None and self.mask_strength > 0
        if (self.options.compute == "windowed" and not mask_term and self.feature_block >= 1
                and isinstance(generator.synthesis, SynthesisNetwork)):
            self.first_windowed = max(1, self.feature_block - self.options.windowed_blocks + 1)
        # Image pixels read around a handle in one step: tracking within r2, then the motion disc (up to
        # ceil(r1) + 1 px, see _motion_disc) around the tracked point, and 2 px more for the shifted bilinear sample.
        self.read_radius = self.r2 + math.ceil(self.r1) + 3
        self.stop_distance = (self.options.stop_distance if self.options.stop_distance is not None
                              else (1.0 if len(handles) <= 5 else 2.0))
        # Handles live on the pixel grid (tracking returns pixels); targets may be fractional.
        self.points = [nearest_pixel(p, self.width, self.height) for p in handles]
        self.targets = [(float(x), float(y)) for x, y in targets]
        self.keys: list[PairKey] = list(range(len(handles))) if keys is None else list(keys)
        if len(self.keys) != len(handles) or len(set(map(key_id, self.keys))) != len(self.keys):
            raise DragInputError("need one unique key per pair")
        # The handles' initial features f_i = F0(p_i), [C, N]; pairs in `_fresh` read theirs at the next step.
        self.references: torch.Tensor | None = None
        self._fresh = list(range(len(handles)))
        self.feat0_resized: torch.Tensor | None = None
        self._mailbox = PairMailbox()
        self.revision = 0  # of the pairs now in use (set_pairs' `revision`; 0: the constructor's)
        self.pair_updates = 0  # how many set_pairs calls were applied
        # The square around a handle that holds its motion disc (one pixel wider: see _motion_disc).
        self.disc_candidates = _offsets(math.ceil(self.r1) + 1).to(self.device)
        self.row_positions = torch.linspace(0, self.height, self.height, device=self.device)
        self.column_positions = torch.linspace(0, self.width, self.width, device=self.device)
        self.window_offsets = _offsets(self.r2).to(self.device)
        self.ws0 = ws.detach().to(self.device, torch.float32)
        layers = self.options.trainable_layers
        # W+: each of the first `layers` latents moves on its own. W: one shared offset moves them together
        # (the same as optimising a single w when they start equal, and no jump when they do not).
        shape = (1, layers if self.options.latent_space == "w+" else 1, self.ws0.shape[2])
        self.offset = torch.zeros(shape, device=self.device, requires_grad=True)
        step_size = self.options.step_size if self.options.step_size is not None else GENERIC_STEP_SIZE
        self.optimizer = torch.optim.Adam([self.offset], lr=step_size)
        self._cancel = threading.Event()
        self.result: DragResult | None = None

    # --- inputs -----------------------------------------------------------------------------------

    def _check_points(self, handles: list[Point], targets: list[Point]) -> None:
        if not handles or len(handles) != len(targets):
            raise DragInputError("need at least one handle and exactly one target per handle")
        for point in [*handles, *targets]:
            self._check_point(point)

    def _check_point(self, point: Point) -> None:
        x, y = point
        if not (math.isfinite(x) and math.isfinite(y)):
            raise DragInputError("points must be finite numbers")
        if not inside_image((x, y), self.width, self.height):
            raise DragInputError(f"point ({x:g}, {y:g}) is outside the {self.width}x{self.height} image")

    def _fixed_region(self, mask: np.ndarray | None) -> torch.Tensor | None:
        """The region that must not move (outside the mask), or None when everything may move."""
        if mask is None:
            return None
        mask = np.asarray(mask)
        if mask.shape != (self.height, self.width):
            raise DragInputError(f"mask must be {self.height}x{self.width} (rows x columns), "
                                 f"got {'x'.join(map(str, mask.shape))}")
        fixed = torch.from_numpy(~(mask.astype(bool))).to(self.device, torch.float32)
        return None if not fixed.any() else fixed

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def set_pairs(self, pairs: list[PairSpec], revision: int = 0) -> None:
        """New (key, handle, target) pairs from the next step on; thread-safe, the latest call wins (rules and
        errors: `pairs.PairMailbox.put`). Raises DragInputError, changing nothing, for unusable pairs."""
        with self._mailbox.lock:
            self._mailbox.put(pairs, revision, self.keys, self._check_point)

    def note_revision(self, revision: int) -> None:
        """An update that changes no pairs: reflected at once, or with the pairs still waiting to be applied."""
        with self._mailbox.lock:
            if not self._mailbox.attach(revision):
                self.revision = revision

    def _apply_pairs(self) -> None:
        """Takes the latest `set_pairs` (worker thread, at the start of a step)."""
        with self._mailbox.lock:
            taken = self._mailbox.take()
            if taken is None:
                return
            pairs, self.revision = taken
            self.pair_updates += 1
            self.keys, self.points, self.targets, self._fresh, self.references = rearranged(
                pairs, self.keys, self.points, self._fresh, self.references,
                lambda point: nearest_pixel(point, self.width, self.height))

    # --- the loop ---------------------------------------------------------------------------------

    def current_ws(self) -> torch.Tensor:
        layers = self.options.trainable_layers
        moving = self.ws0[:, :layers] + self.offset
        return torch.cat([moving, self.ws0[:, layers:]], dim=1)

    def _features(self, ws: torch.Tensor) -> tuple[Features, SynthesisState | None]:
        """The feature block's output (the whole map, or the windows this step reads), and the synthesis state
        to render from (None when windowed: the image then needs a synthesis of its own)."""
        synthesis = self.generator.synthesis
        if self.first_windowed is None:
            state = synthesis.run(ws, 0, self.feature_block + 1, fused=False)  # the form cheap to differentiate
            return image_features(self.generator, state.x, self.feature_block), state
        feature_shape = synthesis.cfg.block_shape(synthesis.block_resolutions[self.feature_block])
        boxes = feature_boxes(self.points, self.read_radius, (self.height, self.width), feature_shape)
        return windowed_features(synthesis, ws, self.first_windowed, self.feature_block, boxes), None

    def render(self, ws: torch.Tensor, state: SynthesisState | None) -> np.ndarray:
        """The image of `ws` (H x W x C uint8), finishing the synthesis `state` of `observe` when there is one."""
        with torch.no_grad():
            if state is None:
                return to_uint8_image(self.generator.synthesis(ws.detach()))
            # StyleGAN3 has no skip image: its state's img is None until the last layer.
            detached = SynthesisState(state.x.detach(), None if state.img is None else state.img.detach())
            final = self.generator.synthesis.run(ws.detach(), self.feature_block + 1, None, detached)
        assert final.img is not None
        return to_uint8_image(final.img)

    def _neighbourhoods(self, offsets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Pixels at `offsets` ([K, 2] as dy, dx) around every handle: ys, xs [N, K] and which are inside."""
        points = torch.tensor(self.points, device=self.device).round().long()  # [N, 2] as x, y
        ys = points[:, 1:2] + offsets[:, 0]
        xs = points[:, 0:1] + offsets[:, 1]
        inside = (ys >= 0) & (ys < self.height) & (xs >= 0) & (xs < self.width)
        return ys.clamp(0, self.height - 1), xs.clamp(0, self.width - 1), inside

    def _track(self, feat: Features) -> None:
        """Moves every handle to the pixel of its search square whose feature is nearest its initial one."""
        ys, xs, inside = self._neighbourhoods(self.window_offsets)
        window = upsampled_at(feat, (self.height, self.width), ys, xs)  # [C, N, M]
        diff = window - self.references[:, :, None]
        dist = diff.norm(dim=0) if self.options.tracking_norm == "l2" else diff.abs().sum(dim=0)
        best = dist.masked_fill(~inside, math.inf).argmin(dim=1, keepdim=True)
        new_x, new_y = xs.gather(1, best)[:, 0].tolist(), ys.gather(1, best)[:, 0].tolist()
        self.points = [(float(x), float(y)) for x, y in zip(new_x, new_y, strict=True)]

    def _motion_disc(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Pixels q with |q - p| < r1 around every handle p: ys, xs [N, K] and which of them count.

        "paper": measured in pixels. "reference": measured as the reference code does, with pixel i of an n-pixel
        axis at torch.linspace(0, n, n)[i], i.e.
        i * n / (n - 1) rather than i: the disc sits up to 1 px up and left of p, and at r1 = 1 (128 px models)
        holds 1 to 4 pixels (usually 3 or 4), not only p. Kept so that drags match the reference step for step.
        """
        ys, xs, inside = self._neighbourhoods(self.disc_candidates)
        points = torch.tensor(self.points, device=self.device)  # [N, 2] as x, y
        if self.options.motion_supervision == "paper":
            distance = ((ys - points[:, 1:2]) ** 2 + (xs - points[:, 0:1]) ** 2) ** 0.5
        else:
            distance = ((self.row_positions[ys] - points[:, 1:2]) ** 2
                        + (self.column_positions[xs] - points[:, 0:1]) ** 2) ** 0.5
        return ys, xs, inside & (distance < self.r1)

    def _motion_loss(self, feat: Features) -> torch.Tensor:
        """Sum over handles of the mean L1 distance over each handle's disc (see the module docstring).

        "paper": F(q + d) is pulled towards the detached F(q), so the content at q moves 1 px along d.
        "reference": F(q) is pulled towards the detached F(q - d): what lies 1 px behind moves to q.
        """
        directions = torch.tensor([(t[0] - p[0], t[1] - p[1]) for p, t in zip(self.points, self.targets, strict=True)],
                                  device=self.device)  # [N, 2] as dx, dy
        norms = directions.norm(dim=1)
        active = norms > 1  # a handle within 1 px of its target gets no motion term
        if not bool(active.any()):
            return feat.new_zeros(())
        unit = directions / (norms[:, None] + 1e-7)
        ys, xs, in_disc = self._motion_disc()
        size = (self.height, self.width)
        paper = self.options.motion_supervision == "paper"
        here = upsampled_at(feat.detach() if paper else feat, size, ys, xs)  # F(q): [C, N, K]
        sign = 1 if paper else -1  # F(q + d), or the detached F(q - d)
        moved = upsampled_bilinear(feat if paper else feat.detach(), size, ys + sign * unit[:, 1:2],
                                   xs + sign * unit[:, 0:1])
        weight = (in_disc & active[:, None]).to(feat.dtype)
        per_handle = ((here - moved).abs() * weight).sum(dim=(0, 2)) / (weight.sum(dim=1) * feat.shape[1]).clamp(min=1)
        return per_handle.sum()

    def _mask_loss(self, feat: Features) -> torch.Tensor:
        if self.fixed is None or self.mask_strength == 0:
            return feat.new_zeros(())
        assert isinstance(feat, torch.Tensor)  # a mask term makes _features compute the whole map
        resized = F.interpolate(feat, (self.height, self.width), mode="bilinear")
        return self.mask_strength * F.l1_loss(resized * self.fixed, self.feat0_resized * self.fixed)

    def distances(self) -> list[float]:
        return [math.hypot(t[0] - p[0], t[1] - p[1]) for p, t in zip(self.points, self.targets, strict=True)]

    def reached(self, distances: list[float]) -> bool:
        return all(d <= self.stop_distance for d in distances)

    def observe(self) -> tuple[torch.Tensor, Features, SynthesisState | None]:
        """The start of a step: applies new pairs, computes the features of the current latent, tracks the
        handles (pairs new since the last step read their reference feature instead). Returns (ws, features,
        synthesis state for `render`)."""
        self._apply_pairs()
        ws = self.current_ws()
        feat, state = self._features(ws)
        detached = feat.detach()
        fresh = self._fresh
        if len(fresh) < len(self.points):
            kept = {i: self.points[i] for i in fresh}
            self._track(detached)
            for i, point in kept.items():
                self.points[i] = point
        if fresh:
            size = (self.height, self.width)
            ys, xs, _ = self._neighbourhoods(torch.zeros(1, 2, dtype=torch.long, device=self.device))
            read = upsampled_at(detached, size, ys[fresh, 0], xs[fresh, 0])  # [C, len(fresh)]
            if self.references is None:
                self.references = read
            else:
                self.references[:, fresh] = read
            self._fresh = []
        if self.fixed is not None and self.feat0_resized is None:
            self.feat0_resized = F.interpolate(detached, (self.height, self.width), mode="bilinear")
        return ws, feat, state

    def optimise(self, ws: torch.Tensor, feat: Features, state: SynthesisState | None,
                 want_image: bool) -> tuple[float, np.ndarray | None]:
        """The rest of a step: the loss on `observe`'s features, the image of `ws` if wanted (rendered before the
        latent moves), one Adam step. Returns (loss, image or None)."""
        loss = self._motion_loss(feat) + self._mask_loss(feat)
        image = self.render(ws, state) if want_image else None
        self.optimizer.zero_grad(set_to_none=True)
        if loss.requires_grad:
            loss.backward()
            self.optimizer.step()
        return float(loss.detach()), image

    def steps(self, preview_every: int = 0) -> Iterator[DragStep]:
        """Runs the drag, yielding one DragStep per optimisation step and a final one with the image.

        preview_every: attach the image to every n-th step (0: only to the final step).
        """
        trajectory: list[list[Point]] = []
        losses: list[float] = []
        step = 0
        while True:
            ws, feat, state = self.observe()
            trajectory.append(list(self.points))
            distances = self.distances()
            stopped = None
            if self.reached(distances):
                stopped = "reached"
            elif self._cancel.is_set():
                stopped = "cancelled"
            elif step >= self.options.max_steps:
                stopped = "max_steps"
            if stopped is not None:
                image = self.render(ws, state)
                self.result = DragResult(ws.detach().clone(), list(self.points), image, step,
                                         stopped == "reached", stopped, trajectory, losses)
                yield DragStep(step, list(self.points), distances, None, image, True, stopped)
                return
            loss, image = self.optimise(ws, feat, state, preview_every > 0 and step % preview_every == 0)
            losses.append(loss)
            yield DragStep(step, list(self.points), distances, loss, image)
            step += 1

    def run(self) -> DragResult:
        for _ in self.steps():
            pass
        assert self.result is not None
        return self.result


def with_model_defaults(options: DragOptions, step_size: float | None, feature_block: int | None,
                        mask_strength: float | None = None) -> DragOptions:
    """Fills a model's own defaults into the options the caller left unset (None)."""
    defaults = {"step_size": step_size, "feature_block": feature_block, "mask_strength": mask_strength}
    changes = {k: v for k, v in defaults.items() if v is not None and getattr(options, k) is None}
    return replace(options, **changes)
