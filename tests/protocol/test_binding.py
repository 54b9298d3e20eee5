"""protocol/binding.py: the record an editor keeps beside a layer dragd made."""

from __future__ import annotations

import json
import struct

import pytest
from dragd.protocol.binding import (
    MAX_BINDINGS,
    Binding,
    BindingError,
    Latent,
    decode,
    decode_bindings,
    encode,
    encode_bindings,
    pixels_digest,
)

W_DIM, NUM_WS = 8, 6


def w_plus(seed: float = 0.0) -> bytes:
    return struct.pack(f"<{NUM_WS * W_DIM}f", *[seed + i / 7 for i in range(NUM_WS * W_DIM)])


def binding(**changes: object) -> Binding:
    fields = {"session": "s" * 24, "state": 2, "model": "faces-128-cpu", "kind": "generated",
              "latent": Latent.from_rows(w_plus(), NUM_WS, W_DIM), "frame": (0, 0, 128, 128),
              "pixels": pixels_digest(b"\x01\x02\x03\x04", 1, 1, "RGBA U8"), "seed": 7, "truncation": 0.7}
    fields.update(changes)
    return Binding(**fields)  # type: ignore[arg-type]


def test_round_trip_keeps_every_field_and_the_latent_bit_for_bit() -> None:
    original = binding()
    again = decode(encode(original))
    assert again == original
    assert again.latent is not None and again.latent.full() == w_plus()


def test_a_w_latent_is_stored_as_one_row_and_expands_back() -> None:
    row = struct.pack(f"<{W_DIM}f", *range(W_DIM))
    latent = Latent.from_rows(row * NUM_WS, NUM_WS, W_DIM)
    assert latent.rows == 1 and latent.data == row and latent.full() == row * NUM_WS
    assert decode(encode(binding(latent=latent))).latent == latent
    assert len(encode(binding(latent=latent))) < len(encode(binding()))


def test_digest_depends_on_bytes_size_and_format() -> None:
    data = bytes(range(16))
    base = pixels_digest(data, 2, 2, "RGBA U8")
    assert base == pixels_digest(bytes(data), 2, 2, "RGBA U8")
    assert base != pixels_digest(data[:-1] + b"\xff", 2, 2, "RGBA U8")
    assert base != pixels_digest(data, 4, 1, "RGBA U8")
    assert base != pixels_digest(data, 2, 2, "RGBA U16")
    assert binding(pixels=base).shows(base) and not binding(pixels=base).shows(pixels_digest(data, 4, 1, "RGBA U8"))


@pytest.mark.parametrize("text", [
    b"", b"not json", b"[]", b'{"format": "other"}',
    b'{"format": "dragd-binding", "version": 99}',
    b'{"format": "dragd-binding", "version": 1}',
])
def test_text_that_is_not_a_binding_is_refused(text: bytes) -> None:
    with pytest.raises(BindingError):
        decode(text)


@pytest.mark.parametrize("change", [
    {"state": -1}, {"state": True}, {"session": ""}, {"kind": "painted"}, {"frame": (0, 0, 0, 5)},
    {"frame": (-1, 0, 5, 5)}, {"pixels": "abc"}, {"seed": 2**32}, {"truncation": 5.0}, {"model": ""},
])
def test_invalid_fields_are_refused(change: dict[str, object]) -> None:
    with pytest.raises(BindingError):
        binding(**change)


def test_a_damaged_latent_is_refused() -> None:
    obj = binding().to_json()
    obj["latent"]["data"] = obj["latent"]["data"][:-8]  # cut: wrong length
    with pytest.raises(BindingError):
        decode(json.dumps(obj))
    obj = binding().to_json()
    obj["latent"]["data"] = "!!!!"
    with pytest.raises(BindingError):
        decode(json.dumps(obj))
    nan = struct.pack(f"<{NUM_WS * W_DIM}f", *([float("nan")] * NUM_WS * W_DIM))
    with pytest.raises(BindingError):
        Latent(nan, NUM_WS, W_DIM, NUM_WS)


def test_document_map_skips_bad_entries_and_keeps_the_newest() -> None:
    good = {f"layer{i}": binding(state=i) for i in range(MAX_BINDINGS + 3)}
    decoded = decode_bindings(encode_bindings(good))
    assert list(decoded) == [f"layer{i}" for i in range(3, MAX_BINDINGS + 3)]
    assert decoded["layer10"] == good["layer10"]
    obj = json.loads(encode_bindings({"a": binding(), "b": binding(state=1)}))
    obj["layers"]["b"]["kind"] = "painted"
    assert list(decode_bindings(json.dumps(obj))) == ["a"]
    with pytest.raises(BindingError):
        decode_bindings(encode(binding()))  # a single binding is not a map
