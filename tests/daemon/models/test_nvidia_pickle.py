"""NVIDIA network pickles: read as data with the real files' structure, and nothing in them ever runs."""

from __future__ import annotations

import io
import os
import pickle
import subprocess

import pytest
import torch
from dragd.daemon.models.checkpoint import (
    CheckpointError,
    CorruptCheckpointError,
    StateDictMismatchError,
    UnsafeCheckpointError,
    UnsupportedCheckpointError,
)
from dragd.daemon.models.loader import build_generator, load_generator, read_checkpoint
from dragd.daemon.models.nvidia_pickle import RestrictedUnpickler
from model_fixtures import (
    MODULE_SRC_SENTINEL,
    NVIDIA_GLOBALS,
    TINY,
    nvidia_pickle_bytes,
    outputs,
    pickle_globals,
    random_generator,
    torch_save_bytes,
    write_nvidia_pickle,
)


@pytest.fixture(scope="module")
def source():
    return random_generator(TINY, seed=1)


def test_fixture_names_exactly_the_globals_of_real_files(source):
    assert pickle_globals(nvidia_pickle_bytes(source)) == NVIDIA_GLOBALS
    assert pickle_globals(nvidia_pickle_bytes(source, only_g_ema=True)) == NVIDIA_GLOBALS


@pytest.mark.parametrize("options", [
    {},
    {"only_g_ema": True},
    {"kwargs_style": "ada"},
    # Python 3.7-era files: protocol 3 writes sets via builtins.set; numpy 1 names its scalar module so.
    {"protocol": 3, "numpy_module": "numpy.core.multiarray"},
], ids=["snapshot", "only-G_ema", "ada-kwargs", "protocol3-numpy1"])
def test_pickle_loads_with_identical_outputs(tmp_path, monkeypatch, source, options):
    monkeypatch.chdir(tmp_path)  # where executing module_src would leave its sentinel
    path = write_nvidia_pickle(tmp_path / "network-snapshot.pkl", source, **options)
    checkpoint = read_checkpoint(path)
    assert checkpoint.source_format == "nvidia-pickle"
    assert checkpoint.config == source.cfg
    assert checkpoint.metadata["network"] == "G_ema"
    assert set(checkpoint.state_dict) == set(source.state_dict())
    generator = build_generator(checkpoint)
    for psi in (1.0, 0.7):
        assert torch.equal(outputs(generator, psi=psi), outputs(source, psi=psi))
    assert not (tmp_path / MODULE_SRC_SENTINEL).exists()


def test_protocol3_fixture_names_builtins_set_and_numpy1(source):
    found = pickle_globals(nvidia_pickle_bytes(source, protocol=3, numpy_module="numpy.core.multiarray"))
    expected = (NVIDIA_GLOBALS - {"numpy._core.multiarray.scalar"}) | {"numpy.core.multiarray.scalar", "builtins.set"}
    assert found == expected


def test_load_generator_is_ready_for_inference(tmp_path, source):
    generator = load_generator(write_nvidia_pickle(tmp_path / "g.pkl", source))
    assert not generator.training
    assert not any(p.requires_grad for p in generator.parameters())


# --- refused: anything that is not data ------------------------------------------------------------


