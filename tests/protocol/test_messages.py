"""Validation of every message: good ones round-trip, bad ones get a ProtocolError with the right code."""

from __future__ import annotations

import dataclasses
import math

import pytest
from dragd.protocol import (
    DEFAULT_LIMITS,
    REQUESTS,
    RESULTS,
    CancelRequest,
    CancelResult,
    CloseSessionRequest,
    CloseSessionResult,
    DragOptions,
    DragProgress,
    DragRequest,
    DragResult,
    ErrorCode,
    GenerateRequest,
    GenerateResult,
    HeartbeatRequest,
    HeartbeatResult,
    HelloRequest,
    HelloResult,
    HistoryResult,
    Image,
    InversionProgress,
    Limits,
    ListModelsRequest,
    ListModelsResult,
    LivePoint,
    LiveUpdateRequest,
    LiveUpdateResult,
    Memory,
    ModelInfo,
    OpenSessionRequest,
    OpenSessionResult,
    PingRequest,
    PingResult,
    PointPair,
    ProtocolError,
    Quality,
    RedoRequest,
    SessionInfoRequest,
    SessionInfoResult,
    ShutdownRequest,
    ShutdownResult,
    StatusRequest,
    StatusResult,
    Transform,
    UndoRequest,
    Waiting,
    decode,
    encode,
    error_message,
    request_message,
    validate_reply,
    validate_request,
)
from dragd.protocol.messages import (
    PROGRESS,
    Request,
    RestoreRequest,
    RestoreResult,
    StateRequest,
    StateResult,
    progress_message,
    result_message,
)
from hypothesis import given, settings
from hypothesis import strategies as st

RGBA = Image.filled("RGBA", 4, 3, (1, 2, 3, 4))
MASK = Image.filled("L", 4, 3, 255)
MODEL = ModelInfo("faces-128", (128, 128), "faces", 0.002, "faces", True)

REQUEST_EXAMPLES = [
    HelloRequest("krita", 1),
    PingRequest(),
    ListModelsRequest(),
    GenerateRequest(seed=7),
    GenerateRequest(seed=2**32 - 1, model="cats", truncation=1.0),
    OpenSessionRequest(image=RGBA),
    OpenSessionRequest(image=RGBA, model="faces", region=(1, 1, 3, 2), mask=MASK),
    DragRequest("s1", (PointPair((0.0, 0.0), (3.0, 2.0)),)),
    DragRequest("s1", (PointPair((-0.5, 1.25), (3.5, 2.0)), PointPair((1.0, 1.0), (1.0, 1.0))), MASK,
                DragOptions(step_size=0.001, max_steps=50, latent_space="w", mask_strength=10, feature_block=4,
                            r1=3, r2=12, stop_distance=1, preview_every=5)),
    CancelRequest(12),
    CancelRequest("req-a"),
    UndoRequest("s1"),
    RedoRequest("s1"),
    CloseSessionRequest("s1"),
    StatusRequest(),
    ShutdownRequest(),
    HeartbeatRequest(),
    HeartbeatRequest(("s1", "s2")),
    SessionInfoRequest("s1"),
    StateRequest("s1"),
    RestoreRequest(bytes(4 * 2 * 3), (2, 3)),
    RestoreRequest(bytes(4 * 2 * 3), (2, 3), "s1", "faces"),
    DragRequest("s1", (PointPair((0.0, 0.0), (3.0, 2.0), "nose"), PointPair((1.0, 1.0), (2.0, 2.0), 7)),
                options=DragOptions(live=True, live_timeout_s=60)),
    LiveUpdateRequest(4, 1, (LivePoint("nose", (3.0, 3.0)), LivePoint(9, (1.0, 1.0), (0.0, 0.0))), seen=3),
    LiveUpdateRequest("req-a", seen=2, commit=True),
]

