"""encode/decode: limits that keep a hostile frame from exhausting memory, and fuzzing of decode + validate."""

from __future__ import annotations

import contextlib

import msgpack
import pytest
from dragd.protocol import ErrorCode, ProtocolError, decode, encode, validate_reply, validate_request
from dragd.protocol.codec import MAX_ARRAY_LEN, MAX_ELEMENTS, MAX_MAP_LEN, MAX_STR_LEN
from dragd.protocol.messages import REPLY_KINDS, REQUESTS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


def test_round_trip_keeps_bytes_strings_and_numbers():
    message = {"v": 1, "id": "a", "data": b"\x00\xff" * 10, "x": -0.5, "n": 2**40, "list": [1, [2]], "none": None}
    assert decode(encode(message), 10_000) == message


def test_frame_over_max_size_is_too_large_before_parsing():
    with pytest.raises(ProtocolError) as info:
        decode(encode({"data": b"x" * 100}), 50)
    assert info.value.code == ErrorCode.TOO_LARGE


@pytest.mark.parametrize(
    ("frame", "text"),
    [
        (b"", "valid msgpack"),
        (b"\xc1", "valid msgpack"),  # never-used type byte
        (msgpack.packb([1, 2]), "single msgpack map"),
        (msgpack.packb(5), "single msgpack map"),
        (msgpack.packb({"a": 1}) + b"\x00", "valid msgpack"),  # trailing bytes
        (msgpack.packb({1: 2}), "valid msgpack"),  # non-string key (strict_map_key)
        (b"\x81\xa1a\xc4\x05abc", "valid msgpack"),  # truncated bin
        (b"\x81\xa1a\xa2\xff\xfe", "valid msgpack"),  # invalid UTF-8
        (b"\x91" * 5000 + b"\x00", "valid msgpack"),  # nesting deeper than msgpack's stack
        (msgpack.packb({"t": msgpack.ExtType(5, b"abc")}), "valid msgpack"),
        (b"\x81\xa1t\xd7\xff" + b"\x00" * 8, "valid msgpack"),  # timestamp extension
        (b"\x82\xa1a\x01\xa1a\x02", "duplicate key"),
    ],
)
def test_malformed_frames_are_bad_requests(frame, text):
    with pytest.raises(ProtocolError) as info:
        decode(frame, 1 << 20)
    assert info.value.code in (ErrorCode.BAD_REQUEST, ErrorCode.TOO_LARGE)
    assert text in info.value.message


def test_zero_length_extension_is_refused():
    with pytest.raises(ProtocolError, match="extension"):
        decode(b"\x81\xa1t\xc7\x00\x05", 1 << 20)


@pytest.mark.parametrize(
    "obj",
    [
        {"s": "x" * (MAX_STR_LEN + 1)},
        {"a": [0] * (MAX_ARRAY_LEN + 1)},
        {f"k{i}": i for i in range(MAX_MAP_LEN + 1)},
    ],
    ids=["string", "array", "map"],
)
def test_per_container_limits(obj):
    with pytest.raises(ProtocolError):
        decode(msgpack.packb(obj), 1 << 24)


def test_total_element_budget_stops_many_small_arrays():
    # 40 arrays of 4000 tiny ints: each within the array limit, together 160,000 Python objects from ~160 kB.
    frame = msgpack.packb({"a": [[0] * 4000 for _ in range(40)]})
    assert len(frame) < 200_000
    with pytest.raises(ProtocolError) as info:
        decode(frame, 1 << 20)
    assert info.value.code == ErrorCode.TOO_LARGE and str(MAX_ELEMENTS) in info.value.message


def test_header_claiming_huge_array_fails_without_allocating():
    frame = b"\x81\xa1a\xdd\xff\xff\xff\xff"  # array32 claiming 4 billion items, none present
    with pytest.raises(ProtocolError):
        decode(frame, 1 << 20)


def test_unencodable_message_is_internal_error():
    with pytest.raises(ProtocolError) as info:
        encode({"x": object()})
    assert info.value.code == ErrorCode.INTERNAL


# ---- fuzzing: nothing but ProtocolError, ever ---------------------------------------------------------------

scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats() | st.text(max_size=20) \
    | st.binary(max_size=40)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=5)
                      | st.dictionaries(st.text(max_size=10), inner, max_size=5), max_leaves=30)
field_names = st.sampled_from(
    ["session", "points", "handle", "target", "options", "image", "mask", "mode", "width", "height", "stride",
     "data", "seed", "model", "truncation", "client", "protocol", "target", "region", "max_steps", "step",
     "loss", "code", "message", "details", "sessions", "models", "limits"]
) | st.text(max_size=8)


@st.composite
def message_like(draw, kinds):
    """Maps that look like messages (right envelope, plausible field names) so fuzzing reaches deep checks."""
    obj = draw(st.dictionaries(field_names, values, max_size=6))
    obj["v"] = draw(st.sampled_from([1, 1, 1, 2, "1", None]))
    obj["id"] = draw(st.one_of(st.integers(), st.text(max_size=5), st.none()))
    obj["type"] = draw(st.sampled_from(kinds) | st.text(max_size=5))
    if draw(st.booleans()):
        obj["request_type"] = draw(st.sampled_from(list(REQUESTS)))
    return obj


fuzz = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@fuzz
@given(st.binary(max_size=200))
def test_decode_of_arbitrary_bytes_raises_only_protocol_error(frame):
    with contextlib.suppress(ProtocolError):
        validate_request(decode(frame, 1000))


@fuzz
@given(values)
def test_encoded_arbitrary_objects_raise_only_protocol_error(obj):
    try:
        frame = msgpack.packb(obj, use_bin_type=True)
    except (OverflowError, ValueError):
        return
    for validate in (validate_request, validate_reply):
        with contextlib.suppress(ProtocolError):
            validate(decode(frame, 1 << 20))


@fuzz
@given(message_like(list(REQUESTS)))
def test_request_like_maps_raise_only_protocol_error(obj):
    try:
        validate_request(obj)
    except ProtocolError as exc:
        assert exc.code in ErrorCode.WIRE_CODES


@fuzz
@given(message_like(list(REPLY_KINDS)))
def test_reply_like_maps_raise_only_protocol_error(obj):
    with contextlib.suppress(ProtocolError):
        validate_reply(obj)
