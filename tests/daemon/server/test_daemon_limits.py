"""Every limit the daemon enforces, each with its error code, over real sockets."""

from __future__ import annotations

import contextlib
import threading
import time

import msgpack
import pytest
import zmq
from dragd.daemon.server.sessions import SESSION_OVERHEAD_BYTES
from dragd.protocol import DragOptions, Image
from dragd.protocol.errors import DragdError, ErrorCode
from server_fixtures import connect, limits, raw_dealer, running_daemon

LONG_DRAG = DragOptions(max_steps=2000, stop_distance=0.0)


def error_code(call) -> str:
    with pytest.raises(DragdError) as caught:
        call()
    return caught.value.code



def replies_until_final(socket: zmq.Socket, timeout_ms: int = 5000) -> list[dict]:
    replies = []
    while socket.poll(timeout_ms):
        replies.append(msgpack.unpackb(socket.recv()))
        if replies[-1]["type"] in ("result", "error"):
            return replies
    raise AssertionError(f"no final reply, got {replies}")


def busy_worker(daemon, client):
    """Starts a long drag so later requests have to wait; returns (thread, started event)."""
    session = client.generate(seed=0).session
    started = threading.Event()
    thread = threading.Thread(target=lambda: client.drag(session, [((5.0, 5.0), (28.0, 28.0))], options=LONG_DRAG,
                                                         on_progress=lambda update: started.set()))
    thread.start()
    assert started.wait(20)
    return thread


def test_message_size():
    with running_daemon(limits=limits(max_frame_bytes=8192)) as daemon, connect(daemon) as client:
        client.hello()
        big = Image.filled("RGBA", 64, 64, (0, 0, 0, 255))  # 16 KiB of pixels
        assert error_code(lambda: client.open_session(big)) == ErrorCode.TOO_LARGE  # refused before sending
        # A peer that ignores the limit loses its connection before a byte of it reaches Python ...
        rogue = raw_dealer(daemon)
        rogue.send(b"\x00" * 100_000)
        assert not rogue.poll(500)
        rogue.close()
        # ... and everyone else is served as before.
        assert client.generate(seed=0).width == 32


def test_image_size_and_pixel_count():
    with running_daemon(limits=limits(max_image_side=48, max_image_pixels=40 * 40)) as daemon, \
            connect(daemon) as client:
        client.hello()
        wide = Image.filled("RGBA", 64, 8, (0, 0, 0, 255))
        square = Image.filled("RGBA", 45, 45, (0, 0, 0, 255))
        assert error_code(lambda: client.open_session(wide)) == ErrorCode.TOO_LARGE
        assert error_code(lambda: client.open_session(square)) == ErrorCode.TOO_LARGE
        socket = raw_dealer(daemon)  # the daemon checks too, whatever the client does
        socket.send(msgpack.packb({"v": 1, "id": 1, "type": "open_session", "image": {
            "mode": "RGBA", "width": 64, "height": 8, "stride": 256, "data": b"\0" * 2048}}))
        assert replies_until_final(socket)[-1]["code"] == ErrorCode.TOO_LARGE
        socket.send(msgpack.packb({"v": 1, "id": 2, "type": "open_session", "image": {
            "mode": "RGBA", "width": -4, "height": 8, "stride": 256, "data": b""}}))
        assert replies_until_final(socket)[-1]["code"] == ErrorCode.BAD_REQUEST
        socket.close()


def test_points_per_drag_and_steps():
    with running_daemon(limits=limits(max_points=2, max_steps=50)) as daemon, connect(daemon) as client:
        client.hello()
        session = client.generate(seed=0).session
        three = [((1.0, 1.0), (2.0, 2.0))] * 3
        assert error_code(lambda: client.drag(session, three)) == ErrorCode.LIMIT_EXCEEDED
        socket = raw_dealer(daemon)
        socket.send(msgpack.packb({"v": 1, "id": 1, "type": "drag", "session": session,
                                   "points": [{"handle": [1.0, 1.0], "target": [2.0, 2.0]}] * 3}))
        assert replies_until_final(socket)[-1]["code"] == ErrorCode.LIMIT_EXCEEDED
        socket.close()
        too_long = DragOptions(max_steps=51)
        assert error_code(lambda: client.drag(session, three[:1], options=too_long)) == ErrorCode.LIMIT_EXCEEDED


