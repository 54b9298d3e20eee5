"""The pieces both pickle readers share (daemon/models/restricted_pickle.py): each reader's unpickler takes
plain numbers and dnnlib dicts, and refuses code, non-numeric numpy values and damaged files alike."""

from __future__ import annotations

import io
import os
import pickle

import numpy as np
import pytest
from dragd.daemon.models.checkpoint import CorruptCheckpointError, UnsafeCheckpointError
from dragd.daemon.models.nvidia_pickle import RestrictedUnpickler
from dragd.daemon.models.restricted_pickle import load_restricted, plain_data
from dragd.daemon.models.tf_pickle import TFRestrictedUnpickler

READERS = [RestrictedUnpickler, TFRestrictedUnpickler]


@pytest.mark.parametrize("unpickler", READERS)
def test_plain_numbers_are_read(unpickler):
    raw = pickle.dumps({"lr": np.float32(0.5), "n": np.int64(3), "dtype": np.dtype("<f4")})
    data = load_restricted(io.BytesIO(raw), unpickler)
    assert data == {"lr": 0.5, "n": 3, "dtype": np.dtype("<f4")} and type(data["lr"]) is float


@pytest.mark.parametrize("unpickler", READERS)
@pytest.mark.parametrize(("payload", "error", "message"), [
    (np.dtype("O"), UnsafeCheckpointError, "numpy dtype"),
    (os.system, UnsafeCheckpointError, "refused to load global"),
])
def test_code_and_objects_are_refused(unpickler, payload, error, message):
    with pytest.raises(error, match=message):
        load_restricted(io.BytesIO(pickle.dumps({"x": payload})), unpickler)


@pytest.mark.parametrize("unpickler", READERS)
def test_damaged_files_are_checkpoint_errors(unpickler):
    raw = pickle.dumps({"weights": list(range(100))})
    with pytest.raises(CorruptCheckpointError, match="truncated"):
        load_restricted(io.BytesIO(raw[: len(raw) // 2]), unpickler)
    with pytest.raises(CorruptCheckpointError, match="damaged"):
        load_restricted(io.BytesIO(b"\x80\x04\xff garbage"), unpickler)


def test_plain_data_keeps_json_values_and_refuses_others():
    assert plain_data({"a": (1, 2.0, "x"), 3: None}) == {"a": [1, 2.0, "x"], "3": None}
    with pytest.raises(CorruptCheckpointError, match="bytes, not plain data"):
        plain_data({"a": b"raw"})
    deep: list = []
    for _ in range(20):
        deep = [deep]
    with pytest.raises(CorruptCheckpointError, match="too deeply"):
        plain_data(deep)
