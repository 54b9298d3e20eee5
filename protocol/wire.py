"""Turning decoded msgpack maps into typed dataclasses and back, with strict checks.

Every message type is a frozen dataclass whose fields are declared with `wire(check, default)`: the field name
is the key on the wire and `check` both validates the decoded value and converts it to its Python form
(lists of coordinates become tuples, nested maps become dataclasses). `from_wire` rejects missing, extra and
mistyped fields with a `ProtocolError` naming the offending path, e.g. `drag.options.step_size`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from .errors import ErrorCode, ProtocolError

if TYPE_CHECKING:
    from .limits import Limits

T = TypeVar("T")

# A check validates one decoded value and returns its Python form. `path` names the value in error messages.
Check = Callable[[Any, str, "Limits"], Any]

MAX_ID_LENGTH = 128  # request and session ids
MAX_NAME_LENGTH = 256  # model names, client names, stages, capabilities
MAX_TEXT_LENGTH = 16384  # human-readable text: descriptions, error messages
MAX_KEY_LENGTH = 64  # a point pair's key (live drags)
MAX_COORDINATE = 1e6  # |x|, |y| of any point; real bounds are checked against the image by the daemon
INT64_MIN, UINT64_MAX = -(2**63), 2**64 - 1  # what msgpack can carry


def bad(path: str, problem: str, code: str = ErrorCode.BAD_REQUEST) -> ProtocolError:
    return ProtocolError(code, f"{path}: {problem}")


def wire(check: Check, default: Any = dataclasses.MISSING, *, sparse: bool = False) -> Any:
    """Declare a dataclass field that travels on the wire, validated by `check`; omit `default` to require it.
    `sparse`: `to_wire` leaves the field out while it holds its default, so a message that does not use a field
    added later (live drags) is byte for byte what it was before."""
    return dataclasses.field(default=default, metadata={"check": check, "sparse": sparse})


def from_wire(cls: type[T], obj: Any, path: str, limits: Limits) -> T:
    """Build `cls` from a decoded map, checking every field; unknown keys are an error."""
    if not isinstance(obj, dict):
        raise bad(path, f"expected a map, got {type_name(obj)}")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    extra = [key for key in obj if key not in fields]
    if extra:
        raise bad(path, f"unknown field {shorten(extra[0])!r}")
    values = {}
    for name, field in fields.items():
        if name in obj:
            values[name] = field.metadata["check"](obj[name], f"{path}.{name}", limits)
        elif field.default is dataclasses.MISSING:
            raise bad(path, f"missing field {name!r}")
    instance = cls(**values)
    cross_check = getattr(instance, "cross_check", None)
    if cross_check is not None:  # rules between fields, e.g. a mask must match its image's size
        cross_check(path, limits)
    return instance


def to_wire(value: Any) -> Any:
    """The msgpack-ready form of a dataclass (a map), tuple (an array) or plain value."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_wire(getattr(value, f.name)) for f in dataclasses.fields(value)
                if not (f.metadata.get("sparse") and getattr(value, f.name) == f.default)}
    if isinstance(value, (tuple, list)):
        return [to_wire(item) for item in value]
    return value


def type_name(value: Any) -> str:
    return {
        bool: "a boolean", int: "an integer", float: "a float", str: "a string", bytes: "bytes",
        list: "an array", dict: "a map", type(None): "nil",
    }.get(type(value), type(value).__name__)


def shorten(text: Any, limit: int = 40) -> str:
    text = str(text)
    return text if len(text) <= limit else text[:limit] + "..."


# ---- checks -------------------------------------------------------------------------------------------------


def integer(lo: int = INT64_MIN, hi: int = UINT64_MAX, *, limit: str | None = None,
            over: str = ErrorCode.LIMIT_EXCEEDED) -> Check:
    """An integer in [lo, hi]; with `limit`, the upper bound is that attribute of the daemon's `Limits`
    and exceeding it is the error `over`."""

    def check(value: Any, path: str, limits: Limits) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise bad(path, f"expected an integer, got {type_name(value)}")
        upper = hi if limit is None else getattr(limits, limit)
        if value < lo:
            raise bad(path, f"{value} is below the minimum {lo}")
        if value > upper:
            raise bad(path, f"{value} is above the maximum {upper}", over if limit else ErrorCode.BAD_REQUEST)
        return value

    return check


def number(lo: float = -math.inf, hi: float = math.inf, *, lo_open: bool = False,
           allow_inf: bool = False) -> Check:
    """A finite float (integers accepted) in [lo, hi], or (lo, hi] with `lo_open`; NaN is always rejected."""

    def check(value: Any, path: str, limits: Limits) -> float:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise bad(path, f"expected a number, got {type_name(value)}")
        value = float(value)
        if math.isnan(value) or (math.isinf(value) and not allow_inf):
            raise bad(path, f"expected a finite number, got {value}")
        if value < lo or (lo_open and value == lo):
            raise bad(path, f"{value} is below the minimum {lo}" + (" (exclusive)" if lo_open else ""))
        if value > hi:
            raise bad(path, f"{value} is above the maximum {hi}")
        return value

    return check


