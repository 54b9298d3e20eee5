"""The drag loop on a tiny random-weight generator (mechanics) and on the embedded face model (meaning)."""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest
import torch
from dragd.daemon.engine.drag import DragInputError, DragOptions, DragRun, default_radii
from dragd.daemon.engine.features import upsampled_at


def _run(generator, handles, targets, mask=None, **options):
    ws = generator.ws_for_seed(0)
    run = DragRun(generator, ws, handles, targets, mask, DragOptions(step_size=0.02, **options))
    return run, run.run()


def test_tracked_handle_converges_to_its_target(tiny_generator):
    run, result = _run(tiny_generator, [(12, 16)], [(19, 16)], max_steps=200)
    assert result.stopped == "reached" and result.reached
    assert math.dist(result.points[0], (19, 16)) <= run.stop_distance
    # The handle moved step by step: it did not jump there from the start.
    assert len(result.trajectory) == result.steps + 1 and result.trajectory[0] == [(12.0, 16.0)]


def test_both_latent_spaces_run_and_only_the_first_layers_move(tiny_generator):
    for space in ("w+", "w"):
        ws0 = tiny_generator.ws_for_seed(0)
        run = DragRun(tiny_generator, ws0, [(12, 16)], [(19, 16)],
                      options=DragOptions(step_size=0.02, latent_space=space, max_steps=5, trainable_layers=4))
        result = run.run()
        assert result.steps == 5
        assert not torch.equal(result.ws[:, :4], ws0[:, :4])
        assert torch.equal(result.ws[:, 4:], ws0[:, 4:])
        if space == "w":  # one shared offset: all moving layers moved by the same amount
            delta = result.ws[:, :4] - ws0[:, :4]
            assert torch.allclose(delta, delta[:, :1].expand_as(delta), atol=1e-6)


def test_step_limit_and_reports(tiny_generator):
    ws = tiny_generator.ws_for_seed(3)
    run = DragRun(tiny_generator, ws, [(5, 5)], [(27, 27)], options=DragOptions(step_size=1e-4, max_steps=7))
    reports = list(run.steps(preview_every=3))
    assert [r.step for r in reports] == list(range(8))
    assert [r.image is not None for r in reports[:-1]] == [s % 3 == 0 for s in range(7)]
    final = reports[-1]
    assert final.done and final.stopped == "max_steps" and final.loss is None and final.image.shape == (32, 32, 3)
    assert run.result.steps == 7 and not run.result.reached


def test_stop_rule_is_one_pixel_for_few_handles_and_two_for_many(tiny_generator):
    ws = tiny_generator.ws_for_seed(0)
    few = DragRun(tiny_generator, ws, [(5, 5)], [(6, 5)])
    assert few.stop_distance == 1
    handles = [(float(i), 3.0) for i in range(6)]
    many = DragRun(tiny_generator, ws, handles, [(x, y + 1.5) for x, y in handles])
    assert many.stop_distance == 2
    result = many.run()  # every handle starts within 2 px: nothing to do
    assert result.steps == 0 and result.stopped == "reached"


def test_handle_within_one_pixel_gets_no_motion_term(tiny_generator):
    run = DragRun(tiny_generator, tiny_generator.ws_for_seed(0), [(5, 5)], [(5.8, 5)],
                  options=DragOptions(stop_distance=0.1, max_steps=1))
    first = next(iter(run.steps()))
    assert first.loss == 0.0


def test_mask_keeps_the_fixed_region(tiny_generator):
    size = 32
    movable = np.zeros((size, size), bool)
    movable[8:24, 6:26] = True
    ws = tiny_generator.ws_for_seed(0)
    options = dict(max_steps=40, stop_distance=0.0)
    _, free = _run(tiny_generator, [(12, 16)], [(19, 16)], None, **options)
    _, held = _run(tiny_generator, [(12, 16)], [(19, 16)], movable, mask_strength=20.0, **options)

    def fixed_change(result):
        block = tiny_generator.synthesis.num_blocks
        with torch.no_grad():
            before = tiny_generator.synthesis.run(ws, 0, block).x
            after = tiny_generator.synthesis.run(result.ws, 0, block).x
        diff = (after - before).abs().mean(dim=1)[0]
        return float(diff[torch.from_numpy(~movable)].mean())

    assert fixed_change(held) < 0.5 * fixed_change(free)


def test_cancel_from_another_thread_ends_within_one_step(tiny_generator):
    run = DragRun(tiny_generator, tiny_generator.ws_for_seed(0), [(5, 5)], [(27, 27)],
                  options=DragOptions(step_size=1e-5, max_steps=10_000))
    seen = []
    for report in run.steps():
        seen.append(report)
        if report.step == 3:
            threading.Thread(target=run.cancel).start()
            threading.Event().wait(0.2)
    assert seen[-1].stopped == "cancelled" and seen[-1].step <= 5 and seen[-1].image is not None


