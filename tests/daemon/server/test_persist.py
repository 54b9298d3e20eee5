"""Sessions on disk: what is written, that it reads back exactly, the disk budget, the running marker."""

from __future__ import annotations

import copy
import errno
import stat
import time

import numpy as np
import pytest
import torch
from conftest import make_generator
from dragd.daemon.models.registry import ModelInfo
from dragd.daemon.server import persist
from dragd.daemon.server.inverted import LayerFrame
from dragd.daemon.server.models import ModelCache
from dragd.daemon.server.persist import GENERATOR_FILE, STATE_FILE, SessionArchive, session_key
from dragd.daemon.server.sessions import SessionStore
from dragd.protocol.errors import DragdError
from safetensors.torch import save as safetensors_bytes


def _models() -> ModelCache:
    models = ModelCache(torch.device("cpu"), catalogue=lambda: [], default="tiny")
    models.register(ModelInfo("tiny", None), make_generator())
    return models


def _store(tmp_path, models: ModelCache, budget: int = 1 << 30) -> SessionStore:
    return SessionStore(16, 8, 1 << 30, 1e9, archive=SessionArchive(tmp_path / "state", budget, models))


def _layer_frame(base) -> LayerFrame:
    tuned = copy.deepcopy(base)
    with torch.no_grad():  # as pivotal tuning does: the synthesis network changes, the mapping does not
        for name, parameter in tuned.synthesis.named_parameters():
            if name.endswith("weight"):
                parameter.add_(0.01)
    rng = np.random.default_rng(0)
    arrays = {"matrix": np.array([[0.5, 0.0, -2.0], [0.0, 0.5, -1.0]]),
              "original": rng.integers(0, 256, (44, 52, 4), dtype=np.uint8),  # the crop around the square
              "alpha": np.linspace(0, 1, 40 * 48, dtype=np.float32).reshape(40, 48),
              "reference": rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)}
    values = {"resolution": 32, "photo_size": [100, 90], "box": [4, 2, 48, 40], "crop_origin": [2, 1],
              "plan_box": [2, 1, 48, 40], "plan_size": [52, 44], "mode": "carry", "grey": False}
    return LayerFrame.restored(tuned, arrays, values)


def test_an_opened_session_reads_back_exactly_with_only_the_tuned_tensors_stored(tmp_path):
    models = _models()
    model = models.get("tiny")
    store = _store(tmp_path, models)
    frame = _layer_frame(model.generator)
    session = store.create("alice", b"c", model, model.generator.ws_for_seed(1, 0.7),
                           np.full((32, 32, 3), 7, np.uint8), frame)
    session.push(session.ws + 0.5, np.full((32, 32, 3), 9, np.uint8))
    session.index = 0  # one undo
    store.save(session)
    folder = tmp_path / "state" / "sessions" / session_key(session.id)
    assert session.id not in str(sorted(p.name for p in folder.parent.iterdir()))  # no id on disk
    for path in (folder / STATE_FILE, folder / GENERATOR_FILE):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    whole = sum(t.numel() * t.element_size() for t in model.generator.state_dict().values())
    assert (folder / GENERATOR_FILE).stat().st_size < whole  # the mapping network is not stored again

    fresh = _store(tmp_path, models)  # a restarted daemon
    back = fresh.get("alice", b"d", session.id)
    assert back.restored and back.index == 0 and len(back.history) == 2 and back.interrupted is None
    assert all(torch.equal(a, b) for a, b in zip(back.history, session.history, strict=True))
    assert np.array_equal(back.image, session.image)
    with torch.no_grad():
        ws = session.ws
        assert torch.equal(back.frame.generator.synthesis(ws), frame.generator.synthesis(ws))
    image = np.random.default_rng(1).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    assert all(np.array_equal(a, b) for a, b in zip(back.frame.patch(image), frame.patch(image), strict=True))
    assert back.frame.to_model([(10.0, 20.0)]) == frame.to_model([(10.0, 20.0)])


def test_a_drag_running_when_the_daemon_died_is_reported_once(tmp_path):
    models = _models()
    model = models.get("tiny")
    store = _store(tmp_path, models)
    session = store.create("alice", b"c", model, model.generator.ws_for_seed(1, 0.7), np.zeros((32, 32, 3), np.uint8))
    store.mark_running(session, "drag")  # ... and the process dies here
    back = _store(tmp_path, models).get("alice", b"d", session.id)
    assert back.interrupted is not None and "drag" in back.interrupted and back.index == 0
    assert _store(tmp_path, models).get("alice", b"d", session.id).interrupted is None  # reported once


