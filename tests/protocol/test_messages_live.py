"""The live-drag parts of the wire format (SPEC.md, "Live drags"): keys, options, live_update, live progress."""

from __future__ import annotations

import pytest
from dragd.protocol import (
    DEFAULT_LIMITS,
    DragOptions,
    DragProgress,
    DragRequest,
    ErrorCode,
    Limits,
    LivePoint,
    LiveUpdateRequest,
    PointPair,
    ProtocolError,
    decode,
    encode,
    request_message,
    validate_reply,
    validate_request,
)
from dragd.protocol.limits import DEFAULT_LIVE_TIMEOUT_S, LIVE_TIMEOUT_MAX_S
from dragd.protocol.messages import pair_keys, progress_message


def drag(points: list[dict], **options: object) -> dict:
    message = request_message(1, DragRequest("s1", (PointPair((0, 0), (1, 1)),)))
    message["points"] = points
    if options:
        message["options"] = options
    return message


def update(**fields: object) -> dict:
    return {"v": 1, "id": 2, "type": "live_update", "target": 1, **fields}


def refused(message: dict, limits: Limits | None = None) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        validate_request(message, limits)
    return info.value


def test_a_plain_drag_is_on_the_wire_exactly_as_before_live_drags():
    message = request_message(1, DragRequest("s1", (PointPair((0, 0), (1, 1)),)))
    assert set(message["points"][0]) == {"handle", "target"}
    assert "live" not in message["options"] and "live_timeout_s" not in message["options"]
    progress = progress_message(1, "drag", DragProgress(1, ((0.0, 0.0),), 0.5))
    assert not {"keys", "revision", "seq", "idle"} & set(progress)


def test_keys_default_to_the_pair_index_and_must_be_unique():
    pairs = (PointPair((0, 0), (1, 1)), PointPair((0, 0), (1, 1), "eye"), PointPair((0, 0), (1, 1)))
    assert pair_keys(pairs) == [0, "eye", 2]
    assert "used by two pairs" in refused(drag([{"handle": [0, 0], "target": [1, 1], "key": "a"}] * 2)).message
    clash = [{"handle": [0, 0], "target": [1, 1]}, {"handle": [0, 0], "target": [1, 1], "key": 0}]
    assert refused(drag(clash)).message.endswith("key 0 is used by two pairs")
    # "1" and 1 are different keys
    validate_request(drag([{"handle": [0, 0], "target": [1, 1], "key": "1"},
                           {"handle": [0, 0], "target": [1, 1], "key": 1}]))


@pytest.mark.parametrize(("key", "code"), [("", ErrorCode.BAD_REQUEST), ("k" * 65, ErrorCode.TOO_LARGE),
                                            (True, ErrorCode.BAD_REQUEST), (1.5, ErrorCode.BAD_REQUEST),
                                            ([1], ErrorCode.BAD_REQUEST)])
def test_bad_keys_are_refused(key, code):
    assert refused(drag([{"handle": [0, 0], "target": [1, 1], "key": key}])).code == code
    assert refused(update(revision=1, points=[{"key": key, "target": [1, 1]}])).code == code


def test_live_options_have_their_ranges_and_defaults():
    assert DragOptions().live is False and DragOptions().live_timeout_s is None
    assert 0 < DEFAULT_LIVE_TIMEOUT_S <= LIVE_TIMEOUT_MAX_S
    good = validate_request(drag([{"handle": [0, 0], "target": [1, 1]}], live=True, live_timeout_s=LIVE_TIMEOUT_MAX_S))
    assert good.body.options.live and good.body.options.live_timeout_s == LIVE_TIMEOUT_MAX_S
    for timeout in (0, -1, LIVE_TIMEOUT_MAX_S + 1):
        assert "live_timeout_s" in refused(drag([{"handle": [0, 0], "target": [1, 1]}], live=True,
                                                live_timeout_s=timeout)).message
    assert "live" in refused(drag([{"handle": [0, 0], "target": [1, 1]}], live=1)).message


def test_live_update_rules():
    ok = validate_request(update(revision=3, points=[{"key": "a", "target": [1, 2]},
                                                      {"key": 5, "handle": [0, 0], "target": [2, 2]}], seen=4))
    assert ok.body == LiveUpdateRequest(1, 3, (LivePoint("a", (1.0, 2.0)), LivePoint(5, (2.0, 2.0), (0.0, 0.0))), 4)
    assert validate_request(update(seen=1)).body.revision is None  # an acknowledgement alone
    assert validate_request(update(commit=True)).body.commit
    assert "need a revision" in refused(update(points=[{"key": "a", "target": [1, 2]}])).message
    assert "used by two pairs" in refused(update(revision=1, points=[{"key": "a", "target": [1, 2]}] * 2)).message
    assert "at least 1" in refused(update(revision=1, points=[])).message
    assert refused(update(revision=0)).code == ErrorCode.BAD_REQUEST
    assert refused(update(seen=-1)).code == ErrorCode.BAD_REQUEST
    assert "missing field 'target'" in refused({"v": 1, "id": 2, "type": "live_update"}).message
    assert "missing field 'target'" in refused(update(revision=1, points=[{"key": "a"}])).message
    many = update(revision=1, points=[{"key": i, "target": [1, 1]} for i in range(3)])
    assert refused(many, Limits(max_points=2)).code == ErrorCode.LIMIT_EXCEEDED
    assert "finite" in refused(update(revision=1, points=[{"key": "a", "target": [float("nan"), 1]}])).message


def reply(**fields: object) -> dict:
    return {"v": 1, "id": 1, "type": "progress", "request_type": "drag", "step": 1, "points": [[1, 2]],
            "loss": 0.5, **fields}


def test_live_progress_has_all_its_fields_or_none():
    body = validate_reply(decode(encode(reply(keys=["a"], revision=0, seq=1, idle=False)),
                                 DEFAULT_LIMITS.max_frame_bytes)).body
    assert body.live and body.keys == ("a",) and body.seq == 1 and body.revision == 0 and body.idle is False
    assert not validate_reply(reply()).body.live
    with pytest.raises(ProtocolError, match="together"):
        validate_reply(reply(keys=["a"], seq=1))
    with pytest.raises(ProtocolError, match="1 keys for 2 points"):
        validate_reply(reply(points=[[1, 2], [3, 4]], keys=["a"], revision=0, seq=1, idle=True))
    with pytest.raises(ProtocolError, match="seq"):
        validate_reply(reply(keys=["a"], revision=0, seq=0, idle=True))


def test_live_results_end_committed_or_timeout_and_name_their_keys():
    base = {"v": 1, "id": 1, "type": "result", "request_type": "drag", "steps": 3, "points": [[1, 2]],
            "reached": False, "image": {"mode": "RGBA", "width": 1, "height": 1, "stride": 4, "data": bytes(4)},
            "offset": [0, 0], "history_index": 1}
    for stopped in ("committed", "timeout"):
        assert validate_reply({**base, "stopped": stopped, "keys": ["a"]}).body.stopped == stopped
    with pytest.raises(ProtocolError, match="2 keys for 1 points"):
        validate_reply({**base, "stopped": "committed", "keys": ["a", "b"]})
    answer = validate_reply({"v": 1, "id": 2, "type": "result", "request_type": "live_update", "revision": 4,
                             "idle": True}).body
    assert (answer.revision, answer.idle) == (4, True)
