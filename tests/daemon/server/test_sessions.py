"""Session history (undo/redo) and the store's limits, without sockets."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from dragd.daemon.models.registry import ModelInfo
from dragd.daemon.server.models import LoadedModel
from dragd.daemon.server.sessions import SESSION_OVERHEAD_BYTES, SessionStore
from dragd.protocol.errors import DragdError, ErrorCode

MODEL = LoadedModel(ModelInfo("fake", None), None)  # the store never touches the generator


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1.0  # every use is later than the one before: a strict LRU order
        return self.now


def _open(store: SessionStore, owner: bytes = b"a"):
    return store.create(owner, MODEL, torch.zeros(1, 4, 8), np.zeros((8, 8, 3), np.uint8))


def _store(**kwargs) -> SessionStore:
    options = dict(max_total=10, max_per_client=10, memory_budget_bytes=10**9, idle_timeout_s=1e9, clock=Clock())
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
    store = _store(max_total=3, max_per_client=2)
    _open(store, b"a")
    _open(store, b"a")
    with pytest.raises(DragdError) as caught:
        _open(store, b"a")
    assert caught.value.code == ErrorCode.LIMIT_EXCEEDED and "per client" in caught.value.message
    _open(store, b"b")
    with pytest.raises(DragdError) as caught:
        _open(store, b"c")
    assert caught.value.code == ErrorCode.LIMIT_EXCEEDED and "open sessions" in caught.value.message


def test_memory_budget_evicts_least_recently_used_idle_session():
    one = SESSION_OVERHEAD_BYTES + 4 * 8 * 4 + 8 * 8 * 3
    store = _store(memory_budget_bytes=2 * one + 10)
    first, second = _open(store), _open(store)
    store.get(b"a", first.id)  # first is now the most recently used
    third = _open(store)
    with pytest.raises(DragdError) as caught:
        store.get(b"a", second.id)
    assert caught.value.code == ErrorCode.UNKNOWN_SESSION and "memory budget" in caught.value.message
    assert store.get(b"a", first.id) is first and store.get(b"a", third.id) is third


def test_busy_sessions_are_never_evicted():
    one = SESSION_OVERHEAD_BYTES + 4 * 8 * 4 + 8 * 8 * 3
    store = _store(memory_budget_bytes=one + 10)
    first = _open(store)
    first.busy = True
    second = _open(store)  # over budget, but the only candidate is busy
    assert store.count() == 2 and store.get(b"a", first.id) and store.get(b"a", second.id)


def test_a_session_larger_than_the_budget_is_refused():
    with pytest.raises(DragdError) as caught:
        _open(_store(memory_budget_bytes=100))
    assert caught.value.code == ErrorCode.LIMIT_EXCEEDED


def test_a_session_id_is_a_capability_and_sessions_expire():
    store = _store(idle_timeout_s=5)
    session = _open(store, b"a")
    assert store.get(b"b", session.id) is session and session.owner == b"b"  # any client with the id; now b's
    assert store.count(b"a") == 0 and store.count(b"b") == 1
    store.clock.now += 100
    assert store.expire_idle() == [session]
    with pytest.raises(DragdError) as caught:
        store.get(b"a", session.id)
    assert caught.value.code == ErrorCode.UNKNOWN_SESSION and "without use" in caught.value.message


def test_session_ids_are_long_random_tokens():
    store = _store()
    ids = {_open(store).id for _ in range(5)}
    assert len(ids) == 5 and all(len(i) >= 24 for i in ids)


def test_a_gone_clients_sessions_are_orphaned_then_freed_after_the_orphan_timeout():
    store = _store(idle_timeout_s=1000, orphan_timeout_s=10)
    a1, a2, b = _open(store, b"a"), _open(store, b"a"), _open(store, b"b")
    assert store.orphan_client(b"a") == [a1, a2]
    assert store.count() == 3 and store.count(b"a") == 0 and a1.owner is None
    store.get(b"c", a2.id)  # resumed by a new connection before the timeout: c's now, kept
    store.clock.now += 5
    assert store.expire_idle() == []
    store.clock.now += 6  # a1: 11 s without use and orphaned; a2 and b: owned, well within 1000 s
    assert store.expire_idle() == [a1]
    assert store.count() == 2 and store.count(b"c") == 1 and store.count(b"b") == 1
    with pytest.raises(DragdError) as caught:
        store.get(b"a", a1.id)
    assert "after its client left" in caught.value.message
    assert b.owner == b"b"


def test_at_the_session_limit_the_least_recently_used_orphan_makes_room():
    store = _store(max_total=3)
    older, newer, kept = _open(store, b"a"), _open(store, b"a"), _open(store, b"b")
    store.orphan_client(b"a")
    fresh = _open(store, b"c")  # the daemon is full: the oldest orphan goes, not the request
    assert store.count() == 3 and fresh.owner == b"c"
    with pytest.raises(DragdError) as caught:
        store.get(b"a", older.id)
    assert "to make room" in caught.value.message
    assert store.get(b"d", newer.id) is newer and store.get(b"b", kept.id) is kept  # newer is d's now
    with pytest.raises(DragdError) as caught:  # no orphan left: the limit holds
        _open(store, b"e")
    assert caught.value.code == ErrorCode.LIMIT_EXCEEDED
