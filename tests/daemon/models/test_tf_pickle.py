"""TensorFlow-era StyleGAN2 pickles: read as data with the real files' globals, mapped by name, nothing run."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
import torch
from dragd.daemon.models import tf_pickle
from dragd.daemon.models.checkpoint import (
    CorruptCheckpointError,
    UnsafeCheckpointError,
    UnsupportedCheckpointError,
)
from dragd.daemon.models.loader import convert, detect_format, load_generator, read_checkpoint
from model_fixtures import MODULE_SRC_SENTINEL, TINY_UNCLAMPED, outputs, pickle_globals, random_generator
from tf_fixtures import TF_GLOBALS, Network, tf_names, tf_pickle_bytes, tf_representable, write_tf_pickle


@pytest.fixture(scope="module")
def source():
    return tf_representable(random_generator(TINY_UNCLAMPED, seed=7))


def test_fixture_names_exactly_the_globals_of_real_files(source):
    assert pickle_globals(tf_pickle_bytes(source)) == TF_GLOBALS


# NVlabs' files are Python 3.6/3.7 pickles, protocol 3 (protocol 2 would name _codecs.encode for bytes).
@pytest.mark.parametrize("options", [{}, {"protocol": 4}, {"only_gs": True}],
                         ids=["protocol3", "protocol4-numpy2", "only-Gs"])
def test_tf_pickle_loads_with_identical_outputs(tmp_path, monkeypatch, source, options):
    monkeypatch.chdir(tmp_path)  # where executing build_module_src would leave its sentinel
    path = write_tf_pickle(tmp_path / "stylegan2-car-config-f.pkl", source, **options)
    assert detect_format(path) == tf_pickle.FORMAT
    checkpoint = read_checkpoint(path)
    assert checkpoint.source_format == tf_pickle.FORMAT
    assert checkpoint.config == source.cfg
    assert checkpoint.metadata["network"] == ("network" if options.get("only_gs") else "Gs")
    generator = load_generator(path)
    for psi in (1.0, 0.7):
        assert torch.equal(outputs(generator, psi=psi), outputs(source, psi=psi))
    assert not (tmp_path / MODULE_SRC_SENTINEL).exists()


def test_tf_pickle_converts_to_the_canonical_format(tmp_path, source):
    src = write_tf_pickle(tmp_path / "cat.pkl", source)
    convert(src, tmp_path / "cat.safetensors")
    checkpoint = read_checkpoint(tmp_path / "cat.safetensors")
    assert checkpoint.metadata["converted_from"] == tf_pickle.FORMAT
    assert torch.equal(outputs(load_generator(tmp_path / "cat.safetensors")), outputs(source))


class _Payload:
    """Pickles as a call of os.system: what a hostile file would hide in the kwargs."""

    def __reduce__(self):
        return os.system, ("touch pwned",)


def test_code_anywhere_in_the_file_is_refused_before_it_runs(tmp_path, monkeypatch, source):
    monkeypatch.chdir(tmp_path)
    raw = tf_pickle_bytes(source, kwargs_override={"evil": _Payload()})
    path = tmp_path / "evil.pkl"
    path.write_bytes(raw)
    with pytest.raises(UnsafeCheckpointError, match="system"):
        read_checkpoint(path)
    assert not (tmp_path / "pwned").exists()


def test_object_arrays_are_refused(tmp_path, source):
    with tf_names():
        raw = pickle.dumps(Network("Gs", {}, {}, {"x": np.array([None, 1], dtype=object)}), protocol=3)
    path = tmp_path / "objects.pkl"
    path.write_bytes(raw)
    with pytest.raises(UnsafeCheckpointError, match="numpy"):
        read_checkpoint(path)


def test_array_whose_bytes_do_not_fit_its_shape_is_corrupt(tmp_path):
    with tf_names():
        raw = pickle.dumps(Network("Gs", {}, {}, {"x": np.arange(4, dtype=np.float32)}), protocol=3)
    # Claim 5 elements for 16 bytes: BININT1 4 (the shape) -> 5.
    damaged = raw.replace(b"K\x04\x85", b"K\x05\x85", 1)
    assert damaged != raw
    path = tmp_path / "short.pkl"
    path.write_bytes(damaged)
    with pytest.raises(CorruptCheckpointError, match="bytes"):
        read_checkpoint(path)


@pytest.mark.parametrize(("options", "error", "match"), [
    ({"kwargs_override": {"use_noise": False}}, UnsupportedCheckpointError, "use_noise"),
    ({"kwargs_override": {"some_new_option": 1}}, UnsupportedCheckpointError, "some_new_option"),
    ({"kwargs_override": {"architecture": "resnet"}}, UnsupportedCheckpointError, "resnet"),
    ({"kwargs_override": {"label_size": 10}}, UnsupportedCheckpointError, "conditional"),
    ({"drop_variables": ("8x8/Conv1/mod_bias",)}, CorruptCheckpointError, "8x8/Conv1/mod_bias"),
], ids=["no-noise", "unknown-kwarg", "resnet", "conditional", "missing-variable"])
def test_networks_dragd_cannot_run_exactly_are_refused_clearly(tmp_path, source, options, error, match):
    path = write_tf_pickle(tmp_path / "odd.pkl", source, **options)
    with pytest.raises(error, match=match):
        read_checkpoint(path)


def test_old_network_version_is_unsupported(tmp_path):
    with tf_names():
        raw = pickle.dumps(Network("Gs", {}, {}, {}, version=3), protocol=3)
    path = tmp_path / "v3.pkl"
    path.write_bytes(raw)
    with pytest.raises(UnsupportedCheckpointError, match="version 3"):
        read_checkpoint(path)


@pytest.mark.parametrize("keep", [0.05, 0.5, 0.99])
def test_truncated_tf_pickle_is_a_clear_error(tmp_path, source, keep):
    raw = tf_pickle_bytes(source)
    path = tmp_path / "cut.pkl"
    path.write_bytes(raw[: int(len(raw) * keep)])
    with pytest.raises(CorruptCheckpointError):
        read_checkpoint(path)


def test_something_else_than_networks_is_unsupported(tmp_path):
    with tf_names():
        raw = pickle.dumps((Network("G", {}, {}, {}), [1, 2]), protocol=3)
    path = tmp_path / "tuple.pkl"
    path.write_bytes(raw)
    with pytest.raises(UnsupportedCheckpointError, match="tuple"):
        read_checkpoint(path)
