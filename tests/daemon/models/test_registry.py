"""The registry: the embedded model, the user's models folder and its sidecars, lookups by name or path."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from dragd.daemon.models.canonical import write_canonical
from dragd.daemon.models.checkpoint import Checkpoint
from dragd.daemon.models.registry import (
    DEFAULT_MODEL,
    ModelInfo,
    UnknownModelError,
    file_resolution,
    find_model,
    list_models,
    unusable_models,
    write_sidecar,
)
from model_fixtures import TINY, random_generator


@pytest.fixture
def models_dir(tmp_path, monkeypatch):
    folder = tmp_path / "models"
    folder.mkdir()
    monkeypatch.setenv("DRAGD_MODELS_DIR", str(folder))
    return folder


def _weights(path, config=TINY):
    generator = random_generator(config)
    write_canonical(Checkpoint(config, generator.state_dict(), "test"), path)
    return path


def test_embedded_model_comes_first_with_its_resolution(models_dir):
    models = list_models()
    assert models[0].name == DEFAULT_MODEL and models[0].embedded
    assert models[0].resolution == (128, 128)  # read from the file's header: its sidecar does not say
    assert find_model(None).name == DEFAULT_MODEL


def test_sidecar_round_trip(models_dir):
    info = ModelInfo("cars", _weights(models_dir / "cars.safetensors"), domain="cars", default_step_size=2e-3,
                     description="d", licence="l", resolution=(16, 16), sha256="ab" * 32, source="https://x/y.pkl",
                     mask_strength=5.0)
    sidecar = write_sidecar(info, {"title": "Cars"})
    assert json.loads(sidecar.read_text())["title"] == "Cars"
    assert not list(models_dir.glob("*.partial"))
    assert find_model("cars") == info
    assert find_model("cars").to_dict()["resolution"] == [16, 16]


def test_files_without_sidecar_or_with_a_broken_one_are_listed_unreadable_ones_are_not(models_dir):
    _weights(models_dir / "bare.safetensors", replace(TINY, square=False))
    _weights(models_dir / "broken.safetensors")
    (models_dir / "broken.json").write_text("[1, 2")
    (models_dir / "junk.safetensors").write_bytes(b"not safetensors")
    by_name = {m.name: m for m in list_models()}
    assert by_name["bare"].resolution == (16, 8)  # the header of a portrait model says height x width
    assert by_name["broken"].description.startswith("(its .json") and by_name["broken"].resolution == (16, 16)
    # A file whose header cannot be read is no model: one answer for `dragd models` and the daemon's hello.
    assert "junk" not in by_name and [m.name for m in unusable_models()] == ["junk"]
    with pytest.raises(UnknownModelError, match="'junk' is not usable"):
        find_model("junk")
    assert file_resolution(models_dir / "missing.safetensors") is None


@pytest.mark.parametrize("name", ["", "  "])
def test_an_empty_model_name_is_not_the_default(models_dir, name):
    with pytest.raises(UnknownModelError, match="empty"):
        find_model(name)


def test_find_by_path_and_unknown_names(models_dir, tmp_path):
    path = _weights(tmp_path / "elsewhere.safetensors")
    assert find_model(str(path)).path == path
    with pytest.raises(UnknownModelError, match=DEFAULT_MODEL):
        find_model("no-such-model")
