"""StyleGAN3's low-level operations (Karras et al. 2021), in plain torch: the low-pass filter design for
generators built from scratch, the filtered leaky ReLU (paper, Appendix C.2) and the modulated convolution.
The layers that use them are in stylegan3.py.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

# --- filter design (used only for generators built from scratch: files carry their filters) ----------------


def _kaiser_beta(numtaps: int, width: float, fs: float) -> float:
    """Kaiser's window shape for a transition band `width` (Hz at sampling rate fs): Kaiser 1974's formulas."""
    atten = 2.285 * (numtaps - 1) * math.pi * (width / (fs / 2)) + 7.95
    if atten > 50:
        return 0.1102 * (atten - 8.7)
    if atten > 21:
        return 0.5842 * (atten - 21) ** 0.4 + 0.07886 * (atten - 21)
    return 0.0


def kaiser_lowpass(numtaps: int, cutoff: float, width: float, fs: float) -> torch.Tensor:
    """A windowed-sinc low-pass FIR filter [numtaps] with unit DC gain (what scipy.signal.firwin designs)."""
    m = np.arange(numtaps) - (numtaps - 1) / 2
    nyquist_cutoff = cutoff / (fs / 2)
    taps = nyquist_cutoff * np.sinc(nyquist_cutoff * m) * np.kaiser(numtaps, _kaiser_beta(numtaps, width, fs))
    return torch.as_tensor(taps / taps.sum(), dtype=torch.float32)


def jinc_lowpass(numtaps: int, cutoff: float, width: float, fs: float) -> torch.Tensor:
    """A radially symmetric jinc low-pass filter [numtaps, numtaps] under a separable Kaiser window."""
    x = torch.as_tensor((np.arange(numtaps) - (numtaps - 1) / 2) / fs, dtype=torch.float64)
    r = torch.hypot(x[None, :], x[:, None])
    taps = torch.special.bessel_j1(2 * cutoff * math.pi * r) / (math.pi * r)
    window = torch.as_tensor(np.kaiser(numtaps, _kaiser_beta(numtaps, width, fs)))
    taps = taps * torch.outer(window, window)
    return (taps / taps.sum()).to(torch.float32)


# --- the filtered leaky ReLU ----------------------------------------------------------------------------


def _pad_or_crop(x: torch.Tensor, padding: tuple[int, int, int, int]) -> torch.Tensor:
    left, right, top, bottom = padding
    x = F.pad(x, [max(left, 0), max(right, 0), max(top, 0), max(bottom, 0)])
    return x[:, :, max(-top, 0): x.shape[2] - max(-bottom, 0), max(-left, 0): x.shape[3] - max(-right, 0)]


def _fir(x: torch.Tensor, f: torch.Tensor | None, gain: float, stride: int) -> torch.Tensor:
    """Convolves every channel with f ([taps]: separable, rows then columns; [taps, taps]: 2-D), keeping every
    `stride`-th output. A true convolution (the filter flipped), as NVIDIA's upfirdn2d."""
    if f is None:
        return x * gain if gain != 1 else x
    channels = x.shape[1]
    f = (f * gain ** (f.ndim / 2)).flip(list(range(f.ndim))).to(x.dtype)
    if f.ndim == 2:
        return F.conv2d(x, f[None, None].expand(channels, 1, *f.shape), stride=stride, groups=channels)
    x = F.conv2d(x, f.reshape(1, 1, 1, -1).expand(channels, 1, 1, -1), stride=(1, stride), groups=channels)
    return F.conv2d(x, f.reshape(1, 1, -1, 1).expand(channels, 1, -1, 1), stride=(stride, 1), groups=channels)


def _upsample_fir_axis(x: torch.Tensor, f: torch.Tensor, up: int, pad_lo: int, pad_hi: int, dim: int) -> torch.Tensor:
    """Along `dim` (2: rows, 3: columns): zero insertion by `up`, padding (pad_lo, pad_hi), then filtering with the
    1-D taps f times `up` -- computed as a strided transposed convolution, which never multiplies the inserted
    zeros. The transposed conv yields the full convolution of the zero-inserted signal; output n is its sample
    n + taps - 1 - pad_lo (zero beyond its ends)."""
    taps, channels, size = f.numel(), x.shape[1], x.shape[dim]
    n_out = size * up + pad_lo + pad_hi - taps + 1
    shape = (channels, 1, 1, taps) if dim == 3 else (channels, 1, taps, 1)
    stride = (1, up) if dim == 3 else (up, 1)
    y = F.conv_transpose2d(x, (f * up).to(x.dtype).reshape(1, 1, *shape[2:]).expand(shape), stride=stride,
                           groups=channels)
    start = taps - 1 - pad_lo
    before, after = max(0, -start), max(0, start + n_out - y.shape[dim])
    if before or after:
        y = F.pad(y, [before, after] if dim == 3 else [0, 0, before, after])
    return y.narrow(dim, start + before, n_out)


def filtered_lrelu(x: torch.Tensor, fu: torch.Tensor | None, fd: torch.Tensor | None, bias: torch.Tensor, up: int,
                   down: int, padding: tuple[int, int, int, int], gain: float, slope: float,
                   clamp: float | None) -> torch.Tensor:
    """Bias, upsample by `up` (zero insertion, padding, filter fu with gain up**2), leaky ReLU times `gain`
    clamped to [-clamp, clamp], then filter fd and keep every `down`-th sample (paper, Appendix C.2)."""
    x = x + bias.reshape(1, -1, 1, 1)
    if up > 1 and fu is not None and fu.ndim == 1:  # separable: one axis at a time, skipping the inserted zeros
        left, right, top, bottom = padding
        x = _upsample_fir_axis(_upsample_fir_axis(x, fu, up, left, right, 3), fu, up, top, bottom, 2)
    else:
        if up > 1:
            b, c, h, w = x.shape
            x = F.pad(x.reshape(b, c, h, 1, w, 1), [0, up - 1, 0, 0, 0, up - 1]).reshape(b, c, h * up, w * up)
        x = _fir(_pad_or_crop(x, padding), fu, up * up, 1)
    x = F.leaky_relu(x, slope) if slope != 1 else x
    if gain != 1:
        x = x * gain
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    return _fir(x, fd, 1.0, down)


def modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, demodulate: bool, padding: int,
                     input_gain: torch.Tensor) -> torch.Tensor:
    """StyleGAN3's modulated conv: weights and styles pre-normalised (when demodulating), modulated,
    demodulated and scaled by `input_gain`.

    Computed in the unfused form (NVIDIA's `fused_modconv=False`): the input is scaled by the styles, convolved
    with the shared weight, and the output scaled by the demodulation coefficients, which are
    rsqrt(sum_i s_i^2 * sum_k W_oik^2 + 1e-8) per output channel. The same numbers as one conv with per-sample
    weights, but no weight-sized tensor depends on the latent, so the drag's backward pass never computes a
    weight gradient.
    """
    if demodulate:
        weight = weight * weight.square().mean([1, 2, 3], keepdim=True).rsqrt()
        styles = styles * styles.square().mean().rsqrt()
    x = x * styles.reshape(*styles.shape, 1, 1)
    x = F.conv2d(x, weight, padding=padding)
    scale = input_gain
    if demodulate:
        energy = weight.square().sum(dim=[2, 3])  # [out, in]
        scale = scale * (styles.square() @ energy.t() + 1e-8).rsqrt().reshape(*x.shape[:2], 1, 1)
    return x * scale
