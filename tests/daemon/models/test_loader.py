"""Format detection by content, the public load/convert entry points, and their errors."""

from __future__ import annotations

import random

import pytest
import torch
from dragd.daemon.models.checkpoint import (
    CheckpointError,
    CheckpointNotFoundError,
    CorruptCheckpointError,
    StateDictMismatchError,
    UnknownFormatError,
)
from dragd.daemon.models.loader import convert, detect_format, load_generator, read_checkpoint
from model_fixtures import TINY, TINY_UNCLAMPED, outputs, random_generator, write_nvidia_pickle, write_rosinality
from safetensors.torch import save_file


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """One source generator per format, written under misleading names."""
    root = tmp_path_factory.mktemp("formats")
    nvidia = random_generator(TINY, seed=4)
    ros = random_generator(TINY_UNCLAMPED, seed=5)
    paths = {
        "nvidia-pickle": write_nvidia_pickle(root / "model.safetensors", nvidia),
        "rosinality": write_rosinality(root / "model.pkl", ros),
    }
    convert(paths["nvidia-pickle"], root / "canonical.pt")
    paths["safetensors"] = root / "canonical.pt"
    return paths, {"nvidia-pickle": nvidia, "rosinality": ros, "safetensors": nvidia}


@pytest.mark.parametrize("fmt", ["nvidia-pickle", "rosinality", "safetensors"])
def test_format_is_detected_from_content_not_name(files, fmt):
    paths, _ = files
    assert detect_format(paths[fmt]) == fmt


@pytest.mark.parametrize("fmt", ["nvidia-pickle", "rosinality", "safetensors"])
def test_convert_round_trip_is_exact(files, tmp_path, fmt):
    paths, sources = files
    checkpoint = convert(paths[fmt], tmp_path / "out.safetensors")
    assert detect_format(tmp_path / "out.safetensors") == "safetensors"
    converted = read_checkpoint(tmp_path / "out.safetensors")
    assert converted.config == checkpoint.config == sources[fmt].cfg
    # Re-converting a canonical file keeps the format the weights first came from.
    assert converted.metadata["converted_from"] == ("nvidia-pickle" if fmt == "safetensors" else fmt)
    generator = load_generator(tmp_path / "out.safetensors")
    for psi in (1.0, 0.7):
        assert torch.equal(outputs(generator, psi=psi), outputs(sources[fmt], psi=psi))


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointNotFoundError, match="no model file"):
        load_generator(tmp_path / "nope.pkl")
    with pytest.raises(CheckpointNotFoundError):
        load_generator(tmp_path)  # a folder is not a model file


@pytest.mark.parametrize("content", [
    random.Random(0).randbytes(4096), b"<html>not a model</html>", b'{"config": 1}', b"\x80", b"GIF89a" + bytes(100),
], ids=["random", "html", "json", "one-byte", "gif"])
def test_garbage_is_an_unknown_format(tmp_path, content):
    path = tmp_path / "model.pkl"
    path.write_bytes(content)
    with pytest.raises(UnknownFormatError, match="not a model file"):
        load_generator(path)


def test_empty_file(tmp_path):
    (tmp_path / "g.safetensors").write_bytes(b"")
    with pytest.raises(CorruptCheckpointError, match="empty"):
        load_generator(tmp_path / "g.safetensors")


@pytest.mark.parametrize("fmt", ["nvidia-pickle", "rosinality", "safetensors"])
@pytest.mark.parametrize("keep", [0.05, 0.5, 0.98])
def test_truncated_files_are_corrupt(files, tmp_path, fmt, keep):
    paths, _ = files
    raw = paths[fmt].read_bytes()
    path = tmp_path / "cut"
    path.write_bytes(raw[: int(len(raw) * keep)])
    with pytest.raises(CorruptCheckpointError):
        load_generator(path)


def test_state_dict_mismatch_lists_keys(tmp_path, files):
    paths, _ = files
    checkpoint = read_checkpoint(paths["safetensors"])
    del checkpoint.state_dict["synthesis.b8.conv1.weight"]
    checkpoint.state_dict["synthesis.b8.conv2.weight"] = torch.zeros(1)
    checkpoint.state_dict["mapping.w_avg"] = torch.zeros(5)
    from dragd.daemon.models.canonical import write_canonical

    write_canonical(checkpoint, tmp_path / "bad.safetensors")
    with pytest.raises(StateDictMismatchError) as info:
        load_generator(tmp_path / "bad.safetensors")
    message = str(info.value)
    assert "synthesis.b8.conv1.weight" in message and "synthesis.b8.conv2.weight" in message
    assert "mapping.w_avg [5]" in message


def test_every_error_is_a_checkpoint_error():
    for error in (CheckpointNotFoundError, CorruptCheckpointError, StateDictMismatchError, UnknownFormatError):
        assert issubclass(error, CheckpointError)


def test_safetensors_without_config_says_so(tmp_path):
    save_file({"mapping.fc0.weight": torch.zeros(2, 2)}, tmp_path / "weights.bin")
    with pytest.raises(CorruptCheckpointError, match="config"):
        load_generator(tmp_path / "weights.bin")


@pytest.mark.parametrize("fmt", ["nvidia-pickle", "rosinality", "safetensors"])
@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_weights_that_are_not_finite_are_refused_when_read(files, tmp_path, fmt, value):
    """A generator with one NaN or infinite weight draws only NaN: refused at load, in every format."""
    from dragd.daemon.models.canonical import write_canonical

    paths, generators = files
    broken = random_generator(TINY if fmt != "rosinality" else TINY_UNCLAMPED, seed=4)
    broken.load_state_dict(generators[fmt].state_dict())
    with torch.no_grad():
        broken.synthesis.b8.conv1.weight[0, 0, 0, 0] = value
    if fmt == "nvidia-pickle":
        path = write_nvidia_pickle(tmp_path / "m.pkl", broken)
    elif fmt == "rosinality":
        path = write_rosinality(tmp_path / "m.pt", broken)
    else:
        checkpoint = read_checkpoint(paths["safetensors"])
        checkpoint.state_dict["synthesis.b8.conv1.weight"] = broken.synthesis.b8.conv1.weight.detach().clone()
        path = tmp_path / "m.safetensors"
        write_canonical(checkpoint, path)
    with pytest.raises(CorruptCheckpointError, match=r"NaN or infinite values \(e.g. synthesis.b8.conv1.weight\)"):
        load_generator(path)
    with pytest.raises(CorruptCheckpointError):
        convert(path, tmp_path / "converted.safetensors")
    assert not (tmp_path / "converted.safetensors").exists()