RESULT_EXAMPLES = [
    ("hello", HelloResult(1, "0.1", "cpu", (MODEL,), DEFAULT_LIMITS, ("generate", "drag"))),
    ("ping", PingResult(3.0)),
    ("list_models", ListModelsResult((MODEL,))),
    ("generate", GenerateResult("s1", RGBA, 4, 3, "faces-128")),
    ("open_session", OpenSessionResult("s1", RGBA, (5, 6), Quality(31.5, 0.12), Transform((1, 0, -5, 0, 1, -6)))),
    ("open_session", OpenSessionResult("s1", RGBA, (0, 0), Quality(math.inf))),
    ("drag", DragResult(30, ((1.0, 2.0),), True, "reached", RGBA, (0, 0), 1)),
    ("cancel", CancelResult("running")),
    ("undo", HistoryResult(RGBA, (0, 0), 0, False, True)),
    ("redo", HistoryResult(RGBA, (0, 0), 1, True, False)),
    ("close_session", CloseSessionResult()),
    ("status", StatusResult("0.1", "cuda:0", 2, 1, 0, "drag", Memory(1, 2, 3), 12.5)),
    ("status", StatusResult("0.1", "cpu", 0, 0, 0, None, Memory(), 0.0)),
    ("shutdown", ShutdownResult()),
    ("heartbeat", HeartbeatResult(("s1",))),
    ("session_info", SessionInfoResult("faces-128", 1, 3, True, True, True, "a drag was cut short")),
    ("session_info", SessionInfoResult("faces-128", 0, 1, False, False, False)),
    ("state", StateResult("faces", 3, bytes(4 * 2 * 3), (2, 3), False)),
    ("restore", RestoreResult("s2", RGBA, (0, 0), 1, "faces")),
    ("drag", DragResult(3, ((1.0, 2.0),), False, "committed", RGBA, (0, 0), 2, ("nose",))),
    ("drag", DragResult(3, ((1.0, 2.0),), True, "timeout", RGBA, (0, 0), 2, (0,))),
    ("live_update", LiveUpdateResult(3, False)),
]

PROGRESS_EXAMPLES = [
    ("drag", DragProgress(1, ((1.0, 2.0),), 0.5)),
    ("drag", DragProgress(10, ((1.0, 2.0), (3.0, 4.0)), 0.25, RGBA, (8, 9))),
    ("drag", DragProgress(2, ((1.0, 2.0),), 0.1, None, None, ("nose",), 1, 2, True)),
    ("open_session", InversionProgress("projection", 100, 1000)),
]


def wire_round_trip(message: dict) -> dict:
    return decode(encode(message), DEFAULT_LIMITS.max_frame_bytes)


@pytest.mark.parametrize("body", REQUEST_EXAMPLES, ids=lambda b: type(b).__name__)
def test_good_requests_round_trip(body):
    request = validate_request(wire_round_trip(request_message("r1", body)))
    assert request == Request("r1", body) and request.type == body.TYPE


def test_examples_cover_every_message_type():
    assert {type(b) for b in REQUEST_EXAMPLES} == set(REQUESTS.values())
    assert {t for t, _ in RESULT_EXAMPLES} == set(RESULTS)
    assert {t for t, _ in PROGRESS_EXAMPLES} == set(PROGRESS)


@pytest.mark.parametrize(("request_type", "body"), RESULT_EXAMPLES + PROGRESS_EXAMPLES,
                         ids=lambda x: x if isinstance(x, str) else type(x).__name__)
def test_good_replies_round_trip(request_type, body):
    build = result_message if (request_type, body) in RESULT_EXAMPLES else progress_message
    reply = validate_reply(wire_round_trip(build(5, request_type, body)))
    assert (reply.id, reply.request_type, reply.body) == (5, request_type, body)
    assert reply.kind == ("result" if build is result_message else "progress")


def test_waiting_and_error_replies_round_trip():
    request = Request(3, PingRequest())
    waiting = validate_reply(wire_round_trip(request.waiting(2)))
    assert (waiting.kind, waiting.body, waiting.request_type) == ("waiting", Waiting(2), "ping")
    error = validate_reply(wire_round_trip(request.error(ErrorCode.BUSY, "queue full", {"queue": 32})))
    assert (error.kind, error.body.code, error.body.message, error.body.details) == ("error", "busy", "queue full",
                                                                                   {"queue": 32})
    anonymous = validate_reply(wire_round_trip(error_message(None, ErrorCode.BAD_REQUEST, "x" * 20000)))
    assert anonymous.id is None and anonymous.request_type is None and len(anonymous.body.message) < 16100


def test_builders_refuse_a_body_of_the_wrong_kind():
    with pytest.raises(TypeError):
        result_message(1, "ping", StatusResult("0", "cpu", 0, 0, 0, None, Memory(), 0.0))
    with pytest.raises(TypeError):
        progress_message(1, "ping", DragProgress(1, (), 0.0))


