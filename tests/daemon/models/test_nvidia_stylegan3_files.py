"""StyleGAN3 pickles and PTI's torch.save'd generators in NVIDIA's layouts: read as data, identical outputs."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
import torch
from conftest import TINY3, make_stylegan3_generator
from dragd.daemon.models.checkpoint import CorruptCheckpointError, UnsafeCheckpointError
from dragd.daemon.models.loader import build_generator, convert, detect_format, read_checkpoint
from dragd.daemon.models.stylegan3 import StyleGAN3Config
from model_fixtures import (
    MODULE_SRC_SENTINEL,
    NVIDIA_GLOBALS,
    TINY,
    nvidia_generator_tree,
    nvidia_names,
    nvidia_pickle_bytes,
    outputs,
    pickle_globals,
    random_generator,
)
from safetensors import safe_open
from sg3_fixtures import TINY3_R, generator_tree, nvidia_stylegan3_pickle_bytes, write_pti_torch_save


@pytest.fixture(scope="module", params=["T", "R"])
def stylegan3(request):
    return make_stylegan3_generator(TINY3 if request.param == "T" else TINY3_R, seed=2)


def test_stylegan3_pickle_loads_with_identical_outputs(tmp_path, monkeypatch, stylegan3):
    monkeypatch.chdir(tmp_path)  # where executing module_src would leave its sentinel
    raw = nvidia_stylegan3_pickle_bytes(stylegan3)
    # StyleGAN3's layers keep numpy arrays (sizes) in their state: two more globals than StyleGAN2's files.
    assert pickle_globals(raw) == NVIDIA_GLOBALS | {"numpy._core.multiarray._reconstruct", "numpy.ndarray"}
    path = tmp_path / "stylegan3-snapshot.pkl"
    path.write_bytes(raw)
    checkpoint = read_checkpoint(path)
    assert checkpoint.config == stylegan3.cfg and checkpoint.metadata["family"] == "stylegan3"
    assert torch.equal(outputs(build_generator(checkpoint)), outputs(stylegan3))
    assert not (tmp_path / MODULE_SRC_SENTINEL).exists()


def test_pti_torch_save_of_a_stylegan3_loads_and_converts(tmp_path, monkeypatch, stylegan3):
    monkeypatch.chdir(tmp_path)
    path = write_pti_torch_save(tmp_path / "model_pti.pt", stylegan3)
    assert detect_format(path) == "nvidia-torch-save"
    checkpoint = read_checkpoint(path)
    assert checkpoint.config == stylegan3.cfg and checkpoint.metadata["network"] == "Generator"
    assert torch.equal(outputs(build_generator(checkpoint)), outputs(stylegan3))
    converted = tmp_path / "pti.safetensors"
    convert(path, converted)
    with safe_open(str(converted), framework="pt") as file:
        assert json.loads(file.metadata()["config"])["class_name"] == "training.networks_stylegan3.Generator"
    again = read_checkpoint(converted)
    assert again.config == stylegan3.cfg
    assert torch.equal(outputs(build_generator(again)), outputs(stylegan3))
    assert not (tmp_path / MODULE_SRC_SENTINEL).exists()


def test_pti_torch_save_of_a_stylegan2_loads(tmp_path):
    source = random_generator(TINY, seed=3)
    with nvidia_names():
        tree = nvidia_generator_tree(source)
    path = write_pti_torch_save(tmp_path / "model_ffhq.pt", None, tree=tree)
    checkpoint = read_checkpoint(path)
    assert checkpoint.source_format == "nvidia-torch-save" and checkpoint.config == source.cfg
    assert torch.equal(outputs(build_generator(checkpoint)), outputs(source))


class _Payload:
    def __reduce__(self):
        return (print, ("payload ran",))


def test_pti_file_asking_for_code_is_refused_without_running_it(tmp_path, capsys):
    generator = make_stylegan3_generator()
    with nvidia_names():
        tree = generator_tree(generator)
    tree.meta["state"]["_init_kwargs"]["evil"] = _Payload()
    path = write_pti_torch_save(tmp_path / "model.pt", None, tree=tree)
    with pytest.raises(UnsafeCheckpointError, match="print") as info:
        read_checkpoint(path)
    assert "payload ran" not in capsys.readouterr().out
    assert "safe_globals" not in str(info.value) and "weights_only" not in str(info.value)


def test_pti_file_missing_a_storage_record_is_corrupt(tmp_path):
    path = write_pti_torch_save(tmp_path / "model.pt", make_stylegan3_generator())
    damaged = tmp_path / "damaged.pt"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(damaged, "w") as dst:
        for item in src.infolist():
            if not item.filename.endswith("/data/3"):
                dst.writestr(item, src.read(item.filename))
    with pytest.raises(CorruptCheckpointError, match="no record for storage"):
        read_checkpoint(damaged)


def test_a_foreign_torch_file_is_refused_without_torchs_allow_list_advice(tmp_path):
    buffer = io.BytesIO()
    torch.save({"g_ema": {"w": torch.zeros(1)}, "opt": zipfile.ZipInfo("x")}, buffer)
    path = tmp_path / "foreign.pt"
    path.write_bytes(buffer.getvalue())
    with pytest.raises(UnsafeCheckpointError) as info:
        read_checkpoint(path)
    message = str(info.value)
    assert "zipfile.ZipInfo" in message
    assert "safe_globals" not in message and "weights_only" not in message and "trust" not in message


# --- conv_clamp: the recorded value, else the default of the code the kwargs come from -------------


def test_stylegan3_clamp_comes_from_the_layers_when_the_kwargs_omit_it(tmp_path):
    generator = make_stylegan3_generator(TINY3_R)  # built with conv_clamp 0.5
    path = tmp_path / "g.pkl"
    path.write_bytes(nvidia_stylegan3_pickle_bytes(generator, omit_kwargs=("conv_clamp",)))
    assert read_checkpoint(path).config.conv_clamp == 0.5
    path.write_bytes(nvidia_stylegan3_pickle_bytes(generator, omit_kwargs=("conv_clamp",),
                                                   conv_clamp_attribute=False))
    assert read_checkpoint(path).config.conv_clamp == StyleGAN3Config.conv_clamp == 256


@pytest.mark.parametrize("style,default", [("ada", None), ("stylegan3", 256.0)])
def test_stylegan2_clamp_default_follows_the_code_family(tmp_path, style, default):
    """stylegan2-ada-pytorch (nested synthesis_kwargs) has no clamp by default; the stylegan3 repository's
    StyleGAN2 (flat kwargs) clamps at 256."""
    source = random_generator(TINY, seed=1)
    path = tmp_path / "g.pkl"
    path.write_bytes(nvidia_pickle_bytes(source, kwargs_style=style, drop_kwargs=("conv_clamp",)))
    assert read_checkpoint(path).config.conv_clamp == default


def test_stylegan2_clamp_recorded_by_the_layers_wins_over_the_family_default(tmp_path):
    source = random_generator(TINY, seed=1)  # built with conv_clamp 256
    path = tmp_path / "g.pkl"
    path.write_bytes(nvidia_pickle_bytes(source, kwargs_style="ada", drop_kwargs=("conv_clamp",),
                                         nested_extra={"synthesis.b4.conv1.": {"conv_clamp": 256}}))
    checkpoint = read_checkpoint(path)
    assert checkpoint.config.conv_clamp == 256.0
    assert torch.equal(outputs(build_generator(checkpoint)), outputs(source))
