"""The StyleGAN3 generator: NVIDIA's numbers for the same weights, its published layer design, its pieces."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import TINY3, make_stylegan3_generator
from dragd.daemon.models.stylegan3 import StyleGAN3Config
from dragd.daemon.models.stylegan3_ops import jinc_lowpass, kaiser_lowpass
from sg3_fixtures import TINY3_R

# What NVIDIA's own training/networks_stylegan3.py (NVlabs/stylegan3, run by hand from /tmp with its reference
# CPU ops, force_fp32) gave for make_stylegan3_generator(cfg, seed=0), z = RandomState(0).randn(2, 16), psi 0.7:
# the image's sum, sum of magnitudes, and item 0's top-left 2x2 pixels (channels, rows, columns).
# Its own filter design matched ours to 0 (T) and 3e-9 (R); its outputs matched ours to 1.2e-7.
NVIDIA_OUTPUTS = {
    "T": (77.71073150634766, 136.0927276611328, [
        0.16571947932243347, 0.13218563795089722, 0.155504047870636, 0.12240909785032272, 0.09619952738285065,
        0.11507425457239151, 0.0951034277677536, 0.1187039390206337, -0.01695980504155159, -0.04813719540834427,
        -0.03597107529640198, -0.06723272800445557]),
    "R": (29.35039520263672, 54.43132400512695, [
        0.07004091888666153, 0.07043472677469254, 0.07044963538646698, 0.0707387924194336, -0.025172553956508636,
        -0.024586088955402374, -0.024704646319150925, -0.023766938596963882, 0.008339442312717438,
        0.008758559823036194, 0.008987616747617722, 0.00924937054514885]),
}


@pytest.mark.parametrize("name,cfg", [("T", TINY3), ("R", TINY3_R)])
def test_outputs_match_nvidia_for_the_same_weights(name, cfg):
    generator = make_stylegan3_generator(cfg, seed=0)
    z = torch.from_numpy(np.random.RandomState(0).randn(2, cfg.z_dim)).float()
    with torch.no_grad():
        img = generator(z, truncation_psi=0.7)
    total, magnitude, corner = NVIDIA_OUTPUTS[name]
    assert img.shape == (2, 3, 16, 16)
    assert img.sum().item() == pytest.approx(total, abs=2e-4)
    assert img.abs().sum().item() == pytest.approx(magnitude, abs=2e-4)
    assert img[0, :, :2, :2].flatten().tolist() == pytest.approx(corner, abs=1e-6)


def test_published_1024_config_t_layers_are_named_as_nvidia_names_them():
    names = [spec.name for spec in StyleGAN3Config(1024).layers]
    assert names == ["L0_36_512", "L1_36_512", "L2_52_512", "L3_52_512", "L4_84_512", "L5_148_512", "L6_148_512",
                     "L7_276_323", "L8_276_203", "L9_532_128", "L10_1044_81", "L11_1044_51", "L12_1044_32",
                     "L13_1024_32", "L14_1024_3"]
    # Config R at 1024: twice the channels (channel_base 65536, channel_max 1024), same sizes.
    r_names = [spec.name for spec in StyleGAN3Config(1024, channel_base=65536, channel_max=1024).layers]
    assert r_names[:3] == ["L0_36_1024", "L1_36_1024", "L2_52_1024"] and r_names[-1] == "L14_1024_3"
    assert StyleGAN3Config(512).layers[5].name == "L5_84_512" and StyleGAN3Config(512).num_ws == 16


def test_filters_have_unit_gain_and_the_published_tap_counts():
    layers = StyleGAN3Config(512).layers
    assert [(s.up_taps, s.down_taps) for s in layers[:3]] == [(12, 12), (12, 12), (24, 12)]
    assert (layers[-1].up_taps, layers[-1].down_taps) == (1, 1)  # toRGB: no filters (None buffers)
    assert kaiser_lowpass(12, 2.0, 3.0, 32.0).sum().item() == pytest.approx(1.0, abs=1e-6)
    assert jinc_lowpass(12, 2.0, 3.0, 32.0).sum().item() == pytest.approx(1.0, abs=1e-6)


def test_running_in_pieces_equals_the_whole_and_features_drop_the_margin():
    generator = make_stylegan3_generator()
    ws = generator.ws_for_seed(1)
    synthesis = generator.synthesis
    with torch.no_grad():
        whole = synthesis(ws)
        head = synthesis.run(ws, 0, 6)
        tail = synthesis.run(ws, 6, None, head)
    assert head.img is None and torch.equal(tail.img, whole)
    spec = TINY3.layers[5]
    assert spec.margin == TINY3.margin_size and head.x.shape[-1] == spec.out_size
    feat = synthesis.image_features(head.x, 5)
    assert feat.shape[-1] == spec.out_sampling_rate
    assert torch.equal(feat, head.x[:, :, 2:-2, 2:-2])
    last = synthesis.run(ws, 0, synthesis.num_blocks - 1).x  # the critically sampled layers have no margin
    assert torch.equal(synthesis.image_features(last, synthesis.num_blocks - 2), last)


def test_kwargs_round_trip_and_bad_configs_are_refused():
    for cfg in (TINY3, TINY3_R, StyleGAN3Config(1024, channel_base=65536, channel_max=1024)):
        assert StyleGAN3Config.from_nvidia_kwargs(cfg.nvidia_kwargs()) == cfg
    with pytest.raises(ValueError, match="power of two"):
        StyleGAN3Config(img_resolution=48)
    with pytest.raises(ValueError, match="conditional"):
        StyleGAN3Config.from_nvidia_kwargs({**TINY3.nvidia_kwargs(), "c_dim": 10})
