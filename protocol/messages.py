"""Every message of the dragd protocol, in one place: fields, types, ranges, defaults (SPEC.md explains them).
The bodies are defined in protocol/bodies.py and protocol/drag_messages.py (the drag's, plain and live), on the
value checks of protocol/fields.py; this module lists them all and builds and checks the envelopes.

Requests arrive as `{"v", "id", "type", ...fields}`; replies as `{"v", "id", "type": "result" | "progress" |
"waiting" | "error", "request_type", ...fields}`. `validate_request` / `validate_reply` turn a decoded map into
a typed `Request` / `Reply` (or raise `ProtocolError`); `Request.result(...)` and friends, `request_message`
and `error_message` build the maps to `encode`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .bodies import (
    ENVELOPE_KEYS,
    PROGRESS,
    REPLY_KINDS,
    REQUESTS,
    RESULTS,
    CancelRequest,
    CancelResult,
    Capability,
    CloseSessionRequest,
    CloseSessionResult,
    ErrorBody,
    GenerateRequest,
    GenerateResult,
    HeartbeatRequest,
    HeartbeatResult,
    HelloRequest,
    HelloResult,
    HistoryResult,
    InversionOptions,
    InversionProgress,
    ListModelsRequest,
    ListModelsResult,
    Memory,
    ModelInfo,
    OpenSessionRequest,
    OpenSessionResult,
    PingRequest,
    PingResult,
    Quality,
    RedoRequest,
    RequestBody,
    RestoreRequest,
    RestoreResult,
    SessionInfoRequest,
    SessionInfoResult,
    ShutdownRequest,
    ShutdownResult,
    StateRequest,
    StateResult,
    StatusRequest,
    StatusResult,
    Transform,
    UndoRequest,
    Waiting,
)
from .drag_messages import (
    DragOptions,
    DragProgress,
    DragRequest,
    DragResult,
    LivePoint,
    LiveUpdateRequest,
    LiveUpdateResult,
    PointPair,
    pair_keys,
)
from .errors import DragdError, ErrorCode, ProtocolError
from .fields import PairKey, Point, RequestId
from .limits import PROTOCOL_VERSION, SUPPORTED_PROTOCOLS, Limits
from .wire import ID, NAME, bad, from_wire, optional, shorten, to_wire, type_name

# ---- typed envelopes ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    """A validated request. The daemon answers it with the builders below."""

    id: RequestId
    body: RequestBody

    @property
    def type(self) -> str:
        return self.body.TYPE

    def result(self, body: Any) -> dict[str, Any]:
        return result_message(self.id, self.type, body)

    def progress(self, body: Any) -> dict[str, Any]:
        return progress_message(self.id, self.type, body)

    def waiting(self, position: int) -> dict[str, Any]:
        return waiting_message(self.id, self.type, position)

    def error(self, code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
        return error_message(self.id, code, message, details, request_type=self.type)


@dataclass(frozen=True)
class Reply:
    """A validated reply; `body` is a result, progress, `Waiting` or `ErrorBody` dataclass."""

    id: RequestId | None  # None only for an error about a message whose id could not be read
    kind: str  # one of REPLY_KINDS
    request_type: str | None  # None only for such an error
    body: Any


# ---- building messages ---------------------------------------------------------------------------------------


def request_message(request_id: RequestId, body: RequestBody) -> dict[str, Any]:
    return {"v": PROTOCOL_VERSION, "id": request_id, "type": body.TYPE, **to_wire(body)}


def result_message(request_id: RequestId, request_type: str, body: Any) -> dict[str, Any]:
    expected = RESULTS.get(request_type)
    if expected is None or not isinstance(body, expected):
        raise TypeError(f"a {request_type} request's result is a {getattr(expected, '__name__', '?')}, "
                        f"not {type(body).__name__}")
    return _reply(request_id, "result", request_type, body)


def progress_message(request_id: RequestId, request_type: str, body: Any) -> dict[str, Any]:
    expected = PROGRESS.get(request_type)
    if expected is None or not isinstance(body, expected):
        raise TypeError(f"{request_type} has no progress of type {type(body).__name__}")
    return _reply(request_id, "progress", request_type, body)


def waiting_message(request_id: RequestId, request_type: str, position: int) -> dict[str, Any]:
    return _reply(request_id, "waiting", request_type, Waiting(position))


def error_message(request_id: RequestId | None, code: str, message: str, details: dict[str, Any] | None = None,
                  request_type: str | None = None) -> dict[str, Any]:
    """An error reply; the message is cut to fit the protocol's text limit so the reply stays valid."""
    return _reply(request_id, "error", request_type, ErrorBody(code, shorten(message, 16000), details))


def error_message_from(exc: DragdError, request_id: RequestId | None = None,
                       request_type: str | None = None) -> dict[str, Any]:
    """The error reply for an exception; a ProtocolError supplies the id and type it could read."""
    if isinstance(exc, ProtocolError):
        request_id = exc.request_id if request_id is None else request_id
        request_type = exc.request_type if request_type is None else request_type
    return error_message(request_id, exc.code, exc.message, exc.details, request_type)


def _reply(request_id: RequestId | None, kind: str, request_type: str | None, body: Any) -> dict[str, Any]:
    return {"v": PROTOCOL_VERSION, "id": request_id, "type": kind, "request_type": request_type,
            **to_wire(body)}


# ---- validating messages ----------------------------------------------------------------------------------