def test_the_disk_budget_drops_the_least_recently_saved_sessions_not_in_memory(tmp_path):
    models = _models()
    model = models.get("tiny")
    store = _store(tmp_path, models)
    sessions = [store.create("alice", b"c", model, model.generator.ws_for_seed(seed, 0.7),
                             np.zeros((32, 32, 3), np.uint8)) for seed in range(3)]
    one = sum(f.stat().st_size for f in (tmp_path / "state" / "sessions" / sessions[0].key).iterdir())
    store.archive.disk_budget_bytes = int(2.5 * one)
    assert store.archive.enforce_budget({sessions[0].key}) == [sessions[1].key]  # [0] is in memory: kept
    assert not store.archive.has(sessions[1].id) and store.archive.has(sessions[0].id)


def _saved_session(tmp_path):
    models = _models()
    model = models.get("tiny")
    store = _store(tmp_path, models)
    session = store.create("alice", b"c", model, model.generator.ws_for_seed(1, 0.7), np.zeros((32, 32, 3), np.uint8))
    session.push(session.ws + 0.5, np.full((32, 32, 3), 9, np.uint8))
    store.save(session)
    return models, session, tmp_path / "state" / "sessions" / session.key / STATE_FILE


def _rewrite(path, change) -> None:
    """The saved state file with its tensors and metadata passed through `change`."""
    tensors, metadata = persist._read(path)
    change(tensors, metadata)
    path.write_bytes(safetensors_bytes(tensors, metadata))


@pytest.mark.parametrize(("damage", "says"), [
    (lambda path: path.write_bytes(path.read_bytes()[:5000]), "cannot be read"),  # cut short (a full disk)
    (lambda path: path.write_bytes(b"\0" * 64), "cannot be read"),
    (lambda path: _rewrite(path, lambda t, m: m.update(format="dragd-session-99")), "unknown format"),
    (lambda path: _rewrite(path, lambda t, m: m.update(model="faces-1024")), "model 'faces-1024'"),  # other models
    (lambda path: _rewrite(path, lambda t, m: t.update(history=t["history"][:, :3].contiguous())), "does not fit"),
    (lambda path: _rewrite(path, lambda t, m: m.update(index="7")), "does not fit"),
    (lambda path: _rewrite(path, lambda t, m: m.update(frame="{}")), "does not fit"),
])
def test_a_saved_session_that_cannot_be_used_is_unknown_with_the_reason_and_kept(tmp_path, damage, says):
    models, session, path = _saved_session(tmp_path)
    damage(path)
    before = path.read_bytes()
    fresh = _store(tmp_path, models)  # a restarted daemon
    with pytest.raises(DragdError) as caught:
        fresh.get("alice", b"d", session.id)
    assert caught.value.code == "unknown_session" and says in caught.value.message
    assert path.read_bytes() == before  # kept for a daemon that can read it
    assert fresh.alive("alice", b"d", [session.id]) in ([], [session.id])  # answers, never raises


def test_another_users_id_of_an_unusable_save_says_nothing_about_it(tmp_path):
    models, session, path = _saved_session(tmp_path)
    _rewrite(path, lambda t, m: m.update(model="faces-1024"))
    with pytest.raises(DragdError) as caught:
        _store(tmp_path, models).get("mallory", b"d", session.id)
    assert caught.value.code == "unknown_session" and "faces-1024" not in caught.value.message


def test_a_disk_that_refuses_writes_costs_the_copy_not_the_session(tmp_path, monkeypatch):
    models = _models()
    model = models.get("tiny")
    store = _store(tmp_path, models)
    kept = store.create("alice", b"c", model, model.generator.ws_for_seed(1, 0.7), np.zeros((32, 32, 3), np.uint8))

    def full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(persist, "write_atomic", full)
    session = store.create("alice", b"c", model, model.generator.ws_for_seed(2, 0.7), np.zeros((32, 32, 3), np.uint8))
    assert session.unsaved and not store.archive.has(session.id)  # created all the same
    store.mark_running(kept, "drag")  # the drag runs all the same
    kept.push(kept.ws + 0.5, np.full((32, 32, 3), 9, np.uint8))
    store.save(kept)  # its copy on disk is now older than memory
    assert kept.unsaved
    store.clock = lambda: time.monotonic() + 1e10  # long idle: still never set aside while memory holds the only copy
    assert store.expire_idle() == [] and store.enforce_budget() == []
    store.max_per_user = 2
    with pytest.raises(DragdError) as caught:
        store.check_room("alice")
    assert caught.value.code == "limit_exceeded"
    assert store.get("alice", b"c", kept.id).index == 1

    monkeypatch.undo()  # room on the disk again: the next save catches up
    store.save(kept)
    assert not kept.unsaved and _store(tmp_path, models).get("alice", b"d", kept.id).index == 1