# ---- every field: missing, extra, wrong type ------------------------------------------------------------------


def _field_cases():
    for body in REQUEST_EXAMPLES:
        message = request_message(1, body)
        for field in dataclasses.fields(body):
            if field.default is dataclasses.MISSING:
                yield pytest.param(message, field.name, id=f"{body.TYPE}.{field.name}")


@pytest.mark.parametrize(("message", "name"), list(_field_cases()))
def test_missing_required_field_is_refused(message, name):
    broken = {k: v for k, v in message.items() if k != name}
    with pytest.raises(ProtocolError) as info:
        validate_request(broken)
    assert info.value.code == ErrorCode.BAD_REQUEST and f"missing field {name!r}" in info.value.message
    assert info.value.request_id == 1 and info.value.request_type == message["type"]


@pytest.mark.parametrize("body", REQUEST_EXAMPLES, ids=lambda b: type(b).__name__)
def test_extra_field_is_refused(body):
    with pytest.raises(ProtocolError, match="unknown field 'surprise'"):
        validate_request({**request_message(1, body), "surprise": 1})


@pytest.mark.parametrize("body", REQUEST_EXAMPLES, ids=lambda b: type(b).__name__)
@pytest.mark.parametrize("wrong", [{"a": 1}, [[]], "text", -1, 1.5, None, True, b"\x00"])
def test_every_field_refuses_values_of_the_wrong_type(body, wrong):
    message = request_message(1, body)
    for name in (f.name for f in dataclasses.fields(body)):
        if wrong == message[name] and type(wrong) is type(message[name]):
            continue  # the example already holds this value
        broken = {**message, name: wrong}
        try:
            validate_request(broken)
        except ProtocolError as exc:
            assert exc.code in (ErrorCode.BAD_REQUEST, ErrorCode.LIMIT_EXCEEDED)
            continue
        # Accepted: only where the value is genuinely valid for that field.
        assert (name, wrong) in ACCEPTABLE, f"{body.TYPE}.{name} accepted {wrong!r}"


ACCEPTABLE = {
    ("model", None), ("region", None), ("mask", None), ("model", "text"), ("target", "text"), ("target", -1),
    ("session", "text"), ("session", None), ("client", "text"), ("truncation", 1.5),
    ("points", None), ("seen", None), ("commit", True),  # live_update
}


# ---- specific rules -------------------------------------------------------------------------------------------


def drag(points=None, **changes):
    message = request_message(1, DragRequest("s1", (PointPair((0, 0), (1, 1)),)))
    if points is not None:
        message["points"] = points
    message.update(changes)
    return message


def pair(hx, hy, tx=1.0, ty=1.0):
    return {"handle": [hx, hy], "target": [tx, ty]}