class _Payload:
    """Pickles as a call of `func(*args)`: the classic way to run code from a pickle."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _payloads(sentinel):
    cmd = f"touch {sentinel}"
    return {
        "os.system": (_Payload(os.system, cmd), "posix.system"),
        "eval": (_Payload(eval, f"open({str(sentinel)!r}, 'w')"), "builtins.eval"),
        "exec": (_Payload(exec, f"open({str(sentinel)!r}, 'w')"), "builtins.exec"),
        "subprocess": (_Payload(subprocess.Popen, ["touch", str(sentinel)]), "subprocess.Popen"),
        "__import__": (_Payload(__import__, "os"), "builtins.__import__"),
        "getattr": (_Payload(getattr, "os", "system"), "builtins.getattr"),
    }


@pytest.mark.parametrize("name", ["os.system", "eval", "exec", "subprocess", "__import__", "getattr"])
def test_top_level_payload_is_refused_and_not_run(tmp_path, name):
    sentinel = tmp_path / "pwned"
    payload, global_name = _payloads(sentinel)[name]
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"G_ema": payload}))
    with pytest.raises(UnsafeCheckpointError, match=global_name.replace(".", r"\.")):
        read_checkpoint(path)
    assert not sentinel.exists()


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_payload_is_refused_in_every_protocol(tmp_path, protocol):
    sentinel = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(_Payload(os.system, f"touch {sentinel}"), protocol=protocol))
    with pytest.raises(UnsafeCheckpointError, match=r"posix\.system"):
        read_checkpoint(path)
    assert not sentinel.exists()


def test_global_hidden_in_nested_state_is_refused(tmp_path, source):
    sentinel = tmp_path / "pwned"
    evil = {"synthesis.b8.conv0.": {"activation": _Payload(os.system, f"touch {sentinel}")}}
    path = write_nvidia_pickle(tmp_path / "g.pkl", source, nested_extra=evil)
    with pytest.raises(UnsafeCheckpointError, match=r"posix\.system"):
        read_checkpoint(path)
    assert not sentinel.exists()


def test_payload_inside_a_storage_is_refused(tmp_path, source):
    """`_load_from_bytes` is allowed, but the bytes it gets are loaded weights-only."""
    sentinel = tmp_path / "pwned"
    inner = torch_save_bytes(_Payload(os.system, f"touch {sentinel}"))
    storage = _Payload(torch.storage._load_from_bytes, inner)
    path = write_nvidia_pickle(tmp_path / "g.pkl", source, top_level_extra={"augment_pipe": storage})
    with pytest.raises(UnsafeCheckpointError, match=r"posix\.system"):
        read_checkpoint(path)
    assert not sentinel.exists()


def test_numpy_object_dtype_is_refused():
    raw = pickle.dumps({"x": __import__("numpy").dtype("O")})
    with pytest.raises(UnsafeCheckpointError, match="numpy dtype"):
        RestrictedUnpickler(io.BytesIO(raw)).load()


def test_tensorflow_era_pickle_gets_a_clear_error(tmp_path):
    # The first opcodes of a TF-era pickle: a dnnlib.tflib.network.Network object. tf_pickle reads such
    # files (tests/daemon/models/test_tf_pickle.py); this stub, a network without its state, is a damaged one.
    path = tmp_path / "tf.pkl"
    path.write_bytes(b"\x80\x03cdnnlib.tflib.network\nNetwork\nq\x00)\x81q\x01.")
    with pytest.raises(CheckpointError, match="TensorFlow network"):
        read_checkpoint(path)


# --- damaged or unsupported files -----------------------------------------------------------------


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.99])
def test_truncated_pickle_is_a_clear_error(tmp_path, source, keep):
    raw = nvidia_pickle_bytes(source)
    path = tmp_path / "g.pkl"
    path.write_bytes(raw[: int(len(raw) * keep)])
    with pytest.raises(CorruptCheckpointError):
        read_checkpoint(path)


@pytest.mark.parametrize(("override", "message"), [
    ({"c_dim": 10}, "conditional"),
    ({"architecture": "resnet"}, "skip"),
])
def test_unsupported_generator_config(tmp_path, source, override, message):
    path = write_nvidia_pickle(tmp_path / "g.pkl", source, kwargs_override=override)
    with pytest.raises(UnsupportedCheckpointError, match=message):
        read_checkpoint(path)


def test_state_dict_mismatch_names_the_keys(tmp_path, source):
    extra = {"unexpected_weight": torch.nn.Parameter(torch.zeros(2), requires_grad=False)}
    path = write_nvidia_pickle(tmp_path / "g.pkl", source, extra_params=extra)
    with pytest.raises(StateDictMismatchError, match="unexpected_weight"):
        read_checkpoint(path)


def test_wrong_kwargs_for_the_weights_is_a_mismatch(tmp_path, source):
    path = write_nvidia_pickle(tmp_path / "g.pkl", source, kwargs_override={"img_resolution": 32})
    with pytest.raises(StateDictMismatchError, match="missing .*synthesis.b32"):
        read_checkpoint(path)


def test_pickle_without_a_generator(tmp_path):
    path = tmp_path / "g.pkl"
    path.write_bytes(pickle.dumps({"D": None, "augment_pipe": None}))
    with pytest.raises(UnsupportedCheckpointError, match="G_ema"):
        read_checkpoint(path)
