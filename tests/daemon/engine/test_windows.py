"""Windowed features (daemon/engine/windows.py) against the whole-map computation, on random generators."""

from __future__ import annotations

import pytest
import torch
from conftest import make_generator
from dragd.daemon.engine.drag import DragOptions, DragRun
from dragd.daemon.engine.features import Features, gather
from dragd.daemon.engine.windows import (
    Box,
    conv_input,
    feature_boxes,
    plan_windows,
    upsampling_input,
    windowed_features,
)
from dragd.daemon.models.stylegan2 import GeneratorConfig

SHAPES = {
    "64px": GeneratorConfig(img_resolution=64, z_dim=16, w_dim=16, mapping_layers=2, channel_base=256,
                            channel_max=16),
    "128x64": GeneratorConfig(img_resolution=128, z_dim=16, w_dim=16, mapping_layers=2, channel_base=512,
                              channel_max=12, square=False),
    "32px-wide": GeneratorConfig(img_resolution=32, z_dim=32, w_dim=32, mapping_layers=2, channel_base=1024,
                                 channel_max=40),
}


def _read(feat: Features, box: Box) -> torch.Tensor:
    """The values of feat inside box: [C, *box.shape]."""
    rows, cols = torch.meshgrid(torch.arange(box.top, box.bottom), torch.arange(box.left, box.right), indexing="ij")
    return gather(feat, rows, cols)


@pytest.fixture(scope="module", params=sorted(SHAPES))
def generator(request):
    return make_generator(SHAPES[request.param], seed=len(request.param))


def _receptive_field(layer_output: torch.Tensor, layer_input: torch.Tensor, row: int, col: int) -> Box:
    """Bounding box of the input pixels whose gradient on output pixel (row, col) is non-zero."""
    (grad,) = torch.autograd.grad(layer_output[0, :, row, col].sum(), layer_input, retain_graph=True)
    rows, cols = torch.nonzero(grad[0].abs().sum(0), as_tuple=True)
    return Box(int(rows.min()), int(cols.min()), int(rows.max()) + 1, int(cols.max()) + 1)


def test_halo_formulas_match_the_layers_receptive_fields():
    """Each output pixel of conv0 (up-sampling) and conv1 reads exactly the box the halo formulas give."""
    generator = make_generator(SHAPES["64px"])
    block = generator.synthesis.block(3)  # 32 px block: 16 px in, 32 px out
    ws = generator.ws_for_seed(0)
    x = torch.randn(1, block.conv0.weight.shape[1], 16, 16, requires_grad=True)
    up = block.conv0(x, ws[:, 0], "const")
    mid = up.detach().requires_grad_(True)
    out = block.conv1(mid, ws[:, 1], "const")
    for row, col in [(0, 0), (7, 10), (8, 11), (31, 30), (15, 16)]:
        pixel = Box(row, col, row + 1, col + 1)
        assert _receptive_field(up, x, row, col) == upsampling_input(pixel).clip((16, 16))
        assert _receptive_field(out, mid, row, col) == conv_input(pixel).clip((32, 32))