BAD_REQUESTS = [
    ("restore latent of the wrong size", {"v": 1, "id": 1, "type": "restore", "latent": bytes(20), "shape": [2, 3]},
     ErrorCode.BAD_REQUEST, "restore.latent: latent holds 20 bytes"),
    ("restore latent as text", {"v": 1, "id": 1, "type": "restore", "latent": "abc", "shape": [2, 3]},
     ErrorCode.BAD_REQUEST, "restore.latent: expected bytes"),
    ("not a map", [1, 2], ErrorCode.BAD_REQUEST, "map"),
    ("no version", {"id": 1, "type": "ping"}, ErrorCode.BAD_REQUEST, "v: missing"),
    ("version as string", {"v": "1", "id": 1, "type": "ping"}, ErrorCode.BAD_REQUEST, "v:"),
    ("future version", {"v": 2, "id": 1, "type": "ping"}, ErrorCode.VERSION_MISMATCH, "version 2"),
    ("hello future", {"v": 1, "id": 1, "type": "hello", "client": "k", "protocol": 9}, ErrorCode.VERSION_MISMATCH,
     "version 9"),
    ("no id", {"v": 1, "type": "ping"}, ErrorCode.BAD_REQUEST, "id: missing"),
    ("empty id", {"v": 1, "id": "", "type": "ping"}, ErrorCode.BAD_REQUEST, "id"),
    ("long id", {"v": 1, "id": "x" * 129, "type": "ping"}, ErrorCode.TOO_LARGE, "id"),
    ("float id", {"v": 1, "id": 1.5, "type": "ping"}, ErrorCode.BAD_REQUEST, "id"),
    ("no type", {"v": 1, "id": 1}, ErrorCode.BAD_REQUEST, "type: missing"),
    ("unknown type", {"v": 1, "id": 1, "type": "teleport"}, ErrorCode.UNSUPPORTED, "teleport"),
    ("NaN x", drag([pair(math.nan, 0)]), ErrorCode.BAD_REQUEST, "finite"),
    ("inf y", drag([pair(0, math.inf)]), ErrorCode.BAD_REQUEST, "finite"),
    ("-inf target", drag([pair(0, 0, -math.inf)]), ErrorCode.BAD_REQUEST, "finite"),
    ("huge coordinate", drag([pair(1e9, 0)]), ErrorCode.BAD_REQUEST, "maximum"),
    ("3-d point", drag([{"handle": [0, 0, 0], "target": [1, 1]}]), ErrorCode.BAD_REQUEST, "2 items"),
    ("no points", drag([]), ErrorCode.BAD_REQUEST, "at least 1"),
    ("too many points", drag([pair(0, 0)] * 129), ErrorCode.LIMIT_EXCEEDED, "at most 128"),
    ("pair extra key", drag([{**pair(0, 0), "weight": 1}]), ErrorCode.BAD_REQUEST, "weight"),
    ("unknown option", drag(options={"turbo": True}), ErrorCode.BAD_REQUEST, "turbo"),
    ("zero step size", drag(options={"step_size": 0}), ErrorCode.BAD_REQUEST, "step_size"),
    ("steps over limit", drag(options={"max_steps": 2001}), ErrorCode.LIMIT_EXCEEDED, "max_steps"),
    ("zero steps", drag(options={"max_steps": 0}), ErrorCode.BAD_REQUEST, "max_steps"),
    ("latent z", drag(options={"latent_space": "z"}), ErrorCode.BAD_REQUEST, "latent_space"),
    ("negative preview", drag(options={"preview_every": -1}), ErrorCode.BAD_REQUEST, "preview_every"),
    ("mask RGBA", drag(mask=dataclasses.asdict(RGBA)), ErrorCode.BAD_REQUEST, "L image"),
    ("seed negative", {"v": 1, "id": 1, "type": "generate", "seed": -1}, ErrorCode.BAD_REQUEST, "seed"),
    ("seed too big", {"v": 1, "id": 1, "type": "generate", "seed": 2**32}, ErrorCode.BAD_REQUEST, "seed"),
    ("truncation NaN", {"v": 1, "id": 1, "type": "generate", "seed": 1, "truncation": math.nan},
     ErrorCode.BAD_REQUEST, "truncation"),
    ("session empty", {"v": 1, "id": 1, "type": "undo", "session": ""}, ErrorCode.BAD_REQUEST, "session"),
    ("mask size", request_message(1, OpenSessionRequest(RGBA, mask=Image.filled("L", 3, 3, 1))),
     ErrorCode.BAD_REQUEST, "mask is 3x3"),
    ("region outside", request_message(1, OpenSessionRequest(RGBA, region=(2, 0, 3, 3))), ErrorCode.BAD_REQUEST,
     "outside"),
    ("region empty", {**request_message(1, OpenSessionRequest(RGBA)), "region": [0, 0, 0, 1]},
     ErrorCode.BAD_REQUEST, "region"),
    ("heartbeat sessions", {"v": 1, "id": 1, "type": "heartbeat", "sessions": ["s"] * 1025}, ErrorCode.TOO_LARGE,
     "sessions"),
]


@pytest.mark.parametrize(("message", "code", "text"), [c[1:] for c in BAD_REQUESTS], ids=[c[0] for c in BAD_REQUESTS])
def test_bad_requests(message, code, text):
    with pytest.raises(ProtocolError) as info:
        validate_request(message)
    assert info.value.code == code
    assert text in info.value.message


def test_version_mismatch_carries_both_versions_and_the_request_id():
    with pytest.raises(ProtocolError) as info:
        validate_request({"v": 1, "id": "h", "type": "hello", "client": "gimp", "protocol": 2})
    exc = info.value
    assert exc.details == {"client": 2, "daemon": 1, "supported": [1]}
    assert (exc.request_id, exc.request_type) == ("h", "hello")


