"""Inversion end to end on the embedded face model: a sample of its own (ground truth known) and a real photo,
then a drag in the tuned copy and a paste-back that leaves everything outside the edit region untouched.

Step counts are small so that this runs in seconds on a CPU; the PSNR floors were set below what these
counts reach (measured: sample 35.6 dB after projection, 38.5 dB after tuning; astronaut 24.1 dB) and well
above what a non-inversion gives (the model's mean face: about 14 dB against the sample).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from dragd.daemon.engine.drag import DragOptions, DragRun
from dragd.daemon.invert.align import FACES_128_CPU, FaceAlignment, landmarks_available
from dragd.daemon.invert.losses import psnr
from dragd.daemon.invert.pipeline import InversionCancelled, InversionOptions, invert
from dragd.daemon.invert.project import ProjectionOptions
from dragd.daemon.invert.pti import TuningOptions
from dragd.daemon.invert.region import InvertInputError
from dragd.daemon.models.stylegan2 import to_uint8_image
from photo_fixtures import photo

QUICK = InversionOptions(ProjectionOptions(w_steps=100, wplus_steps=50), TuningOptions(steps=50))
# For assertions that hold whatever the inversion's quality (what is pasted where): a handful of steps.
FEW = InversionOptions(ProjectionOptions(w_steps=10, wplus_steps=5), TuningOptions(steps=5))
SAMPLE_SEED = 3


def _outside(rect: tuple[int, int, int, int], shape: tuple[int, int], reach: int) -> np.ndarray:
    """Pixels more than `reach` pixels (in x or y) from the rectangle."""
    x, y, w, h = rect
    inside = np.zeros(shape, dtype=bool)
    inside[max(0, y - reach):y + h + reach, max(0, x - reach):x + w + reach] = True
    return ~inside


def _drag(inversion, handles, targets, steps=20):
    run = DragRun(inversion.generator, inversion.ws, inversion.to_model(handles), inversion.to_model(targets),
                  options=DragOptions(step_size=2e-3, max_steps=steps))
    return run.run()


@pytest.fixture(scope="module")
def sample(embedded_generator):
    with torch.no_grad():
        return to_uint8_image(embedded_generator.synthesis(embedded_generator.ws_for_seed(SAMPLE_SEED)))


@pytest.fixture(scope="module")
def sample_inversion(embedded_generator, sample):
    before = {k: v.clone() for k, v in embedded_generator.state_dict().items()}
    progress: list[tuple[str, int, int]] = []
    inversion = invert(embedded_generator, sample, options=QUICK, on_progress=lambda *a: progress.append(a))
    return inversion, progress, before


def test_own_sample_is_reconstructed(embedded_generator, sample, sample_inversion):
    inversion, _, _ = sample_inversion
    assert np.array_equal(inversion.target, sample)  # the whole 128 px image is the model's own frame
    assert inversion.projection_psnr > 32
    assert inversion.quality.psnr > 35
    assert inversion.quality.psnr > inversion.projection_psnr  # tuning helped
    with torch.no_grad():
        w_avg = embedded_generator.mapping.w_avg.reshape(1, 1, -1).repeat(1, embedded_generator.num_ws, 1)
        mean_face = to_uint8_image(embedded_generator.synthesis(w_avg))
    assert psnr(mean_face, sample) < 20  # the floors mean something
    assert inversion.quality.lpips is None and any("LPIPS" in n for n in inversion.notes)


def test_progress_reports_every_stage_in_order(sample_inversion):
    _, progress, _ = sample_inversion
    stages = [p[0] for p in progress]
    assert stages[0] == "align" and stages[-1] == "tuning"
    assert [s for i, s in enumerate(stages) if i == 0 or stages[i - 1] != s] == ["align", "projection", "tuning"]
    projection = [p for p in progress if p[0] == "projection"]
    assert [p[1] for p in projection] == list(range(151)) and {p[2] for p in projection} == {150}
    assert progress[-1] == ("tuning", 50, 50)
    assert [p for p in progress if p[0] == "align"] == [("align", step, 3) for step in range(4)]


def test_shared_generator_is_untouched(embedded_generator, sample_inversion):
    inversion, _, before = sample_inversion
    after = embedded_generator.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert inversion.generator is not embedded_generator
    assert not any(p.requires_grad for p in inversion.generator.parameters())
    tuned = inversion.generator.state_dict()
    assert not all(torch.equal(before[k], tuned[k]) for k in before)  # the copy was tuned


def test_drag_and_paste_back_leave_the_rest_of_the_photo_identical(embedded_generator, sample):
    region = (40, 50, 50, 40)
    inversion = invert(embedded_generator, sample, region, options=FEW)
    result = _drag(inversion, [(64, 80)], [(64, 72)], steps=5)
    pasted = inversion.paste(sample, result.image)
    feather = 2  # the default for a region of this size
    assert np.array_equal(pasted[_outside(region, sample.shape[:2], feather)], sample[_outside(region, (128, 128),
                                                                                                feather)])
    x, y, w, h = region
    assert (pasted[y:y + h, x:x + w] != sample[y:y + h, x:x + w]).any()
    patch, (px, py) = inversion.paste_patch(sample, result.image)
    assert np.array_equal(patch, pasted[py:py + patch.shape[0], px:px + patch.shape[1]])
    assert (px, py, patch.shape[1], patch.shape[0]) == inversion.plan.box


@pytest.mark.slow  # a real photo, face detection and QUICK's 200 steps at 128 px: minutes on a busy 2-core CPU
@pytest.mark.skipif(not landmarks_available(), reason="the optional extra dragd[faces] is not installed")
def test_real_face_photo_is_inverted_aligned_dragged_and_pasted_back(embedded_generator):
    astronaut = photo("astronaut.png")
    rgba = np.dstack([astronaut, np.full(astronaut.shape[:2], 255, np.uint8)])
    rgba[::7, ::5, 3] = 17  # an alpha channel that must survive
    region = (160, 60, 130, 130)
    inversion = invert(embedded_generator, rgba, region, options=QUICK, alignment=FaceAlignment(FACES_128_CPU))
    assert inversion.aligned
    assert inversion.quality.psnr > 22
    result = _drag(inversion, [(201, 139), (246, 141)], [(195, 133), (252, 135)])
    pasted = inversion.paste(rgba, result.image)
    assert pasted.shape == rgba.shape
    feather = max(2, round(0.04 * 128 / inversion.frame.scale))
    outside = _outside(region, astronaut.shape[:2], feather)
    assert np.array_equal(pasted[outside], rgba[outside])
    assert np.array_equal(pasted[:, :, 3], rgba[:, :, 3])
    x, y, w, h = region
    changed = (pasted[y:y + h, x:x + w, :3] != astronaut[y:y + h, x:x + w]).any(axis=2)
    assert changed.mean() > 0.5


def test_inversion_cancels_within_one_step(tiny_generator):
    reports: list[tuple[str, int, int]] = []
    flag = {"stop": False}

    def on_progress(stage, step, total):
        reports.append((stage, step, total))
        if (stage, step) == ("projection", 5):
            flag["stop"] = True

    with pytest.raises(InversionCancelled):
        invert(tiny_generator, np.zeros((32, 32, 3), np.uint8), options=QUICK, on_progress=on_progress,
               should_stop=lambda: flag["stop"])
    assert reports[-1] == ("projection", 5, 150)  # step 5 ran; step 6 never started


def test_cancel_during_tuning(tiny_generator):
    reports: list[tuple[str, int, int]] = []
    options = InversionOptions(ProjectionOptions(w_steps=3, wplus_steps=2), TuningOptions(steps=10))
    with pytest.raises(InversionCancelled):
        invert(tiny_generator, np.zeros((32, 32, 3), np.uint8), options=options,
               on_progress=lambda *a: reports.append(a), should_stop=lambda: reports[-1:] == [("tuning", 2, 10)])
    assert reports[-1] == ("tuning", 2, 10)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"region": (0, 0, 40, 10)}, "outside"),
    ({"mask": np.zeros((32, 32), bool)}, "selects nothing"),
    ({"mask": np.ones((8, 8), bool)}, "mask is 8x8"),
    ({"options": InversionOptions(feather=-1)}, "feather"),
    ({"options": InversionOptions(align="faces")}, "align"),
    ({"options": InversionOptions(tuning=TuningOptions(lr=float("nan")))}, "learning rates"),
])
def test_bad_inputs_are_refused_clearly(tiny_generator, kwargs, message):
    with pytest.raises(InvertInputError, match=message):
        invert(tiny_generator, np.zeros((32, 32, 3), np.uint8), **kwargs)


def test_points_the_model_will_not_see_are_refused_before_projection(tiny_generator):
    reports: list[tuple[str, int, int]] = []
    rgb = np.zeros((32, 96, 3), np.uint8)
    region = (4, 4, 20, 20)  # its square holds x up to ~26: a point at x = 80 is beside it
    with pytest.raises(InvertInputError, match=r"point \(80, 10\) lies outside the part of the photo"):
        invert(tiny_generator, rgb, region, options=QUICK, on_progress=lambda *a: reports.append(a),
               points=[(10, 10), (80, 10)])
    assert {stage for stage, _, _ in reports} == {"align"}  # no projection step was spent
    inversion = invert(tiny_generator, rgb, region, options=InversionOptions(
        ProjectionOptions(w_steps=1, wplus_steps=1), TuningOptions(steps=1)), points=[(10, 10), (20, 12)])
    assert inversion.plan.box[0] < 10


@pytest.mark.skipif(not landmarks_available(), reason="the optional extra dragd[faces] is not installed")
def test_a_region_the_face_square_only_partly_holds_is_said(embedded_generator):
    no_steps = InversionOptions(ProjectionOptions(w_steps=0, wplus_steps=0), TuningOptions(steps=0))
    astronaut = photo("astronaut.png")
    inversion = invert(embedded_generator, astronaut, (0, 0, 512, 512), options=no_steps,
                       alignment=FaceAlignment(FACES_128_CPU))
    assert inversion.aligned and any("holds only part of the region (0,0 512x512)" in n for n in inversion.notes)
    whole = invert(embedded_generator, astronaut, options=no_steps, alignment=FaceAlignment(FACES_128_CPU))
    assert not any("holds only part" in n for n in whole.notes)  # no region asked for: the face is the region


def test_mask_limits_the_edit(tiny_generator):
    options = InversionOptions(ProjectionOptions(w_steps=2, wplus_steps=2), TuningOptions(steps=2), feather=1)
    mask = np.zeros((32, 32), bool)
    mask[10:14, 12:20] = True
    rgb = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    inversion = invert(tiny_generator, rgb, mask=mask, options=options)
    pasted = inversion.paste(rgb, 255 - inversion.reconstruction)
    grown = F.max_pool2d(torch.from_numpy(mask.astype(np.float32))[None, None], 3, 1, 1)[0, 0].numpy() > 0
    assert np.array_equal(pasted[~grown], rgb[~grown])
    assert (pasted[mask] != rgb[mask]).any(axis=1).all()


def test_a_model_of_non_square_images_is_refused_before_any_work(tiny_generator):
    from dataclasses import replace

    from conftest import make_generator

    portrait = make_generator(replace(tiny_generator.cfg, square=False))  # 32 rows x 16 columns
    reports: list[tuple[str, int, int]] = []
    with pytest.raises(InvertInputError, match="square images; this one makes 16x32"):
        invert(portrait, np.zeros((64, 32, 3), np.uint8), options=QUICK, on_progress=lambda *a: reports.append(a))
    assert reports == []


def test_a_feathered_selection_keeps_its_softness():
    from dragd.daemon.invert.pipeline import selection_weights

    levels = np.array([[0, 64, 255]], dtype=np.uint8)
    assert np.allclose(selection_weights(3, 1, (0, 0, 3, 1), levels), [[0, 64 / 255, 1]])
    assert np.array_equal(selection_weights(3, 1, (0, 0, 3, 1), levels > 0), [[0, 1, 1]])
    assert np.array_equal(selection_weights(3, 2, (1, 0, 2, 1), None), [[0, 1, 1], [0, 0, 0]])
