"""Latent files as DragGAN, PTI and dragd users pass them: .npy, .npz, torch tensor files; W and W+."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from dragd.daemon.models.latents import LatentFileError, as_ws, read_latent_file

NUM_WS, W_DIM = 6, 4


def _saved(tmp_path, name, obj) -> str:
    path = tmp_path / name
    if name.endswith(".npy"):
        np.save(path, obj)
    elif name.endswith(".npz"):
        np.savez(path, **obj)
    else:
        torch.save(obj, path)
    return str(path)


@pytest.mark.parametrize("name,make", [
    ("w.npy", lambda a: a),
    ("w.npz", lambda a: {"w": a}),
    ("w_pivot.pt", lambda a: torch.from_numpy(a)),  # PTI: torch.save(w_pivot, ...)
    ("w_dict.pt", lambda a: {"w_pivot": torch.from_numpy(a)}),
])
@pytest.mark.parametrize("shape", [(W_DIM,), (1, W_DIM), (NUM_WS, W_DIM), (1, NUM_WS, W_DIM)])
def test_every_format_and_shape_reads_as_the_same_code(tmp_path, name, make, shape):
    values = np.arange(np.prod(shape), dtype=np.float64).reshape(shape) / 7
    array = read_latent_file(_saved(tmp_path, name, make(values)))
    ws = as_ws(array, NUM_WS, W_DIM)
    assert ws.shape == (1, NUM_WS, W_DIM) and ws.dtype == np.float32
    if len(shape) <= 2 and shape[-2:] != (NUM_WS, W_DIM):  # W: the same code for every layer
        assert np.array_equal(ws[0], np.repeat(values.reshape(1, W_DIM), NUM_WS, axis=0).astype(np.float32))
    else:
        assert np.array_equal(ws.reshape(shape), values.astype(np.float32))


def test_several_arrays_need_a_key(tmp_path):
    path = _saved(tmp_path, "both.npz", {"w": np.zeros(W_DIM), "ws": np.ones((NUM_WS, W_DIM))})
    with pytest.raises(LatentFileError, match=r"several arrays \(w, ws\); say which with --latent-key"):
        read_latent_file(path)
    assert read_latent_file(path, key="ws").shape == (NUM_WS, W_DIM)
    with pytest.raises(LatentFileError, match="no array 'nope'"):
        read_latent_file(path, key="nope")
    tensors = _saved(tmp_path, "both.pt", {"a": torch.zeros(W_DIM), "b": torch.ones(W_DIM)})
    assert read_latent_file(tensors, key="b").tolist() == [1.0] * W_DIM


class _Payload:
    def __reduce__(self):
        return (print, ("payload ran",))


@pytest.mark.parametrize("write,message", [
    (lambda p: np.save(p, np.array([object()], dtype=object), allow_pickle=True), "not a plain numeric array"),
    (lambda p: np.save(p, np.arange(W_DIM)), "int64 values, not floating-point"),
    (lambda p: torch.save({"w": _Payload()}, p), "not a plain torch tensor file"),
    (lambda p: torch.save([1, 2], p), "holds a list, not a tensor"),
    (lambda p: p.write_bytes(pickle.dumps(np.zeros(W_DIM))), "not a .npy, .npz or torch tensor file"),
    (lambda p: p.write_bytes(b""), "not a .npy, .npz or torch tensor file"),
])
def test_foreign_or_unsafe_files_are_one_clear_error(tmp_path, capsys, write, message):
    path = tmp_path / "latent.npy"  # the name says nothing: files are told apart by content
    write(path)
    with pytest.raises(LatentFileError, match=message) as info:
        read_latent_file(path)
    assert "\n" not in str(info.value) and "payload ran" not in capsys.readouterr().out


@pytest.mark.parametrize("shape", [(3,), (NUM_WS + 1, W_DIM), (2, NUM_WS, W_DIM), (1, 1, 1, W_DIM)])
def test_shapes_the_model_does_not_take_are_refused(shape):
    with pytest.raises(LatentFileError, match=rf"shape \[.*\]; this model takes W \[{W_DIM}\]"):
        as_ws(np.zeros(shape, np.float32), NUM_WS, W_DIM)


def test_non_finite_values_are_refused():
    with pytest.raises(LatentFileError, match="NaN or infinite"):
        as_ws(np.full(W_DIM, np.nan, np.float32), NUM_WS, W_DIM)