def test_sessions_per_user_and_in_total():
    with running_daemon(limits=limits(max_sessions=3), max_sessions_per_user=2) as daemon, \
            connect(daemon) as first, connect(daemon) as second, connect(daemon, user="other") as other, \
            connect(daemon, user="third") as third:
        first.generate(seed=0), second.generate(seed=1)  # two connections, one user: one limit
        assert error_code(lambda: first.generate(seed=2)) == ErrorCode.LIMIT_EXCEEDED
        assert error_code(lambda: second.generate(seed=2)) == ErrorCode.LIMIT_EXCEEDED
        other.generate(seed=3)
        assert error_code(lambda: third.generate(seed=4)) == ErrorCode.LIMIT_EXCEEDED  # total reached
        assert first.status().sessions == 3


def test_a_user_at_the_limit_cannot_starve_others_when_sessions_are_saved(tmp_path):
    with running_daemon(limits=limits(max_sessions=4), max_sessions_per_user=2, state_dir=tmp_path) as daemon, \
            connect(daemon) as hog, connect(daemon, user="other") as other, connect(daemon, user="third") as third:
        mine = [hog.generate(seed=seed).session for seed in range(6)]  # beyond its limit: older ones set aside
        assert hog.heartbeat(mine) == tuple(mine)  # heartbeats keep them alive, but not in memory
        assert daemon.sessions.count() == 2
        theirs = [other.generate(seed=10).session, other.generate(seed=11).session]
        third.generate(seed=12)  # the daemon is full: the hog's least recently used makes room
        assert hog.session_info(mine[0]).restored  # read back from disk: nothing was lost
        assert [other.session_info(s).history_length for s in theirs] == [1, 1]


def test_a_client_waiting_longer_than_the_liveness_window_for_its_own_drag_keeps_its_sessions():
    # Client timeout 1 s; `patient` waits ~3 s in the queue behind another user's drag, then gets its result.
    # It was alive all along (a request in flight), and is for client_timeout_s after its reply: its session
    # must not be orphaned, so a third user filling the table cannot evict it.
    with running_daemon(limits=limits(max_sessions=2), client_timeout_s=1.0, orphan_timeout_s=30) as daemon, \
            connect(daemon) as patient, connect(daemon, user="other") as dragger, \
            connect(daemon, user="third") as newcomer:
        thread = busy_worker(daemon, dragger)  # the other user's long drag holds the worker
        session = patient.generate(seed=1).session  # waits behind it too
        threading.Timer(3.0, dragger.cancel).start()
        result = patient.drag(session, [((5.0, 5.0), (8.0, 8.0))], options=DragOptions(max_steps=2))
        assert result.steps >= 1
        time.sleep(0.3)  # a few housekeeping rounds (0.05 s) after the reply, within the client timeout
        assert daemon.sessions.owned_by(owner_of(daemon, session)) == 1, "the patient client was declared gone"
        with contextlib.suppress(DragdError):
            newcomer.generate(seed=3)  # the table is full: it may take an orphan's place, never the patient's
        assert patient.undo(session).history_index == 0  # the user's next request finds its session
        thread.join(20)


def owner_of(daemon, session_id: str) -> bytes:
    with daemon.sessions.lock:
        owner = daemon.sessions._sessions[session_id].owner
    assert owner is not None, "the waiting client's session was orphaned"
    return owner


