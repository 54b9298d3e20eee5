"""The dragd wire protocol (SPEC.md) and its pure-Python client.

Imports only the standard library, pyzmq and msgpack, and only relatively inside the package, so the editor
plugins can vendor a copy of this folder under their own package. pyzmq and msgpack are imported only when
something needs them (the client, the codec, the sockets): a plugin can read the limits, messages and texts in
an editor whose Python lacks them, and say what to install.
"""

from importlib import import_module
from typing import Any

from .errors import DragdError, DragdTimeout, ErrorCode, ProtocolError
from .images import Image, mask_bounds, mask_is_full, paste, swap_red_blue
from .limits import DEFAULT_ADDRESS, DEFAULT_LIMITS, PROTOCOL_VERSION, SUPPORTED_PROTOCOLS, Limits
from .messages import (
    REQUESTS,
    RESULTS,
    CancelRequest,
    CancelResult,
    Capability,
    CloseSessionRequest,
    CloseSessionResult,
    DragOptions,
    DragProgress,
    DragRequest,
    DragResult,
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
    Quality,
    RedoRequest,
    Reply,
    Request,
    SessionInfoRequest,
    SessionInfoResult,
    ShutdownRequest,
    ShutdownResult,
    StatusRequest,
    StatusResult,
    Transform,
    UndoRequest,
    Waiting,
    error_message,
    error_message_from,
    request_message,
    validate_reply,
    validate_request,
)

_NEEDS_ZMQ_OR_MSGPACK = {"DragdClient": "client", "to_point_pairs": "client", "LiveDrag": "live", "decode": "codec",
                         "encode": "codec", "dealer_socket": "transport", "router_socket": "transport",
                         "resolve_address": "transport"}


def __getattr__(name: str) -> Any:
    """The names that need pyzmq or msgpack, imported on first use (PEP 562)."""
    module = _NEEDS_ZMQ_OR_MSGPACK.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f".{module}", __name__), name)

__all__ = [
    "DEFAULT_ADDRESS", "DEFAULT_LIMITS", "PROTOCOL_VERSION", "REQUESTS", "RESULTS", "SUPPORTED_PROTOCOLS",
    "CancelRequest", "CancelResult", "Capability", "CloseSessionRequest", "CloseSessionResult", "DragOptions",
    "DragProgress", "DragRequest", "DragResult", "DragdClient", "LiveDrag", "DragdError", "DragdTimeout", "ErrorBody",
    "ErrorCode", "GenerateRequest", "GenerateResult", "HeartbeatRequest", "HeartbeatResult", "SessionInfoRequest",
    "SessionInfoResult", "resolve_address", "HelloRequest",
    "HelloResult", "HistoryResult", "Image", "InversionOptions", "InversionProgress", "Limits", "ListModelsRequest",
    "ListModelsResult", "LivePoint", "LiveUpdateRequest", "LiveUpdateResult", "Memory", "ModelInfo",
    "OpenSessionRequest", "OpenSessionResult", "PingRequest",
    "PingResult", "PointPair", "ProtocolError", "Quality", "RedoRequest", "Reply", "Request", "ShutdownRequest",
    "ShutdownResult", "StatusRequest", "StatusResult", "Transform", "UndoRequest", "Waiting", "dealer_socket",
    "decode", "encode", "error_message", "error_message_from", "mask_bounds", "mask_is_full", "paste",
    "request_message", "router_socket", "swap_red_blue", "to_point_pairs", "validate_reply", "validate_request",
]
