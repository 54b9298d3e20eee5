"""StyleGAN2's low-level operations (Karras et al. 2020), in plain torch: FIR up-sampling, bias and activation,
and the modulated convolution in NVIDIA's two forms. The layers that use them are in stylegan2.py.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F

LRELU_SLOPE = 0.2
LRELU_GAIN = math.sqrt(2.0)


def fir_filter(taps: list[float] | tuple[float, ...] = (1, 3, 3, 1)) -> torch.Tensor:
    """The separable low-pass filter as a normalised 2-D kernel."""
    f = torch.as_tensor(taps, dtype=torch.float32)
    f = torch.outer(f, f)
    return f / f.sum()


def upfirdn2d(x: torch.Tensor, f: torch.Tensor, up: int = 1, pad: tuple[int, int, int, int] = (0, 0, 0, 0),
              gain: float = 1.0) -> torch.Tensor:
    """Zero-insertion upsampling by `up`, padding (left, right, top, bottom), then FIR filtering."""
    b, c, h, w = x.shape
    if up > 1:
        x = x.reshape(b, c, h, 1, w, 1)
        x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1])
        x = x.reshape(b, c, h * up, w * up)
    x = F.pad(x, list(pad))
    # A true convolution: conv2d correlates, so the kernel is flipped (a no-op for symmetric filters).
    kernel = (f * gain).flip([0, 1]).to(x.dtype)
    kernel = kernel[None, None].expand(c, 1, *f.shape)
    return F.conv2d(x, kernel, groups=c)


def upsample2d(x: torch.Tensor, f: torch.Tensor, up: int = 2) -> torch.Tensor:
    fw = f.shape[-1]
    p0, p1 = (fw + up - 1) // 2, (fw - up) // 2
    return upfirdn2d(x, f, up=up, pad=(p0, p1, p0, p1), gain=up * up)


def bias_act(x: torch.Tensor, bias: torch.Tensor | None, lrelu: bool, gain: float,
             clamp: float | None) -> torch.Tensor:
    if bias is not None:
        x = x + bias.reshape([1, -1] + [1] * (x.ndim - 2))
    if lrelu:
        x = F.leaky_relu(x, LRELU_SLOPE)
    if gain != 1:
        x = x * gain
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    return x


class Modulation(NamedTuple):
    """A modulated conv's per-sample scaling, in one of NVIDIA's two equal forms (`fused_modconv`).

    fused: per-sample weights [batch, out, in, kh, kw] (NVIDIA's inference form; one grouped conv per batch).
    unfused: scale the input by styles [batch, in], convolve with the shared weight, scale the output by the
    demodulation coefficients [batch, out] (None without demodulation). Equal up to float rounding; the unfused
    form is much cheaper to differentiate, since no weight-sized tensor depends on the latent.
    """

    weights: torch.Tensor | None
    styles: torch.Tensor | None
    dcoefs: torch.Tensor | None


def modulation(weight: torch.Tensor, styles: torch.Tensor, demodulate: bool, fused: bool = True,
               energy: torch.Tensor | None = None) -> Modulation:
    """weight [out, in, kh, kw] scaled by styles [batch, in], then demodulated (Karras et al. 2020, eq. 3):
    w'' = w' / sqrt(sum_{in,k} w'^2 + 1e-8) with w' = w * s, i.e. coefficients rsqrt(s^2 @ E^T + 1e-8) with the
    weight's energy E = sum_k w^2 [out, in] (pass it as `energy` when it is known; unfused form only)."""
    batch, in_ch = styles.shape
    out_ch = weight.shape[0]
    if not fused:
        dcoefs = None
        if demodulate:
            energy = weight.square().sum(dim=[2, 3]) if energy is None else energy
            dcoefs = (styles.square() @ energy.t() + 1e-8).rsqrt()
        return Modulation(None, styles, dcoefs)
    wts = weight.unsqueeze(0) * styles.reshape(batch, 1, in_ch, 1, 1)
    if demodulate:
        wts = wts * (wts.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt().reshape(batch, out_ch, 1, 1, 1)
    return Modulation(wts, None, None)


def modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, demodulate: bool,
                     up: int = 1, resample_filter: torch.Tensor | None = None, fused: bool = True) -> torch.Tensor:
    """A convolution whose weights are scaled per sample by `styles` (see `Modulation` for the two forms)."""
    return modulated_conv(x, weight, modulation(weight, styles, demodulate, fused), up, resample_filter)


def modulated_conv(x: torch.Tensor, weight: torch.Tensor, mod: Modulation, up: int = 1,
                   resample_filter: torch.Tensor | None = None, padded: bool = True) -> torch.Tensor:
    """Convolves x [batch, in, h, w] with `weight` [out, in, kh, kw] modulated by `mod` (from `modulation`).

    With the unfused form, x may hold any number of windows of one sample (styles of batch 1 broadcast).
    padded=True: zero padding, the output is the whole map (h x w, or 2h x 2w with up=2).
    padded=False: only the outputs whose whole receptive field lies inside x, as if x were a window of a larger
    map: (h - 2) x (w - 2) for a 3x3 kernel; with up=2, (2h - 4) x (2w - 4), whose first row is the map's row
    2 * (top + 1) when x starts at the map's row `top` (see daemon/engine/windows.py for the derivation).
    """
    batch, in_ch, h, w = x.shape
    out_ch, _, kh, kw = weight.shape
    if mod.weights is not None:  # fused: one grouped conv over the batch
        groups = batch
        x = x.reshape(1, batch * in_ch, h, w)
        wts = mod.weights.reshape(batch * out_ch, in_ch, kh, kw)
    else:
        assert mod.styles is not None
        groups = 1
        x = x * mod.styles.reshape(-1, in_ch, 1, 1)
        wts = weight
    if up == 1:
        x = F.conv2d(x, wts, padding=kh // 2 if padded else 0, groups=groups)
    else:
        # Transposed conv with stride `up`, then the FIR filter, as StyleGAN2 does; the padding
        # (1 on each side for a 3x3 kernel and a 4-tap filter) makes the output exactly `up` times larger.
        assert resample_filter is not None and kh == kw == 3 and up == 2
        wt = wts.reshape(groups, out_ch, in_ch, kh, kw).transpose(1, 2).reshape(groups * in_ch, out_ch, kh, kw)
        x = F.conv_transpose2d(x, wt, stride=up, groups=groups)
        fw = resample_filter.shape[-1]
        p = (fw + up - 1) // 2 + 1 - (kw - 1)
        x = upfirdn2d(x, resample_filter, pad=(p, p, p, p) if padded else (0, 0, 0, 0), gain=up * up)
        if not padded:  # the outermost row and column on each side still read the zero beyond x
            x = x[:, :, 1:-1, 1:-1]
    x = x.reshape(batch, out_ch, x.shape[2], x.shape[3])
    if mod.dcoefs is not None:
        x = x * mod.dcoefs.reshape(-1, out_ch, 1, 1)
    return x
