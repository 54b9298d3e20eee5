"""DragdClient against a fake ROUTER daemon over real TCP: results, errors, progress, cancel, timeouts."""

from __future__ import annotations

import threading
import time

import msgpack
import pytest
import zmq
from dragd.protocol import (
    DEFAULT_LIMITS,
    DragdClient,
    DragdError,
    DragdTimeout,
    DragOptions,
    DragProgress,
    DragResult,
    ErrorCode,
    Image,
    Limits,
    PointPair,
    ProtocolError,
    Waiting,
    encode,
    error_message,
)
from protocol_fakes import MODELS, FakeDaemon, small_image


@pytest.fixture
def daemon():
    with FakeDaemon() as fake:
        yield fake


@pytest.fixture
def client(daemon):
    with DragdClient(daemon.address, timeout=3.0, client_name="test") as c:
        yield c


def test_hello_learns_models_limits_and_capabilities(client, daemon):
    info = client.hello()
    assert info.protocol == 1 and info.models == MODELS and info.limits == DEFAULT_LIMITS
    assert "drag" in info.capabilities and client.limits == DEFAULT_LIMITS
    first = daemon.received[0]
    assert first.type == "hello" and first.body.client == "test" and first.body.protocol == 1


def test_every_simple_call_returns_its_typed_result(client, daemon):
    assert client.ping().uptime_s == 1.5
    assert client.list_models() == MODELS
    generated = client.generate(seed=7, truncation=0.5)
    assert (generated.session, generated.width, generated.height, generated.model) == ("s2", 4, 3, "faces-128")
    assert generated.image.pixel(3, 2) == (10, 20, 30, 255)
    assert daemon.received[-1].body.seed == 7 and daemon.received[-1].body.truncation == 0.5
    assert client.undo("s1").can_redo is True
    assert client.redo("s1").history_index == 1
    assert client.status().memory.rss_bytes == 123
    assert client.heartbeat(["s1", "gone"]) == ("s1",)
    assert client.close_session("s1") is None
    assert client.shutdown() is None


def test_error_replies_raise_dragd_error_with_code(client):
    with pytest.raises(DragdError) as info:
        client.close_session("nope")
    assert info.value.code == ErrorCode.UNKNOWN_SESSION and "nope" in info.value.message
    with pytest.raises(DragdError) as info:
        client.open_session(small_image())
    assert info.value.code == ErrorCode.UNSUPPORTED


def test_drag_streams_progress_with_previews_then_returns_result(client, daemon):
    seen: list[DragProgress] = []
    result = client.drag("s1", [((0, 0), (10, 20))], options=DragOptions(preview_every=2),
                         on_progress=seen.append)
    assert [p.step for p in seen] == [1, 2, 3, 4, 5]
    assert [p.image is not None for p in seen] == [False, True, False, True, False]
    assert seen[1].offset == (1, 2)
    assert result.stopped == "reached" and result.reached and result.points == ((10.0, 20.0),)
    sent = daemon.received[-1].body
    assert sent.points == (PointPair((0.0, 0.0), (10.0, 20.0)),) and sent.options.preview_every == 2


def test_cancel_from_another_thread_ends_drag_with_cancelled_result(daemon):
    daemon.drag_steps, daemon.step_s = 10_000, 0.01  # would take 100 s
    client = DragdClient(daemon.address, timeout=3.0)
    started = threading.Event()
    outcome: dict[str, object] = {}

    def run() -> None:
        outcome["result"] = client.drag("s1", [((0, 0), (5, 5))], on_progress=lambda p: started.set())

    thread = threading.Thread(target=run)
    began = time.monotonic()
    thread.start()
    assert started.wait(3)
    assert list(client.in_flight().values()) == ["drag"]
    assert client.cancel() is True  # no target: everything of this client in flight
    thread.join(3)
    assert not thread.is_alive()
    assert outcome["result"].stopped == "cancelled" and time.monotonic() - began < 3
    assert client.cancel() is False  # nothing left; the daemon's not_found is not an error
    client.close()


def test_cancel_inside_progress_callback(client, daemon):
    daemon.drag_steps = 10_000
    result = client.drag("s1", [((0, 0), (5, 5))], on_progress=lambda p: p.step == 3 and client.cancel())
    assert result.stopped == "cancelled" and result.steps == 3


def test_callback_exception_cancels_the_drag_and_propagates(client, daemon):
    daemon.drag_steps = 10_000

    def boom(progress: DragProgress) -> None:
        raise RuntimeError("editor closed")

    with pytest.raises(RuntimeError, match="editor closed"):
        client.drag("s1", [((0, 0), (5, 5))], on_progress=boom)
    cancels = [r for r in daemon.received if getattr(r, "type", None) == "cancel"]
    assert len(cancels) == 1


def test_no_daemon_gives_timeout_not_hang():
    with DragdClient("tcp://127.0.0.1:1", timeout=0.3) as client:  # nothing listens on port 1
        began = time.monotonic()
        with pytest.raises(DragdTimeout) as info:
            client.ping()
        assert 0.25 < time.monotonic() - began < 2
        assert info.value.code == ErrorCode.TIMEOUT and isinstance(info.value, DragdError)


