"""The drag loop on a StyleGAN3 generator: features from layer L5 without its margin, and it reaches its target."""

from __future__ import annotations

import math

import numpy as np
from dragd.daemon.engine.drag import DragOptions, DragRun, default_feature_block


def test_default_feature_layer_is_l5_as_in_the_reference_code(tiny_stylegan3):
    block = default_feature_block(tiny_stylegan3)
    assert block == 5 and tiny_stylegan3.synthesis.layer_names[block].startswith("L5_")


def test_drag_on_a_stylegan3_reaches_its_target(tiny_stylegan3):
    ws = tiny_stylegan3.ws_for_seed(0)
    run = DragRun(tiny_stylegan3, ws, [(5, 8)], [(10, 8)], options=DragOptions(step_size=0.02, max_steps=150))
    reports = list(run.steps(preview_every=5))
    result = run.result
    assert result.stopped == "reached" and math.dist(result.points[0], (10, 8)) <= run.stop_distance
    assert result.steps >= 3  # it got there step by step
    assert result.image.shape == (16, 16, 3) and reports[0].image is not None
    # The image changed, and it is the generator's image for the final latent.
    assert not np.array_equal(reports[0].image, result.image)


def test_a_masked_stylegan3_drag_keeps_the_fixed_region_closer(tiny_stylegan3):
    ws = tiny_stylegan3.ws_for_seed(0)
    mask = np.zeros((16, 16), bool)
    mask[4:12, 2:14] = True
    options = DragOptions(step_size=0.02, max_steps=6, mask_strength=50.0)
    free = DragRun(tiny_stylegan3, ws, [(5, 8)], [(10, 8)], options=options).run()
    masked = DragRun(tiny_stylegan3, ws, [(5, 8)], [(10, 8)], mask, options).run()
    start = DragRun(tiny_stylegan3, ws, [(5, 8)], [(5, 8)]).run().image.astype(float)
    outside = ~mask
    change_free = np.abs(free.image.astype(float) - start)[outside].mean()
    change_masked = np.abs(masked.image.astype(float) - start)[outside].mean()
    assert change_masked < change_free
