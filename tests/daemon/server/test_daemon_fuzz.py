"""Thousands of malformed frames and messages against a running daemon; it must answer each one that can be
answered with a valid reply, and afterwards still serve a well-formed client correctly."""

from __future__ import annotations

from collections import Counter

import msgpack
import numpy as np
import pytest
import zmq
from conftest import make_generator
from dragd.daemon.server.jobs import render
from dragd.protocol import DragOptions, codec, messages
from dragd.protocol.errors import ErrorCode
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from server_fixtures import connect, expected_drag, raw_dealer, running_daemon

FUZZ = settings(max_examples=1000, deadline=None, suppress_health_check=list(HealthCheck), database=None)

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**64 - 1), st.floats(), st.text(max_size=20),
    st.binary(max_size=40), st.sampled_from([float("nan"), float("inf"), -1, 0, 2**40, -(2**31)]),
)
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=10), inner, max_size=5)), max_leaves=20)

VALID = {  # one well-formed example of every request but shutdown (which would end the test)
    "hello": {"client": "fuzz", "protocol": 1}, "ping": {}, "list_models": {}, "status": {},
    "generate": {"seed": 1, "truncation": 0.5}, "undo": {"session": "s"}, "redo": {"session": "s"},
    "close_session": {"session": "s"}, "cancel": {"target": 3}, "heartbeat": {"sessions": ["s"]},
    "drag": {"session": "s", "points": [{"handle": [1.0, 2.0], "target": [3.0, 4.0]}],
             "options": {"max_steps": 5, "preview_every": 1}},
    "open_session": {"image": {"mode": "RGBA", "width": 2, "height": 1, "stride": 8, "data": b"\0" * 8}},
}


@st.composite
def near_valid(draw) -> dict:
    """A valid request with one to three things wrong: a field dropped, replaced, added, or nested wrong."""
    kind = draw(st.sampled_from(sorted(VALID)))
    message = {"v": 1, "id": draw(st.one_of(st.integers(0, 10**6), st.text(min_size=1, max_size=8))),
               "type": kind, **VALID[kind]}
    for _ in range(draw(st.integers(1, 3))):
        key = draw(st.sampled_from(sorted(message) + ["extra"]))
        action = draw(st.sampled_from(["drop", "replace", "nest"]))
        if action == "drop":
            message.pop(key, None)
        elif action == "replace":
            message[key] = draw(values)
        elif isinstance(message.get(key), dict) and message[key]:
            inner = dict(message[key])
            inner[draw(st.sampled_from(sorted(inner)))] = draw(values)
            message[key] = inner
        elif isinstance(message.get(key), list) and message[key]:
            message[key] = [draw(values)] + message[key][1:]
    if message.get("type") == "shutdown":
        message["type"] = "ping"
    return message


@pytest.fixture(scope="module")
def fuzzed():
    with running_daemon() as daemon:
        socket = raw_dealer(daemon)
        yield daemon, socket
        socket.close()


OUTCOMES: Counter[str] = Counter()  # final reply kinds and error codes, to show how deep the fuzzing reached


def exchange(socket: zmq.Socket, frames: list[bytes]) -> list[messages.Reply]:
    """Sends one multipart message and reads replies up to a final one; each must be a valid reply."""
    socket.send_multipart(frames)
    replies = []
    while True:
        assert socket.poll(10_000), f"no final reply to {frames!r:.200}"
        reply = messages.validate_reply(codec.decode(socket.recv(), 1 << 30))
        replies.append(reply)
        if reply.kind in ("result", "error"):
            OUTCOMES[reply.body.code if reply.kind == "error" else reply.request_type] += 1
            assert socket.poll(0) == 0 or reply.kind == "error", "nothing may follow a final reply"
            return replies


def check_error(reply: messages.Reply) -> None:
    assert reply.kind == "error" and reply.body.code in ErrorCode.WIRE_CODES


@FUZZ
@given(frames=st.lists(st.binary(max_size=120), min_size=1, max_size=4))
def test_raw_frames(fuzzed, frames):
    _, socket = fuzzed
    replies = exchange(socket, frames)
    if len(frames) != 1:
        check_error(replies[-1])


@FUZZ
@given(value=values)
def test_msgpack_of_any_shape(fuzzed, value):
    _, socket = fuzzed
    check_error(exchange(socket, [msgpack.packb(value)])[-1])  # no random shape is a valid request


@FUZZ
@given(message=near_valid())
def test_near_valid_requests(fuzzed, message):
    _, socket = fuzzed
    final = exchange(socket, [msgpack.packb(message)])[-1]
    if final.kind == "error":
        check_error(final)


def test_a_well_formed_client_is_served_correctly_after_the_fuzzing(fuzzed):
    daemon, _ = fuzzed
    assert sum(OUTCOMES.values()) >= 3000
    # Garbage stopped at the decoder, near-misses reached the handlers, and some requests succeeded.
    assert {"bad_request", "unknown_session", "not_found"} <= set(OUTCOMES), OUTCOMES
    assert set(OUTCOMES) & set(messages.RESULTS), OUTCOMES
    with connect(daemon, user="other") as client:  # the fuzzer is one user, who may be at its limits
        assert client.hello().models[0].name == "tiny"
        start = client.generate(seed=11)
        generator = make_generator()
        expected = render(generator, generator.ws_for_seed(11, 0.7))
        got = np.frombuffer(start.image.data, np.uint8).reshape(32, 32, 4)[..., :3]
        assert np.array_equal(got, expected)
        options = DragOptions(max_steps=40)
        result = client.drag(start.session, [((10.0, 10.0), (14.0, 12.0))], options=options)
        expected = expected_drag(11, [(10.0, 10.0)], [(14.0, 12.0)], options)
        assert result.points == tuple(expected.points) and result.steps == expected.steps
        assert np.array_equal(np.frombuffer(result.image.data, np.uint8).reshape(32, 32, 4)[..., :3],
                              expected.image)
        assert client.status().running is None
