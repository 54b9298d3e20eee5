"""msgpack encoding of messages, with a decoder that a hostile frame cannot use to exhaust memory.

A frame is bounded by its size, but a small frame of tiny items can still expand a hundredfold into Python
objects. So besides msgpack's per-container length limits, the decoder counts every element of every array and
map it builds and gives up past MAX_ELEMENTS. Big payloads travel as `bin` (bytes), which costs one object.
"""

from __future__ import annotations

from typing import Any

import msgpack

from .errors import ErrorCode, ProtocolError

MAX_STR_LEN = 65536  # bytes of one string (UTF-8)
MAX_ARRAY_LEN = 4096  # items of one array (points, models, ...)
MAX_MAP_LEN = 64  # entries of one map (the largest message has fewer than 20 fields)
MAX_ELEMENTS = 65536  # array items plus map entries in one whole message


class _ElementBudget:
    """msgpack hooks that count the elements of every finished container and stop past the budget."""

    def __init__(self, budget: int) -> None:
        self.left = budget

    def _spend(self, count: int) -> None:
        self.left -= count
        if self.left < 0:
            raise ProtocolError(ErrorCode.TOO_LARGE, f"message has more than {MAX_ELEMENTS} elements")

    def on_list(self, items: list[Any]) -> list[Any]:
        self._spend(len(items))
        return items

    def on_map(self, pairs: list[tuple[Any, Any]]) -> dict[Any, Any]:
        self._spend(len(pairs))
        result = dict(pairs)
        if len(result) != len(pairs):
            raise ProtocolError(ErrorCode.BAD_REQUEST, "map has a duplicate key")
        return result


def _refuse_ext(code: int, data: bytes) -> Any:
    raise ProtocolError(ErrorCode.BAD_REQUEST, f"msgpack extension type {code} is not allowed")


def encode(message: dict[str, Any]) -> bytes:
    """One message (a map, as built by the `messages` module) as one msgpack frame."""
    try:
        return msgpack.packb(message, use_bin_type=True)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ProtocolError(ErrorCode.INTERNAL, f"cannot encode message: {exc}") from exc


def decode(frame: bytes, max_size: int) -> dict[str, Any]:
    """The map in one frame. Raises ProtocolError (and nothing else) for anything that is not one."""
    if not isinstance(frame, (bytes, bytearray, memoryview)):
        raise ProtocolError(ErrorCode.BAD_REQUEST, "frame is not bytes")
    size = len(frame) if not isinstance(frame, memoryview) else frame.nbytes
    if size > max_size:
        raise ProtocolError(ErrorCode.TOO_LARGE, f"frame of {size} bytes exceeds the limit of {max_size}")
    budget = _ElementBudget(MAX_ELEMENTS)
    try:
        obj = msgpack.unpackb(
            frame, raw=False, strict_map_key=True, use_list=True,
            list_hook=budget.on_list, object_pairs_hook=budget.on_map, ext_hook=_refuse_ext,
            max_bin_len=max_size, max_str_len=MAX_STR_LEN, max_array_len=MAX_ARRAY_LEN,
            max_map_len=MAX_MAP_LEN, max_ext_len=0,
        )
    except ProtocolError:
        raise
    except Exception as exc:  # noqa: BLE001 - untrusted bytes: every msgpack failure is a bad frame
        raise ProtocolError(ErrorCode.BAD_REQUEST, f"frame is not valid msgpack: {exc}") from None
    if not isinstance(obj, dict):
        raise ProtocolError(ErrorCode.BAD_REQUEST, "frame must hold a single msgpack map")
    return obj
