"""The client's live-drag helper (protocol/live.py) against the fake daemon: newest progress wins and is
acknowledged, updates carry revisions and keys, commit and cancel end with the drag's result."""

from __future__ import annotations

import time

import pytest
from dragd.protocol import (
    DragdClient,
    DragdError,
    DragdTimeout,
    DragOptions,
    DragProgress,
    DragResult,
    ErrorCode,
    LivePoint,
    LiveUpdateResult,
    PointPair,
    Request,
    encode,
)
from dragd.protocol.live import point_of, to_live_points
from protocol_fakes import FakeDaemon, small_image


def progress(request: Request, seq: int, revision: int = 0, idle: bool = False) -> bytes:
    body = DragProgress(seq, ((float(seq), 1.0),), 0.5, None, None, ("nose",), revision, seq, idle)
    return encode(request.progress(body))


def result(request: Request, stopped: str) -> bytes:
    return encode(request.result(DragResult(4, ((4.0, 1.0),), False, stopped, small_image(), (0, 0), 1, ("nose",))))


@pytest.fixture
def daemon():
    with FakeDaemon() as fake:
        fake.drags: dict = {}

        def on_drag(identity: bytes, request: Request) -> list[bytes]:
            fake.drags[request.id] = request
            return [progress(request, seq) for seq in (1, 2, 3)]  # a burst, as a client that fell behind sees

        def on_update(identity: bytes, request: Request) -> list[bytes]:
            body = request.body
            drag = fake.drags[body.target]
            frames = [encode(request.result(LiveUpdateResult(body.revision or 0, False)))]
            if body.commit:
                frames.append(result(drag, "committed"))
            return frames

        fake.script["drag"] = on_drag
        fake.script["live_update"] = on_update
        yield fake


@pytest.fixture
def client(daemon):
    with DragdClient(daemon.address, timeout=3.0, client_name="test") as c:
        yield c


def updates(daemon: FakeDaemon) -> list:
    return [r.body for r in daemon.received if isinstance(r, Request) and r.type == "live_update"]


def wait_for(predicate, timeout: float = 3.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.01)


def test_live_drag_sends_a_live_request_and_poll_returns_only_the_newest_progress(client, daemon):
    drag = client.live_drag("s1", [PointPair((1, 1), (5, 1), "nose")], options=DragOptions(max_steps=50))
    request = daemon.received[-1] if daemon.received else None
    newest = None
    end = time.monotonic() + 3
    while newest is None or newest.seq < 3:
        assert time.monotonic() < end
        newest = drag.poll(0.05) or newest
    request = next(r for r in daemon.received if isinstance(r, Request) and r.type == "drag")
    assert request.body.options.live and request.body.options.max_steps == 50
    assert newest.seq == 3 and drag.latest is newest and point_of(newest, "nose") == (3.0, 1.0)
    wait_for(lambda: any(u.seen == 3 for u in updates(daemon)))
    acks = updates(daemon)
    assert [u.seen for u in acks][-1] == 3 and all(u.revision is None and u.points is None for u in acks)
    assert drag.poll(0) is None  # nothing new


def test_update_counts_revisions_keeps_keys_and_acknowledges(client, daemon):
    drag = client.live_drag("s1", [((1, 1), (5, 1))])
    assert drag.keys == (0,)
    while drag.poll(0.05) is None:
        pass
    answer = drag.update([(0, (6, 1)), ("ear", (2, 2), (3, 3))])
    assert answer == LiveUpdateResult(1, False) and drag.revision == 1 and drag.keys == (0, "ear")
    drag.update([LivePoint("ear", (4, 4))])
    sent = [u for u in updates(daemon) if u.points is not None]
    assert [u.revision for u in sent] == [1, 2]
    assert sent[0].points == (LivePoint(0, (6.0, 1.0)), LivePoint("ear", (3.0, 3.0), (2.0, 2.0)))
    assert sent[1].seen == drag.latest.seq  # updates carry the acknowledgement too
    ack_only = drag.update()
    assert ack_only.revision == 0 and drag.revision == 2


def test_commit_returns_the_result_and_poll_keeps_returning_it(client, daemon):
    drag = client.live_drag("s1", [PointPair((1, 1), (5, 1), "nose")])
    final = drag.commit()
    assert final.stopped == "committed" and drag.done and drag.result is final
    assert drag.poll(0) is final and drag.commit() is final  # nothing more is sent once it ended
    assert sum(u.commit for u in updates(daemon)) == 1


def test_cancel_waits_for_the_cancelled_result(client, daemon):
    def on_cancel(identity: bytes, request: Request) -> list[bytes]:
        drag = daemon.drags[request.body.target]
        from dragd.protocol import CancelResult
        return [encode(request.result(CancelResult("running"))), result(drag, "cancelled")]

    daemon.script["cancel"] = on_cancel
    drag = client.live_drag("s1", [PointPair((1, 1), (5, 1), "nose")])
    assert drag.cancel().stopped == "cancelled"


def test_errors_of_the_drag_and_of_updates_raise(client, daemon):
    daemon.script["live_update"] = lambda identity, request: [encode(request.error(ErrorCode.BAD_REQUEST,
                                                                                   "point outside"))]
    drag = client.live_drag("s1", [PointPair((1, 1), (5, 1), "nose")])
    with pytest.raises(DragdError) as info:
        drag.update([("nose", (1e5, 1))])
    assert info.value.code == ErrorCode.BAD_REQUEST and drag.revision == 0  # not counted: refused
    daemon.script["drag"] = lambda identity, request: [encode(request.error(ErrorCode.UNKNOWN_SESSION, "gone"))]
    other = client.live_drag("s9", [((1, 1), (5, 1))])
    with pytest.raises(DragdError) as info:
        while other.poll(0.05) is None:
            pass
    assert info.value.code == ErrorCode.UNKNOWN_SESSION


def test_a_silent_daemon_gives_a_timeout_from_poll(daemon):
    daemon.script["drag"] = lambda identity, request: None
    with DragdClient(daemon.address, timeout=0.3) as client:
        drag = client.live_drag("s1", [((1, 1), (5, 1))])
        with pytest.raises(DragdTimeout):
            end = time.monotonic() + 3
            while time.monotonic() < end:
                drag.poll(0.05)


def test_live_points_from_tuples():
    assert to_live_points([("a", (1, 2)), (3, None, (4, 5)), ("b", [0, 0], [1, 1])]) == (
        LivePoint("a", (1, 2)), LivePoint(3, (4, 5)), LivePoint("b", (1, 1), (0, 0)))
    with pytest.raises(DragdError):
        to_live_points([("a",)])