def test_windowed_features_equal_the_whole_map_inside_the_windows(generator):
    synthesis = generator.synthesis
    ws = generator.ws_for_seed(1)
    for feature_block in range(1, synthesis.num_blocks):
        full = synthesis.run(ws, 0, feature_block + 1).x  # the fused form: windows use the unfused
        h, w = full.shape[2:]
        boxes = [Box(0, 0, 1, 2), Box(h // 2, w // 3, h // 2 + 2, w // 3 + 1), Box(h - 2, w - 1, h, w)]
        for first in range(1, feature_block + 1):
            windowed = windowed_features(synthesis, ws, first, feature_block, boxes)
            for box in boxes:
                torch.testing.assert_close(_read(windowed, box), _read(full, box), rtol=1e-5, atol=1e-5)
            if first == feature_block == synthesis.num_blocks - 1 or bool((windowed.index < 0).any()):
                with pytest.raises(RuntimeError, match="outside the computed windows"):
                    _read(windowed, Box(0, 0, h, w))  # one windowed block: three windows, not the whole map


def test_gradients_with_respect_to_the_latent_match(generator):
    synthesis = generator.synthesis
    feature_block = synthesis.num_blocks - 1
    h, w = generator.cfg.block_shape(synthesis.block_resolutions[feature_block])
    boxes = [Box(3, 2, 6, 5), Box(h - 4, w - 3, h, w)]
    torch.manual_seed(0)
    channels = synthesis.block(feature_block).conv1.weight.shape[0]
    weights = [torch.randn(channels, *box.shape) for box in boxes]
    grads = []
    for windowed in (False, True):
        ws = generator.ws_for_seed(2).clone().requires_grad_(True)
        if windowed:
            feat = windowed_features(synthesis, ws, feature_block - 1, feature_block, boxes)
        else:
            feat = synthesis.run(ws, 0, feature_block + 1, fused=False).x
        sum((_read(feat, box) * weight).sum() for box, weight in zip(boxes, weights, strict=True)).backward()
        grads.append(ws.grad)
    assert grads[0].abs().max() > 0
    assert float((grads[1] - grads[0]).norm() / grads[0].norm()) < 1e-5


@pytest.mark.parametrize("form", ["paper", "reference"])
def test_drags_follow_the_same_trajectory_for_30_steps(generator, form):
    height, width = generator.img_shape
    handles = [(width * 0.3, height * 0.4), (width * 0.35, height * 0.45), (width - 2.0, 1.0)]  # two close, a corner
    targets = [(width * 0.5, height * 0.4), (width * 0.55, height * 0.5), (width - 9.0, 6.0)]
    results, grads = [], []
    for compute in ("full", "windowed"):
        options = DragOptions(step_size=0.02, max_steps=30, stop_distance=0.0, motion_supervision=form,
                              compute=compute)
        run = DragRun(generator, generator.ws_for_seed(4), handles, targets, None, options)
        assert (run.first_windowed is None) == (compute == "full")
        steps = run.steps()
        next(steps)
        grads.append(run.offset.grad.clone())
        for _ in steps:
            pass
        results.append(run.result)
    full, windowed = results
    assert float((grads[1] - grads[0]).norm() / grads[0].norm()) < 1e-5
    assert windowed.steps == full.steps == 30
    assert windowed.trajectory == full.trajectory
    assert full.trajectory[-1] != full.trajectory[0]  # the handles did move
    torch.testing.assert_close(windowed.ws, full.ws, rtol=1e-4, atol=1e-5)
    assert abs(windowed.image.astype(int) - full.image.astype(int)).max() <= 1


def test_a_mask_computes_the_whole_map(tiny_generator):
    import numpy as np

    mask = np.zeros((32, 32), bool)
    mask[8:24, 8:24] = True
    ws = tiny_generator.ws_for_seed(0)
    assert DragRun(tiny_generator, ws, [(12, 12)], [(16, 12)], mask).first_windowed is None
    unmasked = DragRun(tiny_generator, ws, [(12, 12)], [(16, 12)], mask, DragOptions(mask_strength=0.0))
    assert unmasked.first_windowed == 1  # lambda 0: the mask term reads nothing


def test_close_handles_share_a_window_and_far_ones_do_not(generator):
    synthesis = generator.synthesis
    feature_block = synthesis.num_blocks - 1
    shape = generator.cfg.block_shape(synthesis.block_resolutions[feature_block])
    height, width = generator.img_shape
    near = feature_boxes([(10, 10), (12, 11)], 2, (height, width), shape)
    far = feature_boxes([(0, 0), (width - 1, height - 1)], 1, (height, width), shape)
    assert len(plan_windows(synthesis, feature_block - 1, feature_block, near)) == 1
    assert len(plan_windows(synthesis, feature_block, feature_block, far)) == 2
    # From the 8 px block on, the two corners' sources overlap, but their bounding box would be the whole map.
    assert len(plan_windows(synthesis, 1, feature_block, far)) == 2


def test_feature_boxes_cover_what_the_resized_map_reads():
    boxes = feature_boxes([(100.0, 40.0)], 12, (512, 512), (128, 128))
    # image rows 28..52 read map rows floor((28 + .5) / 4 - .5) = 6 .. floor((52 + .5) / 4 - .5) + 1 = 13;
    # columns 88..112 read 21 .. 28
    assert boxes == [Box(6, 21, 14, 29)]
    assert feature_boxes([(0.0, 0.0)], 3, (512, 256), (128, 64)) == [Box(0, 0, 2, 2)]
