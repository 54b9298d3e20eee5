"""The drag loop on a portrait generator (StyleGAN-Human's layout: twice as high as wide)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from conftest import TINY, make_generator
from dragd.daemon.engine.drag import DragInputError, DragOptions, DragRun

PORTRAIT = replace(TINY, square=False)  # 32 rows x 16 columns


@pytest.fixture(scope="module")
def portrait_generator():
    return make_generator(PORTRAIT, seed=1)


def test_points_are_checked_against_width_and_height(portrait_generator) -> None:
    ws = portrait_generator.ws_for_seed(0)
    DragRun(portrait_generator, ws, [(15, 31)], [(0, 0)])  # the bottom-right pixel is inside
    with pytest.raises(DragInputError, match="outside the 16x32 image"):
        DragRun(portrait_generator, ws, [(20, 5)], [(5, 5)])  # x beyond the width, though < the height


def test_mask_must_have_the_image_shape(portrait_generator) -> None:
    ws = portrait_generator.ws_for_seed(0)
    movable = np.zeros((32, 16), bool)
    movable[8:24, 4:12] = True
    run = DragRun(portrait_generator, ws, [(8, 16)], [(10, 16)], movable)
    assert run.fixed is not None and tuple(run.fixed.shape) == (32, 16)
    with pytest.raises(DragInputError, match="32x16"):
        DragRun(portrait_generator, ws, [(8, 16)], [(10, 16)], movable.T)


def test_drag_runs_tracks_inside_the_image_and_returns_a_portrait(portrait_generator) -> None:
    ws = portrait_generator.ws_for_seed(0)
    movable = np.ones((32, 16), bool)
    movable[:, :2] = False  # a fixed strip exercises the mask term at the image's own shape
    # A handle at the right edge: its tracking window reaches past the width and must stay inside.
    run = DragRun(portrait_generator, ws, [(15, 20), (3, 4)], [(13, 25), (4, 10)], movable,
                  DragOptions(step_size=0.02, max_steps=12))
    assert (run.r1, run.r2) == (1, 1)  # scaled from the height, as DragGAN does for its padded human images
    steps = list(run.steps(preview_every=4))
    assert steps[0].image.shape == (32, 16, 3)
    result = run.result
    assert result.image.shape == (32, 16, 3) and result.steps == 12
    for trajectory_points in result.trajectory:
        for x, y in trajectory_points:
            assert 0 <= x < 16 and 0 <= y < 32
    assert all(np.isfinite(loss) for loss in result.losses)
