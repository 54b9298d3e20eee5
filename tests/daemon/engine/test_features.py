import torch
import torch.nn.functional as F
from dragd.daemon.engine.features import upsampled_at, upsampled_bilinear


def test_upsampled_at_equals_interpolate_everywhere():
    torch.manual_seed(0)
    feat = torch.randn(1, 5, 8, 8)
    for size in [(32, 32), (8, 8), (13, 29)]:
        full = F.interpolate(feat, size, mode="bilinear")
        ys, xs = torch.meshgrid(torch.arange(size[0]), torch.arange(size[1]), indexing="ij")
        assert torch.allclose(upsampled_at(feat, size, ys, xs), full[0], atol=1e-6)


def test_upsampled_bilinear_equals_grid_sample_on_the_resized_map():
    torch.manual_seed(1)
    feat = torch.randn(1, 4, 8, 8)
    size = (32, 32)
    full = F.interpolate(feat, size, mode="bilinear")
    ys = torch.rand(50) * 33 - 1  # includes positions just outside the image (zero padding)
    xs = torch.rand(50) * 33 - 1
    grid = torch.stack([xs / (size[1] - 1) * 2 - 1, ys / (size[0] - 1) * 2 - 1], -1)[None, None]
    expected = F.grid_sample(full, grid, align_corners=True)[0, :, 0]
    assert torch.allclose(upsampled_bilinear(feat, size, ys, xs), expected, atol=1e-5)


def test_gradients_flow_through_the_bilinear_sample():
    feat = torch.randn(1, 3, 4, 4, requires_grad=True)
    upsampled_bilinear(feat, (16, 16), torch.tensor([5.3]), torch.tensor([7.6])).sum().backward()
    assert feat.grad is not None and feat.grad.abs().sum() > 0
