"""stylegan2_ops: the modulated convolution's two forms agree, and its unpadded ('valid') outputs are the map's."""

from __future__ import annotations

import pytest
import torch
from dragd.daemon.models.stylegan2_ops import fir_filter, modulated_conv, modulation


@pytest.mark.parametrize("up", [1, 2])
@pytest.mark.parametrize("demodulate", [True, False])
def test_fused_and_unfused_forms_agree(up, demodulate):
    torch.manual_seed(up)
    x, weight, styles = torch.randn(2, 6, 9, 7), torch.randn(5, 6, 3, 3), torch.randn(2, 6)
    outputs = [modulated_conv(x, weight, modulation(weight, styles, demodulate, fused), up, fir_filter())
               for fused in (True, False)]
    assert outputs[0].shape == (2, 5, 9 * up, 7 * up)
    torch.testing.assert_close(outputs[1], outputs[0], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("up", [1, 2])
def test_unpadded_outputs_are_the_interior_of_the_padded_map(up):
    torch.manual_seed(0)
    x, weight, styles = torch.randn(1, 4, 10, 8), torch.randn(3, 4, 3, 3), torch.randn(1, 4)
    mod = modulation(weight, styles, True, fused=False)
    whole = modulated_conv(x, weight, mod, up, fir_filter())
    top, left = 3, 2  # a window of x starting at row 3, column 2
    window = modulated_conv(x[:, :, top:top + 5, left:left + 4], weight, mod, up, fir_filter(), padded=False)
    if up == 1:  # rows top+1 .. top+3 (the rows whose 3x3 neighbourhood lies in the window)
        expected = whole[:, :, top + 1:top + 4, left + 1:left + 3]
    else:  # rows 2 (top + 1) .. 2 (top + 1) + 2 * 5 - 4
        expected = whole[:, :, 2 * (top + 1):2 * (top + 1) + 6, 2 * (left + 1):2 * (left + 1) + 4]
    torch.testing.assert_close(window, expected, rtol=1e-5, atol=1e-5)