def test_limits_are_the_daemons():
    small = Limits(max_points=2, max_image_side=3)
    with pytest.raises(ProtocolError) as info:
        validate_request(drag([pair(0, 0)] * 3), small)
    assert info.value.code == ErrorCode.LIMIT_EXCEEDED
    with pytest.raises(ProtocolError) as info:
        validate_request(drag(mask=dataclasses.asdict(MASK)), small)  # 4 px wide, limit 3
    assert info.value.code == ErrorCode.TOO_LARGE
    assert validate_request(drag([pair(0, 0)] * 2), small).body.points[1] == PointPair((0.0, 0.0), (1.0, 1.0))


def test_defaults_fill_omitted_options():
    request = validate_request(drag(options={"max_steps": 7}))
    assert request.body.options == DragOptions(max_steps=7)
    assert request.body.options.latent_space == "w+" and request.body.options.preview_every == 0


def test_integers_are_accepted_as_coordinates_and_become_floats():
    point = validate_request(drag([pair(3, 4)])).body.points[0].handle
    assert point == (3.0, 4.0) and all(type(c) is float for c in point)


BAD_REPLIES = [
    ({"v": 1, "id": 1, "type": "result"}, "request_type"),
    ({"v": 1, "id": 1, "type": "result", "request_type": "teleport"}, "request_type"),
    ({"v": 1, "id": 1, "type": "maybe", "request_type": "ping"}, "type"),
    ({"v": 1, "id": None, "type": "result", "request_type": "ping", "uptime_s": 1}, "id"),
    ({"v": 1, "id": 1, "type": "result", "request_type": "ping", "uptime_s": -1}, "uptime_s"),
    ({"v": 1, "id": 1, "type": "progress", "request_type": "ping"}, "request_type"),
    ({"v": 1, "id": 1, "type": "progress", "request_type": "drag", "step": 1, "points": [[0, math.nan]], "loss": 1},
     "finite"),
    ({**progress_message(1, "drag", DragProgress(1, (), 0.0)), "image": dataclasses.asdict(RGBA)}, "preview"),
    ({**result_message(1, "drag", DragResult(1, (), False, "max_steps", RGBA, (0, 0), 1)), "stopped": "tired"},
     "stopped"),
    ({"v": 1, "id": 1, "type": "error", "message": "m"}, "code"),
    ({"v": "1", "id": 1, "type": "error", "code": "x", "message": "m"}, "v"),
    ({"v": 1, "id": 1, "type": "error", "code": "x", "message": "m", "details": {"a": {"b": 1}}}, "scalar"),
    ({"v": 2, "id": 1, "type": "result", "request_type": "ping", "uptime_s": 1}, "version 2"),
]


@pytest.mark.parametrize(("message", "text"), BAD_REPLIES)
def test_bad_replies(message, text):
    with pytest.raises(ProtocolError) as info:
        validate_reply(message)
    assert text in info.value.message


def test_future_version_errors_are_still_readable():
    reply = validate_reply({"v": 7, "id": 1, "type": "error", "code": "some_new_code", "message": "later"})
    assert reply.body.code == "some_new_code"


# ---- fuzzing valid messages one nested value at a time --------------------------------------------------------

anything = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats() | st.text(max_size=10)
    | st.binary(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*prefix, index))


def _replace(value, path, new):
    if not path:
        return new
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[path[0]] = _replace(value[path[0]], path[1:], new)
    return copy


ALL_MESSAGES = [request_message(1, b) for b in REQUEST_EXAMPLES] + [
    (result_message if (t, b) in RESULT_EXAMPLES else progress_message)(1, t, b)
    for t, b in RESULT_EXAMPLES + PROGRESS_EXAMPLES
]


@settings(max_examples=600, deadline=None)
@given(st.sampled_from(ALL_MESSAGES), st.data(), anything)
def test_mutating_any_nested_value_raises_only_protocol_error(message, data, new):
    path = data.draw(st.sampled_from(list(_paths(message))))
    mutated = _replace(message, path, new)
    validate = validate_request if "request_type" not in message else validate_reply
    try:
        validate(mutated)
    except ProtocolError as exc:
        assert isinstance(exc.message, str) and exc.code