def test_memory_budget_evicts_the_least_recently_used_idle_session():
    per_session = SESSION_OVERHEAD_BYTES + 4 * 32 * 32 + 8 * 32 * 4 * 2  # overhead, image, latents (rough)
    with running_daemon(memory_budget_bytes=int(2.5 * per_session)) as daemon, connect(daemon) as client:
        first, second = client.generate(seed=0).session, client.generate(seed=1).session
        assert client.heartbeat([first]) == (first,)  # using `first` leaves `second` least recently used
        newest = client.generate(seed=2).session
        with pytest.raises(DragdError) as caught:
            client.undo(second)
        assert caught.value.code == ErrorCode.UNKNOWN_SESSION and "memory budget" in caught.value.message
        assert client.heartbeat([first, second, newest]) == (first, newest)


def test_queue_per_client_and_in_total():
    with running_daemon(limits=limits(max_queue=3), max_queue_per_user=2) as daemon, \
            connect(daemon) as dragger:
        thread = busy_worker(daemon, dragger)
        socket = raw_dealer(daemon)
        for request_id in range(3):
            socket.send(msgpack.packb({"v": 1, "id": request_id, "type": "generate", "seed": request_id}))
        first = [msgpack.unpackb(socket.recv()) for _ in range(3)]
        assert [(r["id"], r["type"]) for r in first] == [(0, "waiting"), (1, "waiting"), (2, "error")]
        assert first[0]["position"] == 1 and first[1]["position"] == 2 and first[2]["code"] == ErrorCode.BUSY
        other = raw_dealer(daemon, "other")  # another user's line
        other.send(msgpack.packb({"v": 1, "id": 0, "type": "generate", "seed": 5}))
        assert msgpack.unpackb(other.recv())["type"] == "waiting"
        other.send(msgpack.packb({"v": 1, "id": 1, "type": "generate", "seed": 6}))
        reply = msgpack.unpackb(other.recv())
        assert reply["code"] == ErrorCode.BUSY and "queue is full" in reply["message"]
        dragger.cancel()
        thread.join(20)
        assert replies_until_final(socket)[-1]["type"] == "result"
        socket.close(), other.close()


def test_waiting_requests_get_keepalives():
    with running_daemon(limits=limits(keepalive_s=0.2)) as daemon, connect(daemon) as dragger:
        thread = busy_worker(daemon, dragger)
        socket = raw_dealer(daemon)
        socket.send(msgpack.packb({"v": 1, "id": 1, "type": "generate", "seed": 1}))
        time.sleep(1.0)
        dragger.cancel()
        thread.join(20)
        replies = replies_until_final(socket)
        positions = [r["position"] for r in replies if r["type"] == "waiting"]
        # keepalives while it waited behind the drag (position 1); once it runs, a slow generate on a loaded
        # machine may get keepalives of its own (position 0), never the other way round
        assert positions.count(1) >= 3 and set(positions) <= {0, 1} and positions == sorted(positions, reverse=True)
        assert replies[-1]["type"] == "result"
        socket.close()


def test_idle_sessions_expire():
    with running_daemon(limits=limits(session_idle_timeout_s=0.3)) as daemon, connect(daemon) as client:
        session = client.generate(seed=0).session
        time.sleep(0.8)
        with pytest.raises(DragdError) as caught:
            client.undo(session)
        assert caught.value.code == ErrorCode.UNKNOWN_SESSION and "without use" in caught.value.message


def test_silent_clients_lose_their_sessions_after_the_orphan_timeout_but_heartbeats_keep_them():
    # A silent client is gone after 0.5 s; its session is kept 0.5 s more after its last use, then freed.
    with running_daemon(client_timeout_s=0.5, orphan_timeout_s=0.5) as daemon, connect(daemon) as silent, \
            connect(daemon) as alive:
        silent.generate(seed=0)
        kept = alive.generate(seed=1).session
        counts = []
        for _ in range(15):
            time.sleep(0.1)
            assert alive.heartbeat([kept]) == (kept,)
            counts.append(alive.status().sessions)
        assert counts[0] == 2 and counts[-1] == 1, counts
