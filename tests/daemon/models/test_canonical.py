"""dragd's canonical safetensors format: the embedded model's layout, written atomically, round-tripping."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from dragd.daemon.models.canonical import read_canonical, write_canonical
from dragd.daemon.models.checkpoint import Checkpoint, CorruptCheckpointError, UnsupportedCheckpointError
from dragd.daemon.models.loader import build_generator
from dragd.daemon.models.stylegan2 import GeneratorConfig
from model_fixtures import TINY, TINY_UNCLAMPED, outputs, random_generator
from safetensors import safe_open
from safetensors.torch import save_file


def _checkpoint(config: GeneratorConfig = TINY, seed: int = 3) -> Checkpoint:
    generator = random_generator(config, seed)
    return Checkpoint(config, generator.state_dict(), "test", {"source": "unit-test.pkl", "note": [1, 2]})


@pytest.mark.parametrize("config", [TINY, TINY_UNCLAMPED], ids=["clamped", "unclamped"])
def test_round_trip_is_exact(tmp_path, config):
    checkpoint = _checkpoint(config)
    write_canonical(checkpoint, tmp_path / "g.safetensors")
    loaded = read_canonical(tmp_path / "g.safetensors")
    assert loaded.config == checkpoint.config
    assert loaded.source_format == "safetensors"
    assert loaded.metadata["converted_from"] == "test" and loaded.metadata["note"] == [1, 2]
    assert set(loaded.state_dict) == set(checkpoint.state_dict)
    for key, tensor in checkpoint.state_dict.items():
        assert torch.equal(loaded.state_dict[key], tensor), key
    assert torch.equal(outputs(build_generator(loaded)), outputs(build_generator(checkpoint)))
    assert not list(tmp_path.glob("*.partial"))


def test_file_layout_matches_the_embedded_model(tmp_path):
    checkpoint = _checkpoint()
    # A non-contiguous float64 tensor is stored contiguous float32.
    checkpoint.state_dict["synthesis.b4.const"] = checkpoint.state_dict["synthesis.b4.const"].double().transpose(1, 2)
    write_canonical(checkpoint, tmp_path / "g.safetensors")
    with safe_open(str(tmp_path / "g.safetensors"), framework="pt") as file:
        config = json.loads(file.metadata()["config"])
        dtypes = {file.get_slice(k).get_dtype() for k in file.keys()}  # noqa: SIM118
    assert config["init_args"] == [] and config["source"] == "unit-test.pkl"
    assert GeneratorConfig.from_nvidia_kwargs(config["init_kwargs"]) == checkpoint.config
    assert dtypes == {"F32"}


def test_nvidia_kwargs_read_back_for_every_field():
    config = GeneratorConfig(img_resolution=64, z_dim=16, w_dim=24, img_channels=1, mapping_layers=3,
                             mapping_lr_multiplier=0.1, channel_base=1000, channel_max=48, conv_clamp=None)
    assert GeneratorConfig.from_nvidia_kwargs(json.loads(json.dumps(config.nvidia_kwargs()))) == config


def test_write_does_not_clobber_on_failure(tmp_path, monkeypatch):
    def half_write(tensors, path, metadata):
        Path(path).write_bytes(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr("dragd.daemon.models.canonical.save_file", half_write)
    target = tmp_path / "g.safetensors"
    target.write_bytes(b"previous")
    with pytest.raises(OSError, match="disk full"):
        write_canonical(_checkpoint(), target)
    assert target.read_bytes() == b"previous" and not list(tmp_path.glob("*.partial"))


def test_a_write_that_safetensors_cannot_do_is_an_oserror_not_its_own_error_type(tmp_path):
    with pytest.raises(OSError, match="No such file or directory"):  # safetensors raises SafetensorError
        write_canonical(_checkpoint(), tmp_path / "missing" / "g.safetensors")
    assert not list(tmp_path.rglob("*.partial"))


def test_missing_config_metadata_is_a_clear_error(tmp_path):
    save_file({"x": torch.zeros(2)}, tmp_path / "g.safetensors")
    with pytest.raises(CorruptCheckpointError, match="config"):
        read_canonical(tmp_path / "g.safetensors")


@pytest.mark.parametrize(("config_json", "error"), [
    ("not json", CorruptCheckpointError),
    ('{"init_args": []}', CorruptCheckpointError),
    ('{"init_kwargs": {"z_dim": 8}}', CorruptCheckpointError),  # no img_resolution
    ('{"init_kwargs": {"img_resolution": 24}}', UnsupportedCheckpointError),
    ('{"init_kwargs": {"img_resolution": 16, "c_dim": 3}}', UnsupportedCheckpointError),
])
def test_bad_config_metadata(tmp_path, config_json, error):
    save_file({"x": torch.zeros(2)}, tmp_path / "g.safetensors", metadata={"config": config_json})
    with pytest.raises(error):
        read_canonical(tmp_path / "g.safetensors")