def string(max_length: int = MAX_NAME_LENGTH, *, min_length: int = 0) -> Check:
    def check(value: Any, path: str, limits: Limits) -> str:
        if not isinstance(value, str):
            raise bad(path, f"expected a string, got {type_name(value)}")
        if len(value) < min_length:
            raise bad(path, "must not be empty" if min_length == 1 else f"shorter than {min_length}")
        if len(value) > max_length:
            raise bad(path, f"longer than {max_length} characters", ErrorCode.TOO_LARGE)
        return value

    return check


def boolean(value: Any, path: str, limits: Limits) -> bool:
    if not isinstance(value, bool):
        raise bad(path, f"expected a boolean, got {type_name(value)}")
    return value


def one_of(*choices: str) -> Check:
    def check(value: Any, path: str, limits: Limits) -> str:
        if not isinstance(value, str) or value not in choices:
            raise bad(path, f"expected one of {', '.join(map(repr, choices))}, got {shorten(repr(value))}")
        return value

    return check


def optional(inner: Check) -> Check:
    """`inner`, or nil (None)."""

    def check(value: Any, path: str, limits: Limits) -> Any:
        return None if value is None else inner(value, path, limits)

    return check


def array(item: Check, *, min_length: int = 0, max_length: int = 4096, limit: str | None = None) -> Check:
    """An array of `item`s, returned as a tuple; with `limit`, the maximum length comes from `Limits`."""

    def check(value: Any, path: str, limits: Limits) -> tuple[Any, ...]:
        if not isinstance(value, list):
            raise bad(path, f"expected an array, got {type_name(value)}")
        upper = max_length if limit is None else getattr(limits, limit)
        if len(value) > upper:
            code = ErrorCode.LIMIT_EXCEEDED if limit else ErrorCode.TOO_LARGE
            raise bad(path, f"{len(value)} items, at most {upper} allowed", code)
        if len(value) < min_length:
            raise bad(path, f"{len(value)} items, at least {min_length} needed")
        return tuple(item(element, f"{path}[{index}]", limits) for index, element in enumerate(value))

    return check


def fixed(*items: Check) -> Check:
    """An array of exactly len(items) values, each with its own check, returned as a tuple."""

    def check(value: Any, path: str, limits: Limits) -> tuple[Any, ...]:
        if not isinstance(value, list) or len(value) != len(items):
            raise bad(path, f"expected an array of {len(items)} items, got {shorten(repr(value))}")
        pairs = enumerate(zip(items, value, strict=True))
        return tuple(c(element, f"{path}[{i}]", limits) for i, (c, element) in pairs)

    return check


def nested(cls: type) -> Check:
    def check(value: Any, path: str, limits: Limits) -> Any:
        return from_wire(cls, value, path, limits)

    return check


def pair_key(value: Any, path: str, limits: Limits) -> str | int:
    """A point pair's key (live drags): a string of 1 to MAX_KEY_LENGTH characters, or an integer."""
    if isinstance(value, str):
        return string(MAX_KEY_LENGTH, min_length=1)(value, path, limits)
    if isinstance(value, int) and not isinstance(value, bool):
        return integer()(value, path, limits)
    raise bad(path, f"expected a string or an integer, got {type_name(value)}")


def identifier(value: Any, path: str, limits: Limits) -> str | int:
    """A request id: a non-empty string of at most MAX_ID_LENGTH characters, or an integer."""
    if isinstance(value, str):
        return string(MAX_ID_LENGTH, min_length=1)(value, path, limits)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise bad(path, f"expected a string or an integer, got {type_name(value)}")


def scalar_map(max_items: int = 32) -> Check:
    """A small map of string keys to scalars (or arrays of scalars), for free-form details."""
    item = _scalar_or_list

    def check(value: Any, path: str, limits: Limits) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise bad(path, f"expected a map, got {type_name(value)}")
        if len(value) > max_items:
            raise bad(path, f"{len(value)} entries, at most {max_items} allowed", ErrorCode.TOO_LARGE)
        result = {}
        for key, element in value.items():
            name = string(MAX_NAME_LENGTH, min_length=1)(key, f"{path} key", limits)
            result[name] = item(element, f"{path}.{name}", limits)
        return result

    return check


def _scalar(value: Any, path: str, limits: Limits) -> Any:
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        return number(allow_inf=True)(value, path, limits)
    if isinstance(value, str):
        return string(MAX_TEXT_LENGTH)(value, path, limits)
    raise bad(path, f"expected a scalar, got {type_name(value)}")


def _scalar_or_list(value: Any, path: str, limits: Limits) -> Any:
    if isinstance(value, list):
        return list(array(_scalar, max_length=256)(value, path, limits))
    return _scalar(value, path, limits)


COORDINATE = number(-MAX_COORDINATE, MAX_COORDINATE)
POINT = fixed(COORDINATE, COORDINATE)  # (x, y), pixel centres at integers (SPEC.md, "Coordinates")
ID = identifier
KEY = pair_key
SESSION = string(MAX_ID_LENGTH, min_length=1)
NAME = string(MAX_NAME_LENGTH)
TEXT = string(MAX_TEXT_LENGTH)