def test_tracking_finds_a_feature_that_moved(tiny_generator):
    """Point tracking alone: shift a feature map by 2 px and the handle follows it."""
    run = DragRun(tiny_generator, tiny_generator.ws_for_seed(0), [(10, 12)], [(20, 12)],
                  options=DragOptions(r2=3, compute="full"))
    feat = run._features(run.current_ws())[0].detach()
    run.references = upsampled_at(feat, (32, 32), torch.tensor([12]), torch.tensor([10]))
    shifted = torch.roll(feat, shifts=(0, 2), dims=(2, 3))  # 2 px at the feature map's own resolution
    run._track(shifted)
    scale = 32 // feat.shape[-1]
    assert run.points[0] == (10.0 + 2 * scale, 12.0)


@pytest.mark.parametrize("handles,targets,message", [
    ([], [], "at least one handle"),
    ([(1, 1)], [], "exactly one target"),
    ([(1, 1)], [(40, 1)], "outside"),
    ([(float("nan"), 1)], [(3, 1)], "finite"),
])
def test_bad_points_are_refused(tiny_generator, handles, targets, message):
    with pytest.raises(DragInputError, match=message):
        DragRun(tiny_generator, tiny_generator.ws_for_seed(0), handles, targets)


def test_bad_options_and_mask_are_refused(tiny_generator):
    ws = tiny_generator.ws_for_seed(0)
    with pytest.raises(DragInputError, match="latent space"):
        DragRun(tiny_generator, ws, [(1, 1)], [(3, 3)], options=DragOptions(latent_space="z"))
    with pytest.raises(DragInputError, match="mask must be 32x32"):
        DragRun(tiny_generator, ws, [(1, 1)], [(3, 3)], mask=np.ones((8, 8), bool))
    with pytest.raises(DragInputError, match="latent must be"):
        DragRun(tiny_generator, ws[:, :3], [(1, 1)], [(3, 3)])
    with pytest.raises(DragInputError, match="r2 must be in"):  # a zero search window: the handle cannot move
        DragRun(tiny_generator, ws, [(1, 1)], [(3, 3)], options=DragOptions(r2=0))
    with pytest.raises(DragInputError, match="mask strength must be a finite number"):
        DragRun(tiny_generator, ws, [(1, 1)], [(3, 3)], options=DragOptions(mask_strength=float("nan")))


def test_radii_follow_the_paper():
    assert default_radii(512) == (3, 12)
    assert default_radii(1024) == (6, 24)
    assert default_radii(128) == (1, 3)


def _embedded_options(**overrides):
    from dragd.daemon.engine.drag import with_model_defaults
    from dragd.daemon.models.registry import find_model

    info = find_model(None)
    options = DragOptions(max_steps=300, **overrides)
    return with_model_defaults(options, info.default_step_size, info.feature_block, info.mask_strength)


@pytest.mark.slow
@pytest.mark.parametrize("seed,handle,target", [(0, (76, 89), (86, 84)), (0, (63, 65), (51, 65))])
def test_embedded_face_model_drag_reaches_and_stays_inside_the_selection(embedded_generator, seed, handle, target):
    """An 11-12 px drag on a real face with a selection around it: the handle arrives, the change stays local."""
    generator = embedded_generator
    yy, xx = np.mgrid[:128, :128]
    centre = ((handle[0] + target[0]) / 2, (handle[1] + target[1]) / 2)
    near = np.hypot(xx - centre[0], yy - centre[1]) < 24
    run = DragRun(generator, generator.ws_for_seed(seed), [handle], [target], near, _embedded_options())
    reports = list(run.steps(preview_every=1000))
    result = run.result
    assert result.reached, f"handle ended at {result.points[0]}, {math.dist(result.points[0], target):.1f} px away"
    change = np.abs(result.image.astype(float) - reports[0].image.astype(float)).mean(axis=2)
    assert change[near].mean() > 2 * change[~near].mean()
    assert change[near].mean() > 5  # it did change: the content moved, not only the tracked point


@pytest.mark.slow
def test_embedded_face_model_drag_without_a_mask_reaches_its_target(embedded_generator):
    handle, target = (76.0, 89.0), (86.0, 84.0)
    run = DragRun(embedded_generator, embedded_generator.ws_for_seed(1), [handle], [target], None, _embedded_options())
    result = run.run()
    assert result.reached and math.dist(result.points[0], target) <= run.stop_distance


def test_edge_points_are_recorded_on_the_image(tiny_generator):
    """The image spans [-0.5, size - 0.5]; a handle on its far edge is its edge pixel, not one past it."""
    from dragd.daemon.engine.drag import inside_image, nearest_pixel

    assert inside_image((31.5, -0.5), 32, 32) and not inside_image((31.51, 0), 32, 32)
    assert nearest_pixel((31.5, 31.5), 32, 32) == (31.0, 31.0)
    assert nearest_pixel((-0.5, 2.5), 32, 32) == (0.0, 3.0)  # halves round up, not to even
    ws = tiny_generator.ws_for_seed(0)
    run = DragRun(tiny_generator, ws, [(31.5, 31.5), (-0.5, 0.5)], [(20, 20), (5, 5)],
                  options=DragOptions(max_steps=2))
    result = run.run()
    for trajectory_points in result.trajectory:
        assert all(0 <= x <= 31 and 0 <= y <= 31 for x, y in trajectory_points)
    assert result.trajectory[0] == [(31.0, 31.0), (0.0, 1.0)]
