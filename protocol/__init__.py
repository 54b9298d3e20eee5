"""The dragd wire protocol (SPEC.md) and its pure-Python client.

Imports only the standard library, pyzmq and msgpack, and only relatively inside the package, so the editor
plugins can vendor a copy of this folder under their own package.
"""

from .client import DragdClient, to_point_pairs
from .codec import decode, encode
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
from .transport import dealer_socket, resolve_address, router_socket

__all__ = [
    "DEFAULT_ADDRESS", "DEFAULT_LIMITS", "PROTOCOL_VERSION", "REQUESTS", "RESULTS", "SUPPORTED_PROTOCOLS",
    "CancelRequest", "CancelResult", "Capability", "CloseSessionRequest", "CloseSessionResult", "DragOptions",
    "DragProgress", "DragRequest", "DragResult", "DragdClient", "DragdError", "DragdTimeout", "ErrorBody",
    "ErrorCode", "GenerateRequest", "GenerateResult", "HeartbeatRequest", "HeartbeatResult", "SessionInfoRequest",
    "SessionInfoResult", "resolve_address", "HelloRequest",
    "HelloResult", "HistoryResult", "Image", "InversionOptions", "InversionProgress", "Limits", "ListModelsRequest",
    "ListModelsResult", "Memory", "ModelInfo", "OpenSessionRequest", "OpenSessionResult", "PingRequest",
    "PingResult", "PointPair", "ProtocolError", "Quality", "RedoRequest", "Reply", "Request", "ShutdownRequest",
    "ShutdownResult", "StatusRequest", "StatusResult", "Transform", "UndoRequest", "Waiting", "dealer_socket",
    "decode", "encode", "error_message", "error_message_from", "mask_bounds", "mask_is_full", "paste",
    "request_message", "router_socket", "swap_red_blue", "to_point_pairs", "validate_reply", "validate_request",
]
