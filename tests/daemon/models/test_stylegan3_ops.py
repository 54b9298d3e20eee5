"""StyleGAN3's operations (daemon/models/stylegan3_ops.py) against the plain way of writing them."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from dragd.daemon.models.stylegan3_ops import filtered_lrelu, jinc_lowpass, kaiser_lowpass


def _filtered_lrelu_2d(x, fu, fd, bias, up, down, padding, gain, slope, clamp):
    """The same op written the plain way: full 2-D zero insertion and one 2-D convolution per filter."""
    def conv(x, f, g):
        f2 = f if f.ndim == 2 else torch.outer(f, f)
        f2 = (f2 * g).flip([0, 1])
        return F.conv2d(x, f2[None, None].expand(x.shape[1], 1, *f2.shape), groups=x.shape[1])
    x = x + bias[None, :, None, None]
    b, c, h, w = x.shape
    z = torch.zeros(b, c, h * up, w * up)
    z[:, :, ::up, ::up] = x
    left, right, top, bottom = padding
    z = F.pad(z, [max(left, 0), max(right, 0), max(top, 0), max(bottom, 0)])
    z = z[:, :, max(-top, 0): z.shape[2] - max(-bottom, 0), max(-left, 0): z.shape[3] - max(-right, 0)]
    z = conv(z, fu, up * up)
    z = (F.leaky_relu(z, slope) * gain).clamp(-clamp, clamp)
    return conv(z, fd, 1.0)[:, :, ::down, ::down]


@pytest.mark.parametrize("up,down,padding,radial", [(2, 2, (9, 8, 9, 8), False), (4, 2, (-6, -9, -6, -9), False),
                                                    (2, 2, (9, 8, 9, 8), True)])
def test_filtered_lrelu_is_the_plain_upsample_lrelu_downsample(up, down, padding, radial):
    torch.manual_seed(0)
    x, bias = torch.randn(2, 3, 20, 20), torch.randn(3)
    fu = kaiser_lowpass(6 * up, 2.0, 3.0, 8.0 * up)
    fd = (jinc_lowpass if radial else kaiser_lowpass)(6 * down, 2.5, 3.0, 8.0 * up)
    ours = filtered_lrelu(x, fu, fd, bias, up, down, padding, gain=2**0.5, slope=0.2, clamp=1.5)
    plain = _filtered_lrelu_2d(x, fu, fd, bias, up, down, padding, gain=2**0.5, slope=0.2, clamp=1.5)
    assert ours.shape == plain.shape and torch.allclose(ours, plain, atol=1e-5)