def validate_request(obj: Any, limits: Limits | None = None) -> Request:
    """The typed request in a decoded map, or ProtocolError (carrying the id and type when readable)."""
    limits = limits or Limits()
    if not isinstance(obj, dict):
        raise ProtocolError(ErrorCode.BAD_REQUEST, f"a message is a map, got {type_name(obj)}")
    request_id = obj.get("id") if _readable_id(obj.get("id")) else None
    raw_type = obj.get("type")
    request_type = raw_type if isinstance(raw_type, str) and raw_type in REQUESTS else None
    try:
        _check_version(obj)
        _check_id(obj, limits)
        if not isinstance(raw_type, str):
            raise bad("type", "missing" if raw_type is None else f"expected a string, got {type_name(raw_type)}")
        cls = REQUESTS.get(raw_type)
        if cls is None:
            raise ProtocolError(ErrorCode.UNSUPPORTED, f"unknown request type {shorten(raw_type)!r}")
        fields = {key: value for key, value in obj.items() if key not in ("v", "id", "type")}
        body = from_wire(cls, fields, raw_type, limits)
        if isinstance(body, HelloRequest) and body.protocol not in SUPPORTED_PROTOCOLS:
            raise _version_mismatch(body.protocol)
    except ProtocolError as exc:
        exc.request_id, exc.request_type = request_id, request_type
        raise
    return Request(obj["id"], body)


def validate_reply(obj: Any, limits: Limits | None = None) -> Reply:
    """The typed reply in a decoded map, or ProtocolError. Errors of any protocol version are accepted."""
    limits = limits or Limits.permissive()
    if not isinstance(obj, dict):
        raise ProtocolError(ErrorCode.BAD_REQUEST, f"a message is a map, got {type_name(obj)}")
    kind = obj.get("type")
    if kind not in REPLY_KINDS:
        raise bad("type", f"expected one of {', '.join(REPLY_KINDS)}, got {shorten(repr(kind))}")
    fields = {key: value for key, value in obj.items() if key not in ENVELOPE_KEYS}
    request_id = obj.get("id") if _readable_id(obj.get("id")) else None
    if kind == "error":
        # The error reply's shape is frozen across versions, so a client learns *why* a daemon refused it.
        if not isinstance(obj.get("v"), int) or isinstance(obj.get("v"), bool):
            raise bad("v", "missing or not an integer")
        optional(ID)(obj.get("id"), "id", limits)
        request_type = optional(NAME)(obj.get("request_type"), "request_type", limits)
        return Reply(obj.get("id"), kind, request_type, from_wire(ErrorBody, fields, "error", limits))
    try:
        _check_version(obj)
        _check_id(obj, limits)
        request_type = obj.get("request_type")
        table = RESULTS if kind == "result" else PROGRESS if kind == "progress" else REQUESTS
        if not isinstance(request_type, str) or request_type not in table:
            raise bad("request_type", f"no {kind} for request type {shorten(repr(request_type))}")
        cls = Waiting if kind == "waiting" else table[request_type]
        body = from_wire(cls, fields, f"{request_type} {kind}", limits)
    except ProtocolError as exc:
        exc.request_id = request_id
        raise
    return Reply(obj["id"], kind, request_type, body)


def _readable_id(value: Any) -> bool:
    try:
        ID(value, "id", Limits())
    except ProtocolError:
        return False
    return True


def _check_id(obj: dict[str, Any], limits: Limits) -> None:
    if "id" not in obj:
        raise bad("id", "missing")
    ID(obj["id"], "id", limits)


def _check_version(obj: dict[str, Any]) -> None:
    version = obj.get("v")
    if not isinstance(version, int) or isinstance(version, bool):
        raise bad("v", "missing" if version is None else f"expected an integer, got {type_name(version)}")
    if version not in SUPPORTED_PROTOCOLS:
        raise _version_mismatch(version)


def _version_mismatch(client_version: int) -> ProtocolError:
    supported = ", ".join(map(str, SUPPORTED_PROTOCOLS))
    return ProtocolError(
        ErrorCode.VERSION_MISMATCH,
        f"protocol version {client_version} is not supported (supported: {supported}); "
        "update the plugin and the daemon to matching releases",
        {"client": client_version, "daemon": PROTOCOL_VERSION, "supported": list(SUPPORTED_PROTOCOLS)},
    )


__all__ = [
    "CancelRequest",
    "CancelResult",
    "Capability",
    "CloseSessionRequest",
    "CloseSessionResult",
    "DragOptions",
    "DragProgress",
    "DragRequest",
    "DragResult",
    "ENVELOPE_KEYS",
    "ErrorBody",
    "GenerateRequest",
    "GenerateResult",
    "HeartbeatRequest",
    "HeartbeatResult",
    "HelloRequest",
    "HelloResult",
    "HistoryResult",
    "InversionOptions",
    "InversionProgress",
    "ListModelsRequest",
    "ListModelsResult",
    "LivePoint",
    "LiveUpdateRequest",
    "LiveUpdateResult",
    "Memory",
    "ModelInfo",
    "OpenSessionRequest",
    "OpenSessionResult",
    "PROGRESS",
    "PairKey",
    "PingRequest",
    "PingResult",
    "Point",
    "PointPair",
    "Quality",
    "REPLY_KINDS",
    "REQUESTS",
    "RESULTS",
    "RedoRequest",
    "Reply",
    "Request",
    "RequestBody",
    "RequestId",
    "RestoreRequest",
    "RestoreResult",
    "SessionInfoRequest",
    "SessionInfoResult",
    "ShutdownRequest",
    "ShutdownResult",
    "StateRequest",
    "StateResult",
    "StatusRequest",
    "StatusResult",
    "Transform",
    "UndoRequest",
    "Waiting",
    "error_message",
    "error_message_from",
    "pair_keys",
    "progress_message",
    "request_message",
    "result_message",
    "validate_reply",
    "validate_request",
    "waiting_message",
]
