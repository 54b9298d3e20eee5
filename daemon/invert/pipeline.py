"""From a photo to a session-local generator and latent that reproduce it, and back.

    inversion = invert(generator, rgb, region, mask, options, alignment=..., lpips=..., on_progress=...)
    edited = <drag with inversion.generator from inversion.ws, points mapped by inversion.to_model>
    layer = inversion.paste(original_rgba, edited)      # equal to the original outside the edit region

Stages, each reported to `on_progress(stage, step, total)`: "align" (3 steps: find the region and the face,
plan the paste-back, warp the photo into the model's square; each can take seconds on a large photo),
"projection" (w, then W+), "tuning" (pivotal tuning of the generator copy). `should_stop()` is asked before
every step; when it says yes, `InversionCancelled` is raised before the next step starts. Whatever the inversion
would not cover (points outside the model's square, a selection beside it) is an `InvertInputError` raised at
the end of "align", before any projection step.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from ..models.stylegan2 import Generator, to_uint8_image
from .align import NO_FACE, FaceAlignment, LandmarksUnavailable, face_frame, find_landmarks
from .losses import ReconstructionLoss, perceptual_distance, psnr
from .lpips import NO_LPIPS, LpipsVgg
from .motion import Carried
from .paste import PASTE_MODES, PastePlan, paste_back, paste_carried, plan_paste
from .project import ProjectionOptions, project
from .pti import TuningOptions, pivotal_tuning
from .region import (
    Frame,
    InvertInputError,
    Rect,
    check_inputs,
    check_photo,
    mask_bbox,
    points_outside,
    square_frame,
    warp_to_model,
)

ProgressCallback = Callable[[str, int, int], None]
ALIGN_MODES = ("auto", "plain")
ALIGN_STEPS = 3  # face and frame, paste plan, the model's view
MAX_STEPS = 100_000


class InversionCancelled(Exception):
    """should_stop() asked the inversion to end; nothing of it is kept."""


@dataclass(frozen=True)
class InversionOptions:
    projection: ProjectionOptions = field(default_factory=ProjectionOptions)
    tuning: TuningOptions = field(default_factory=TuningOptions)
    align: str = "auto"  # "auto": align faces when the model is a face model; "plain": never
    margin: float = 0.1  # plain regions: grown by this fraction of their longer side on each side
    feather: int | None = None  # photo pixels; None: 4 % of the model square's side, at least 2
    paste: str = PASTE_MODES[0]  # "carry": move the photo's own pixels; "reconstruction": paste the generator's

    def validate(self) -> None:
        p, t = self.projection, self.tuning
        checks = [
            (self.align in ALIGN_MODES, f"align must be one of {ALIGN_MODES}"),
            (math.isfinite(self.margin) and 0 <= self.margin <= 1, "margin must be in [0, 1]"),
            (self.feather is None or 0 <= self.feather <= 4096, "feather must be in [0, 4096] pixels"),
            (self.paste in PASTE_MODES, f"paste must be one of {PASTE_MODES}"),
            (all(0 <= n <= MAX_STEPS for n in (p.w_steps, p.wplus_steps, t.steps)),
             f"step counts must be in [0, {MAX_STEPS}]"),
            (all(math.isfinite(v) and 0 < v <= 10 for v in (p.w_lr, p.wplus_lr, t.lr)),
             "learning rates must be in (0, 10]"),
        ]
        for ok, message in checks:
            if not ok:
                raise InvertInputError(message)


@dataclass(frozen=True)
class Quality:
    psnr: float  # dB, model frame, reconstruction against the photo as the model sees it
    lpips: float | None  # None without the LPIPS network


@dataclass
class Inversion:
    ws: torch.Tensor  # [1, num_ws, w_dim]: the pivot, where a drag starts
    generator: Generator  # the tuned copy, local to this session (counts against the memory budget)
    frame: Frame  # photo pixel centres -> model pixel centres
    plan: PastePlan  # where the edit may land in the photo
    target: np.ndarray  # R x R x 3 uint8: the photo as the model sees it
    reconstruction: np.ndarray  # R x R x 3 uint8: the tuned generator's image of `ws`
    quality: Quality
    projection_psnr: float  # before tuning, for comparison
    aligned: bool  # True when a face was found and aligned
    notes: list[str]  # what the user should know: fallbacks, lower quality
    seconds: dict[str, float]  # per stage

    @property
    def transform(self) -> tuple[float, ...]:
        """The frame as six numbers (a, b, c, d, e, f): x' = a x + b y + c, y' = d x + e y + f."""
        return tuple(float(v) for v in self.frame.matrix.ravel())

    def to_model(self, points: list[tuple[float, float]]) -> list[tuple[float, float]]:
        return [(float(x), float(y)) for x, y in self.frame.to_model(np.array(points, dtype=np.float64))]

    def to_photo(self, points: list[tuple[float, float]]) -> list[tuple[float, float]]:
        return [(float(x), float(y)) for x, y in self.frame.to_photo(np.array(points, dtype=np.float64))]

    def paste(self, original: np.ndarray, edited_model_rgb: np.ndarray) -> np.ndarray:
        """The whole photo with the edit composited in (equal to `original` outside `plan.box`): the edit is
        the change from `reconstruction` (the pivot's image) to `edited_model_rgb`."""
        return paste_back(original, self.reconstruction, edited_model_rgb, self.frame, self.plan)

    def paste_carried(self, original: np.ndarray, edited_model_rgb: np.ndarray) -> tuple[np.ndarray, Carried | None]:
        """`paste`, and how the photo's content moved (None for the "reconstruction" paste): see
        `paste.paste_carried`."""
        return paste_carried(original, self.reconstruction, edited_model_rgb, self.frame, self.plan)

    def paste_patch(self, original: np.ndarray, edited_model_rgb: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
        """Only the part that can change: the pasted `plan.box` and its top-left (x, y) in the photo."""
        x, y, w, h = self.plan.box
        return self.paste(original, edited_model_rgb)[y:y + h, x:x + w], (x, y)


def selection_weights(width: int, height: int, rect: Rect, mask: np.ndarray | None) -> np.ndarray:
    """The selection as weights in [0, 1]: a boolean mask as 0/1, a uint8 mask (a feathered selection) as its
    value / 255, other numbers as they are; without a mask, the region."""
    if mask is not None:
        if mask.dtype == np.uint8:
            return mask.astype(np.float32) / 255
        return np.clip(mask.astype(np.float32), 0, 1)
    selection = np.zeros((height, width), dtype=np.float32)
    x, y, w, h = rect
    selection[y:y + h, x:x + w] = 1
    return selection


def square_side(generator: Generator) -> int:
    """The side of the generator's images. The model frame (region, face alignment, paste-back) is square,
    so a generator of non-square images (StyleGAN-Human's 512x256) is refused rather than misread."""
    height, width = generator.img_shape
    if height != width:
        raise InvertInputError(f"photo inversion needs a model of square images; this one makes {width}x{height} "
                               "images: drag on its own samples instead")
    return height


def choose_frame(rgb: np.ndarray, rect: Rect, whole: bool, resolution: int, alignment: FaceAlignment | None,
                 options: InversionOptions) -> tuple[Frame, bool, list[str]]:
    """The model square: aligned to a face in the region when the model wants faces, else the plain square."""
    height, width = rgb.shape[:2]
    notes: list[str] = []
    if alignment is not None and options.align == "auto":
        try:
            landmarks = find_landmarks(rgb, None if whole else rect)
        except LandmarksUnavailable as exc:
            notes.append(str(exc))
        else:
            if landmarks is not None:
                return face_frame(landmarks, alignment, resolution), True, notes
            notes.append(NO_FACE)
    return square_frame(rect, width, height, resolution, options.margin), False, notes


def invert(generator: Generator, rgb: np.ndarray, region: Rect | None = None, mask: np.ndarray | None = None,
           options: InversionOptions | None = None, *, alignment: FaceAlignment | None = None,
           lpips: LpipsVgg | None = None, on_progress: ProgressCallback | None = None,
           should_stop: Callable[[], bool] | None = None, points: Sequence[tuple[float, float]] = ()) -> Inversion:
    """Inverts the region of `rgb` (H x W x 3 or 4 uint8) into a tuned copy of `generator`.

    region: (x, y, w, h) in photo pixels; default the mask's bounding box, else the whole photo.
    mask: H x W, non-zero = selected (bool, or uint8 0-255 for a feathered selection, whose softness weights
    the edit); default the region. The edit may land on the selection grown by the
    feather width, nowhere else. alignment: the model's face alignment (`align.alignment_for`), None for
    models that are not of faces. lpips: the perceptual network, None to use pixel losses only. points: photo
    pixel centres (handles and targets) the model's square must hold; one it does not is an InvertInputError
    raised before the projection starts.
    """
    options = options or InversionOptions()
    options.validate()
    resolution = square_side(generator)
    rgb = check_photo(rgb)
    height, width = rgb.shape[:2]
    mask = None if mask is None else np.asarray(mask)
    rect = check_inputs(width, height, region, mask, points)  # the checks a caller can make before the model loads
    whole = region is None and mask is None
    if rect is None:
        rect = (0, 0, width, height) if mask is None else mask_bbox(mask)
    assert rect is not None
    report = on_progress or (lambda stage, step, total: None)
    stop = should_stop or (lambda: False)
    seconds: dict[str, float] = {}

    def ticker(stage: str, total: int) -> Callable[[int], None]:
        def tick(step: int) -> None:
            if stop():
                raise InversionCancelled(f"inversion cancelled during {stage}, step {step} of {total}")
            report(stage, step, total)
        return tick

    start = time.perf_counter()
    align_step = ticker("align", ALIGN_STEPS)
    align_step(0)
    frame, aligned, notes = choose_frame(rgb, rect, whole, resolution, alignment, options)
    outside = points_outside(frame, points)
    if outside:
        x, y = outside[0]
        raise InvertInputError(f"point ({x:g}, {y:g}) lies outside the part of the photo the model will see "
                               f"({'the aligned face' if aligned else 'the region'}); choose a region around it")
    align_step(1)
    feather = options.feather if options.feather is not None else max(2, round(0.04 * resolution / frame.scale))
    plan = plan_paste(frame, selection_weights(width, height, rect, mask), feather, options.paste)
    bx, by, bw, bh = plan.box
    x, y, w, h = rect
    if not whole and not (bx <= x and by <= y and x + w <= bx + bw and y + h <= by + bh):
        notes.append(f"the model's square holds only part of the region ({x},{y} {w}x{h}): edits land inside "
                     f"{bx},{by} {bw}x{bh} only")
    align_step(2)
    device = generator.mapping.w_avg.device
    target = warp_to_model(rgb, frame, device)
    report("align", ALIGN_STEPS, ALIGN_STEPS)
    seconds["align"] = time.perf_counter() - start

    if lpips is None:
        notes.append(NO_LPIPS)
    loss_fn = ReconstructionLoss(lpips)
    # The session's own generator: tuning and the optimised noise inputs must not touch the shared model.
    local = copy.deepcopy(generator).requires_grad_(False).eval()

    start = time.perf_counter()
    p = options.projection
    total = p.w_steps + p.wplus_steps
    ws = project(local, target, loss_fn, p, ticker("projection", total))
    report("projection", total, total)
    seconds["projection"] = time.perf_counter() - start
    target_u8 = to_uint8_image(target)
    with torch.no_grad():
        projection_psnr = psnr(to_uint8_image(local.synthesis(ws)), target_u8)

    start = time.perf_counter()
    pivotal_tuning(local, ws, target, loss_fn, options.tuning, ticker("tuning", options.tuning.steps))
    report("tuning", options.tuning.steps, options.tuning.steps)
    seconds["tuning"] = time.perf_counter() - start

    with torch.no_grad():
        image = local.synthesis(ws)
        perceptual = None if lpips is None else float(perceptual_distance(lpips, image, target))
    reconstruction = to_uint8_image(image)
    quality = Quality(psnr(reconstruction, target_u8), perceptual)
    return Inversion(ws, local, frame, plan, target_u8, reconstruction, quality, projection_psnr, aligned, notes,
                     seconds)
