"""rosinality stylegan2-pytorch checkpoints: mapped by name to NVIDIA's layout, config from shapes."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from dragd.daemon.models.checkpoint import (
    StateDictMismatchError,
    UnknownFormatError,
    UnsafeCheckpointError,
    UnsupportedCheckpointError,
)
from dragd.daemon.models.loader import build_generator, read_checkpoint
from dragd.daemon.models.rosinality import (
    W_AVG_SAMPLES,
    from_rosinality_state_dict,
    infer_config,
    to_rosinality_state_dict,
)
from dragd.daemon.models.stylegan2 import GeneratorConfig
from model_fixtures import (
    TINY_UNCLAMPED,
    outputs,
    random_generator,
    rosinality_layout,
    rosinality_reference_forward,
    write_rosinality,
)


@pytest.fixture(scope="module")
def source():
    return random_generator(TINY_UNCLAMPED, seed=2)


@pytest.mark.parametrize("psi", [1.0, 0.7])
def test_fixture_layout_computes_what_the_generator_computes(source, psi):
    """The hand-written rosinality layout, run by rosinality's forward pass, matches our generator."""
    ros, latent_avg = rosinality_layout(source)
    z = torch.from_numpy(np.random.RandomState(0).randn(2, source.cfg.z_dim)).float()
    with torch.no_grad():
        reference = rosinality_reference_forward(ros, latent_avg, z, psi)
    # Not bit-exact: rosinality scales conv weights by 1/sqrt(fan_in) before demodulating, NVIDIA doesn't.
    torch.testing.assert_close(reference, outputs(source, psi=psi), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("training", [False, True], ids=["convert_weight", "train"])
def test_rosinality_file_loads_with_identical_outputs(tmp_path, source, training):
    path = write_rosinality(tmp_path / "550000.pt", source, training=training)
    checkpoint = read_checkpoint(path)
    assert checkpoint.source_format == "rosinality"
    assert checkpoint.config == source.cfg
    generator = build_generator(checkpoint)
    for psi in (1.0, 0.7):
        assert torch.equal(outputs(generator, psi=psi), outputs(source, psi=psi))


def test_inverse_mapping_matches_the_hand_written_layout(source):
    checkpoint = from_rosinality_state_dict(*rosinality_layout(source))
    ros, latent_avg = to_rosinality_state_dict(checkpoint)
    expected, expected_avg = rosinality_layout(source)
    assert set(ros) == set(expected)
    for key, tensor in expected.items():
        assert torch.equal(ros[key], tensor), key
    assert torch.equal(latent_avg, expected_avg)


@pytest.mark.parametrize(("multiplier", "resolution", "base"), [(2, 256, 32768), (1, 256, 16384), (2, 1024, 32768)])
def test_channel_multiplier_gives_nvidia_channel_base(multiplier, resolution, base):
    """rosinality's channel table: 512 up to 32 px, then 256 * m at 64 px, halving per resolution."""
    channels = {4: 512, 8: 512, 16: 512, 32: 512, 64: 256 * multiplier, 128: 128 * multiplier,
                256: 64 * multiplier, 512: 32 * multiplier, 1024: 16 * multiplier}
    shapes = {"style.1.weight": torch.empty(512, 512), "input.input": torch.empty(1, 512, 4, 4),
              "to_rgb1.conv.weight": torch.empty(1, 3, 512, 1, 1)}
    for i in range(2, 9):
        shapes[f"style.{i}.weight"] = torch.empty(512, 512)
    prev = 512
    for k, res in enumerate(r for r in channels if 8 <= r <= resolution):
        shapes[f"convs.{2 * k}.conv.weight"] = torch.empty(1, channels[res], prev, 3, 3)
        shapes[f"to_rgbs.{k}.conv.weight"] = torch.empty(1, 3, channels[res], 1, 1)
        prev = channels[res]
    config = infer_config(shapes)
    assert config == GeneratorConfig(img_resolution=resolution, mapping_layers=8, channel_base=base,
                                     channel_max=512, conv_clamp=None)


def test_missing_latent_avg_is_estimated(tmp_path, source):
    path = write_rosinality(tmp_path / "g.pt", source, latent_avg=False)
    checkpoint = read_checkpoint(path)
    assert str(W_AVG_SAMPLES) in checkpoint.metadata["w_avg"]
    # The estimate is the mean w of random z; the source's own w_avg is random, so compare to a fresh mean.
    z = torch.randn(20000, source.cfg.z_dim, generator=torch.Generator().manual_seed(123))
    with torch.no_grad():
        mean_w = source.mapping(z)[:, 0].mean(0)
    spread = source.mapping(z)[:, 0].std(0).max().item()
    assert (checkpoint.state_dict["mapping.w_avg"] - mean_w).abs().max().item() < 0.1 * spread


def test_clamped_generator_has_no_rosinality_equivalent():
    checkpoint = from_rosinality_state_dict(*rosinality_layout(random_generator(TINY_UNCLAMPED)))
    clamped = type(checkpoint)(GeneratorConfig(**{**checkpoint.config.to_dict(), "conv_clamp": 256.0}),
                               checkpoint.state_dict, "x")
    with pytest.raises(UnsupportedCheckpointError, match="clamp"):
        to_rosinality_state_dict(clamped)


def test_missing_and_unexpected_keys_are_named(tmp_path, source):
    ros, latent_avg = rosinality_layout(source)
    del ros["convs.1.noise.weight"]
    ros["convs.1.extra"] = torch.zeros(1)
    torch.save({"g_ema": ros, "latent_avg": latent_avg}, tmp_path / "g.pt")
    with pytest.raises(StateDictMismatchError, match=r"convs\.1\.noise\.weight.*convs\.1\.extra"):
        read_checkpoint(tmp_path / "g.pt")


def test_wrong_shape_is_named(tmp_path, source):
    ros, latent_avg = rosinality_layout(source)
    ros["convs.0.conv.weight"] = ros["convs.0.conv.weight"][0]  # NVIDIA's 4-D shape in a rosinality file
    torch.save({"g_ema": ros, "latent_avg": latent_avg}, tmp_path / "g.pt")
    with pytest.raises(StateDictMismatchError, match=r"convs\.0\.conv\.weight"):
        read_checkpoint(tmp_path / "g.pt")


def test_other_torch_files_are_not_mistaken_for_rosinality(tmp_path):
    torch.save({"model": {"fc.weight": torch.zeros(2, 2)}}, tmp_path / "other.pt")
    with pytest.raises(UnknownFormatError, match="not a rosinality"):
        read_checkpoint(tmp_path / "other.pt")


class _Payload:
    def __init__(self, sentinel):
        self.sentinel = sentinel

    def __reduce__(self):
        return os.system, (f"touch {self.sentinel}",)


def test_torch_file_with_a_payload_is_refused(tmp_path, source):
    sentinel = tmp_path / "pwned"
    ros, latent_avg = rosinality_layout(source)
    torch.save({"g_ema": ros, "latent_avg": latent_avg, "args": _Payload(sentinel)}, tmp_path / "g.pt")
    with pytest.raises(UnsafeCheckpointError, match=r"posix\.system"):
        read_checkpoint(tmp_path / "g.pt")
    assert not sentinel.exists()


def test_legacy_torch_save_format_loads(tmp_path, source):
    """Checkpoints written by torch < 1.6 use the pre-zip format; content detection still finds them."""
    ros, latent_avg = rosinality_layout(source)
    torch.save({"g_ema": ros, "latent_avg": latent_avg}, tmp_path / "old.pkl", _use_new_zipfile_serialization=False)
    generator = build_generator(read_checkpoint(tmp_path / "old.pkl"))
    assert torch.equal(outputs(generator), outputs(source))
