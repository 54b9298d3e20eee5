"""Session history (undo/redo) and the store's limits, without sockets."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import make_generator
from dragd.daemon.models.registry import ModelInfo
from dragd.daemon.server.models import LoadedModel, ModelCache
from dragd.daemon.server.persist import SessionArchive
from dragd.daemon.server.sessions import SESSION_OVERHEAD_BYTES, SessionStore
from dragd.protocol.errors import DragdError, ErrorCode

MODEL = LoadedModel(ModelInfo("fake", None), None)  # the store never touches the generator


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1.0  # every use is later than the one before: a strict LRU order
        return self.now


def _open(store: SessionStore, owner: bytes = b"a", user: str | None = None):
    """A session of `user` (default: one user per connection name) over connection `owner`."""
    return store.create(user or owner.decode(), owner, MODEL, torch.zeros(1, 4, 8), np.zeros((8, 8, 3), np.uint8))


def _get(store: SessionStore, owner: bytes, session, user: str | None = None):
    return store.get(user or session.user, owner, session.id)


def _store(**kwargs) -> SessionStore:
    options = dict(max_total=10, max_per_user=10, memory_budget_bytes=10**9, idle_timeout_s=1e9, clock=Clock())
    return SessionStore(**(options | kwargs))


def test_push_undo_redo_and_redo_tail_discarded():
    session = _open(_store())
    for value in (1.0, 2.0):
        session.push(torch.full((1, 4, 8), value), np.full((8, 8, 3), int(value), np.uint8))
    assert session.index == 2 and session.can_undo and not session.can_redo
    session.index -= 2
    assert float(session.ws[0, 0, 0]) == 0.0 and session.can_redo
    session.push(torch.full((1, 4, 8), 5.0), np.zeros((8, 8, 3), np.uint8))
    assert [float(ws[0, 0, 0]) for ws in session.history] == [0.0, 5.0]


def test_count_limits_give_limit_exceeded():
    store = _store(max_total=3, max_per_user=2)
    _open(store, b"a")
    _open(store, b"a2", user="a")  # another connection of the same user counts against the same limit
    with pytest.raises(DragdError) as caught:
        _open(store, b"a3", user="a")
    assert caught.value.code == ErrorCode.LIMIT_EXCEEDED and "per user" in caught.value.message
    _open(store, b"b")
    with pytest.raises(DragdError) as caught:
        _open(store, b"c")
    assert caught.value.code == ErrorCode.LIMIT_EXCEEDED and "open sessions" in caught.value.message


def test_memory_budget_evicts_least_recently_used_idle_session():
    one = SESSION_OVERHEAD_BYTES + 4 * 8 * 4 + 8 * 8 * 3
    store = _store(memory_budget_bytes=2 * one + 10)
    first, second = _open(store), _open(store)
    _get(store, b"a", first)  # first is now the most recently used
    third = _open(store)
    with pytest.raises(DragdError) as caught:
        _get(store, b"a", second)
    assert caught.value.code == ErrorCode.UNKNOWN_SESSION and "memory budget" in caught.value.message
    assert _get(store, b"a", first) is first and _get(store, b"a", third) is third


def test_busy_sessions_are_never_evicted():
    one = SESSION_OVERHEAD_BYTES + 4 * 8 * 4 + 8 * 8 * 3
    store = _store(memory_budget_bytes=one + 10)
    first = _open(store)
    first.holders = 1
    second = _open(store)  # over budget, but the only candidate is busy
    assert store.count() == 2 and _get(store, b"a", first) and _get(store, b"a", second)


def test_a_session_larger_than_the_budget_is_refused():
    with pytest.raises(DragdError) as caught:
        _open(_store(memory_budget_bytes=100))
    assert caught.value.code == ErrorCode.LIMIT_EXCEEDED


def test_a_session_id_is_a_capability_of_its_user_only_and_sessions_expire():
    store = _store(idle_timeout_s=5)
    session = _open(store, b"a")
    assert store.get("a", b"a2", session.id) is session and session.owner == b"a2"  # the user's other connection
    with pytest.raises(DragdError) as caught:  # another user holding the id gets nothing, and learns nothing
        store.get("b", b"b", session.id)
    assert caught.value.code == ErrorCode.UNKNOWN_SESSION and session.owner == b"a2"
    assert store.alive("b", b"b", [session.id]) == [] and store.alive("a", b"a2", [session.id]) == [session.id]
    store.clock.now += 100
    assert store.expire_idle() == [session]
    with pytest.raises(DragdError) as caught:
        _get(store, b"a", session)
    assert caught.value.code == ErrorCode.UNKNOWN_SESSION and "without use" in caught.value.message


def test_session_ids_are_long_random_tokens():
    store = _store()
    ids = {_open(store).id for _ in range(5)}
    assert len(ids) == 5 and all(len(i) >= 24 for i in ids)


def test_the_orphan_grace_period_counts_from_the_disconnect_not_from_the_last_use():
    store = _store(idle_timeout_s=1000, orphan_timeout_s=10)
    a1, a2, b = _open(store, b"a"), _open(store, b"a"), _open(store, b"b")
    store.clock.now += 500  # long unused (a client waiting in the queue, say), but connected: kept
    assert store.expire_idle() == []
    assert store.orphan_client(b"a") == [a1, a2]
    assert store.count() == 3 and store.owned_by(b"a") == 0 and a1.owner is None
    store.clock.now += 5  # 5 s after the disconnect: well within the grace period, though 505 s since use
    assert store.expire_idle() == []
    _get(store, b"c", a2)  # resumed by a new connection of the user before the timeout: kept
    store.clock.now += 6  # a1: 11 s after its client left
    assert store.expire_idle() == [a1]
    assert store.count() == 2 and store.owned_by(b"c") == 1 and store.owned_by(b"b") == 1
    with pytest.raises(DragdError) as caught:
        _get(store, b"a", a1)
    assert "after its client left" in caught.value.message
    assert b.owner == b"b"


def test_at_the_session_limit_the_least_recently_used_orphan_makes_room():
    store = _store(max_total=3)
    older, newer, kept = _open(store, b"a"), _open(store, b"a"), _open(store, b"b")
    store.orphan_client(b"a")
    fresh = _open(store, b"c")  # the daemon is full: the oldest orphan goes, not the request
    assert store.count() == 3 and fresh.owner == b"c"
    with pytest.raises(DragdError) as caught:
        _get(store, b"a", older)
    assert "to make room" in caught.value.message
    assert _get(store, b"d", newer) is newer and _get(store, b"b", kept) is kept  # newer is d's now
    with pytest.raises(DragdError) as caught:  # no orphan left: without an archive the limit holds
        _open(store, b"e")
    assert caught.value.code == ErrorCode.LIMIT_EXCEEDED


# --- with an archive: making room sets sessions aside on disk, nobody is locked out, nothing is lost ---------


def _archived(tmp_path, **kwargs) -> tuple[SessionStore, LoadedModel]:
    models = ModelCache(torch.device("cpu"), catalogue=lambda: [], default="tiny")
    models.register(ModelInfo("tiny", None), make_generator())
    archive = SessionArchive(tmp_path / "state", 1 << 30, models)
    return _store(archive=archive, **kwargs), models.get("tiny")


def _open_real(store: SessionStore, model: LoadedModel, user: str, seed: int = 0):
    ws = model.generator.ws_for_seed(seed, 0.7)
    return store.create(user, user.encode(), model, ws, np.full((32, 32, 3), seed, np.uint8))


def test_a_user_at_the_limit_cannot_lock_others_out_and_nothing_is_lost(tmp_path):
    store, model = _archived(tmp_path, max_total=4, max_per_user=3)
    hog = [_open_real(store, model, "hog", seed) for seed in range(3)]
    hog.append(_open_real(store, model, "hog", 3))  # over its own limit: its least recently used is set aside
    assert store.count("hog") == 3 and store.saved() == 4
    others = [_open_real(store, model, "other", 10), _open_real(store, model, "other", 11)]  # daemon full
    assert store.count("other") == 2 and store.count("hog") == 2 and store.count() == 4
    for session in hog + others:  # every one of them still usable, read back from disk where set aside
        back = store.get(session.user, b"x", session.id)
        assert torch.equal(back.ws, session.ws) and np.array_equal(back.image, session.image)


def test_heartbeats_do_not_keep_more_sessions_in_memory_than_the_user_limit(tmp_path):
    store, model = _archived(tmp_path, max_total=16, max_per_user=8)
    ids = [_open_real(store, model, "hog", seed).id for seed in range(16)]
    assert store.alive("hog", b"h", ids) == ids  # all 16 are the user's and alive (on disk) ...
    assert store.count("hog") == 8  # ... but only 8 take memory
    _open_real(store, model, "other", 99)  # and another user gets in
    assert store.count("other") == 1
