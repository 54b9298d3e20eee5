"""Motion supervision: the paper's form (the default) and the reference code's (viz/renderer.py, _render_drag_impl).

A hand check against a runnable copy of the reference loop (seed 0 of the embedded face model, blocks 4 and 5,
with and without a mask, 1 and 5 handles) found two differences that changed every drag within a few steps:
the paper's sg(F(q)) vs F(q + d) where the reference pulls F(q) towards a detached F(q - d), and a disc of pixels
around each handle measured on the reference's linspace(0, n, n) grid. These tests pin both down with the
reference's own formula, written here with the operations it names (F.interpolate, F.grid_sample, F.l1_loss);
`motion_supervision="reference"` selects it. The default stays the paper's formula, pinned down the same way.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from dragd.daemon.engine.drag import DragOptions, DragRun

REFERENCE = DragOptions(motion_supervision="reference")


def _expected_motion_loss(feat: torch.Tensor, size: int, handles, targets, r1: float, form: str) -> torch.Tensor:
    """The motion term written with the operations the reference names; handles and targets as (x, y).

    paper: sum_q |sg(F(q)) - F(q + d)| over pixels |q - p| < r1. reference: |F(q) - sg(F(q - d))| over a disc
    measured on torch.linspace(0, size, size). Both as a mean per handle (F.l1_loss), summed over handles.
    """
    resized = F.interpolate(feat, [size, size], mode="bilinear")
    positions = torch.arange(size, dtype=torch.float32) if form == "paper" else torch.linspace(0, size, size)
    rows, columns = torch.meshgrid(positions, positions, indexing="ij")
    sign = 1 if form == "paper" else -1
    loss = feat.new_zeros(())
    for (px, py), (tx, ty) in zip(handles, targets, strict=True):
        direction = torch.tensor([tx - px, ty - py], dtype=torch.float32)
        if torch.linalg.norm(direction) <= 1:
            continue
        i, j = torch.where(((rows - py) ** 2 + (columns - px) ** 2) ** 0.5 < r1)
        direction = sign * direction / (torch.linalg.norm(direction) + 1e-7)
        grid = torch.stack([(j + direction[0]) / (size - 1) * 2 - 1, (i + direction[1]) / (size - 1) * 2 - 1], dim=-1)
        moved = F.grid_sample(resized, grid[None, None], align_corners=True).squeeze(2)  # F(q + d) or F(q - d)
        here = resized[:, :, i, j]
        loss = loss + (F.l1_loss(here.detach(), moved) if form == "paper" else F.l1_loss(here, moved.detach()))
    return loss


@pytest.mark.parametrize("form", ["paper", "reference"])
def test_motion_loss_and_its_gradient_match_the_formula(tiny_generator, form):
    """Value and gradient w.r.t. the feature map: the gradient tells which side of the L1 distance is detached."""
    handles = [(20, 25), (0, 30), (9, 4), (14, 14)]
    targets = [(27.5, 20.0), (6, 30), (2, 11), (14.6, 14.2)]  # the last is within 1 px: no motion term
    for r1 in (1.0, 3.0):
        options = DragOptions(r1=r1) if form == "paper" else DragOptions(r1=r1, motion_supervision=form)
        run = DragRun(tiny_generator, tiny_generator.ws_for_seed(0), handles, targets, options=options)
        torch.manual_seed(0)
        feat = torch.randn(1, 8, 16, 16, requires_grad=True)
        ours = run._motion_loss(feat)
        (ours_grad,) = torch.autograd.grad(ours, feat)
        expected = _expected_motion_loss(feat, 32, handles, targets, r1, form)
        (expected_grad,) = torch.autograd.grad(expected, feat)
        assert torch.allclose(ours, expected, rtol=1e-5), (r1, float(ours), float(expected))
        assert torch.allclose(ours_grad, expected_grad, rtol=1e-4, atol=1e-7), r1


def test_motion_disc_is_measured_on_the_reference_grid(tiny_generator):
    """32 px, r1 = 1: pixel i sits at i * 32 / 31, so the disc of handle (20, 25) holds 3 pixels, not the handle."""
    run = DragRun(tiny_generator, tiny_generator.ws_for_seed(0), [(20, 25)], [(28, 25)], options=REFERENCE)
    assert run.r1 == 1
    ys, xs, in_disc = run._motion_disc()
    pixels = {(int(x), int(y)) for x, y, keep in zip(xs[0], ys[0], in_disc[0], strict=True) if keep}
    assert pixels == {(19, 24), (20, 24), (19, 25)}