def test_daemon_dying_mid_drag_gives_timeout(daemon):
    daemon.drag_steps = 10_000
    client = DragdClient(daemon.address, timeout=0.5)

    def die_after_first(progress: DragProgress) -> None:
        if progress.step == 2:
            daemon.stop()

    began = time.monotonic()
    with pytest.raises(DragdTimeout):
        client.drag("s1", [((0, 0), (5, 5))], on_progress=die_after_first)
    assert time.monotonic() - began < 3
    client.close()


def test_silent_request_times_out_and_late_reply_is_dropped(client, daemon):
    held: list[tuple[bytes, object]] = []
    daemon.script["ping"] = lambda identity, request: held.append((identity, request))  # never answers
    with pytest.raises(DragdTimeout):
        client.ping(timeout=0.2)
    del daemon.script["ping"]
    assert client.ping().uptime_s == 1.5  # the client still works; a stale reply would not confuse it


def test_version_mismatch_error_carries_both_versions(daemon):
    # A daemon refusing our version (as a future daemon would) replies with the frozen error shape.
    def refuse(identity, request):
        reply = error_message(request.id, ErrorCode.VERSION_MISMATCH, "protocol 1 is not supported",
                              {"client": 1, "daemon": 2, "supported": [2]}, "hello")
        reply["v"] = 2
        return [encode(reply)]

    daemon.script["hello"] = refuse
    with DragdClient(daemon.address, timeout=2) as client, pytest.raises(DragdError) as info:
        client.hello()
    assert info.value.code == ErrorCode.VERSION_MISMATCH
    assert info.value.details == {"client": 1, "daemon": 2, "supported": [2]}


def test_invalid_reply_raises_bad_reply(client, daemon):
    def garbage(identity, request):
        return [msgpack.packb({"v": 1, "id": request.id, "type": "result", "request_type": "ping",
                               "uptime_s": "soon"})]

    daemon.script["ping"] = garbage
    with pytest.raises(DragdError) as info:
        client.ping()
    assert info.value.code == ErrorCode.BAD_REPLY and "uptime_s" in info.value.message


def test_reply_of_the_wrong_request_type_is_rejected(client, daemon):
    daemon.script["ping"] = lambda identity, request: [encode({
        "v": 1, "id": request.id, "type": "result", "request_type": "shutdown"})]
    with pytest.raises(DragdError) as info:
        client.ping()
    assert info.value.code == ErrorCode.BAD_REPLY


def test_waiting_keepalives_reach_the_callback_and_extend_the_timeout(client, daemon):
    def slow_drag(identity, request):
        def later():
            for position in (2, 1, 0):  # 0.6 s in all, longer than the 0.4 s timeout, but never silent that long
                daemon.send_later(identity, request.waiting(position))
                time.sleep(0.2)
            daemon.send_later(identity, request.result(DragResult(0, ((0.0, 0.0),), False, "max_steps",
                                                                 small_image(), (0, 0), 1)))

        threading.Thread(target=later).start()
        return []

    daemon.script["drag"] = slow_drag
    seen = []
    result = client.drag("s1", [((0, 0), (5, 5))], on_progress=seen.append, timeout=0.4)
    assert result.stopped == "max_steps" and seen == [Waiting(2), Waiting(1), Waiting(0)]


def test_bad_input_is_refused_before_sending(client, daemon):
    with pytest.raises(ProtocolError) as info:
        client.drag("s1", [((float("nan"), 0), (1, 1))])
    assert info.value.code == ErrorCode.BAD_REQUEST and "finite" in info.value.message
    with pytest.raises(ProtocolError):
        client.drag("s1", [])
    with pytest.raises(ProtocolError):
        client.drag("s1", [((1, 2, 3), (1, 1))])
    assert daemon.received == []


def test_daemon_limits_apply_after_hello():
    with FakeDaemon(Limits(max_points=2)) as daemon, DragdClient(daemon.address, timeout=3) as client:
        client.hello()
        with pytest.raises(ProtocolError) as info:
            client.drag("s1", [((0, 0), (1, 1))] * 3)
        assert info.value.code == ErrorCode.LIMIT_EXCEEDED


def test_large_image_round_trip(client, daemon):
    big = Image.filled("RGBA", 1500, 1000, (1, 2, 3, 4))  # 6 MB
    daemon.script["open_session"] = lambda identity, request: [encode(request.error(
        ErrorCode.UNSUPPORTED, f"got {request.body.image.nbytes} bytes"))]
    with pytest.raises(DragdError, match="got 6000000 bytes"):
        client.open_session(big)


def test_closed_client_refuses_calls(daemon):
    client = DragdClient(daemon.address, timeout=1)
    client.close()
    client.close()  # twice is fine
    with pytest.raises(DragdError) as info:
        client.ping()
    assert info.value.code == ErrorCode.UNAVAILABLE


@pytest.mark.skipif(not zmq.has("curve"), reason="libzmq built without CurveZMQ")
def test_curve_encrypted_connection():
    public, secret = zmq.curve_keypair()
    with FakeDaemon(curve_secret_key=secret) as daemon:
        with DragdClient(daemon.address, timeout=3, curve_server_key=public) as client:
            assert client.ping().uptime_s == 1.5
        wrong_public, _ = zmq.curve_keypair()
        with DragdClient(daemon.address, timeout=0.5, curve_server_key=wrong_public) as client, \
                pytest.raises(DragdTimeout):
            client.ping()
