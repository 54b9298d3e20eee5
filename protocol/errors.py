"""Error codes and the exceptions every side of the protocol raises.

`DragdError` is the one exception a plugin needs to catch: error replies from the daemon, invalid messages
(`ProtocolError`) and an unresponsive daemon (`DragdTimeout`) all derive from it, and each carries a stable
`code` plus a `message` written for a human.
"""

from __future__ import annotations

from typing import Any


class ErrorCode:
    """The stable error codes of the wire protocol (SPEC.md, "Errors")."""

    BAD_REQUEST = "bad_request"  # malformed frame, wrong field types, missing/extra fields, values out of range
    UNSUPPORTED = "unsupported"  # well-formed, but this daemon cannot do it (unknown type, inversion missing)
    VERSION_MISMATCH = "version_mismatch"  # the client speaks a protocol version the daemon does not
    UNKNOWN_SESSION = "unknown_session"  # no such session (never opened, closed, or expired)
    UNKNOWN_MODEL = "unknown_model"  # no model of that name in the daemon's catalogue
    BAD_MODEL = "bad_model"  # the model's file cannot be used (damaged, not a generator, unsafe, unsupported)
    TOO_LARGE = "too_large"  # a frame, image or string exceeds a size limit
    LIMIT_EXCEEDED = "limit_exceeded"  # a count limit: too many sessions, points, steps
    BUSY = "busy"  # the daemon's queue is full; try again later
    CANCELLED = "cancelled"  # the request was cancelled before it could produce its result
    INTERNAL = "internal"  # a bug or a failure inside the daemon (out of memory, ...)
    NOT_FOUND = "not_found"  # a cancel target that is not (or no longer) in flight; a missing file

    # Client-side only: never sent on the wire, raised by the client library itself.
    TIMEOUT = "timeout"  # the daemon did not answer in time (dead, wedged, or unreachable)
    BAD_REPLY = "bad_reply"  # the daemon sent something that is not a valid reply
    UNAVAILABLE = "unavailable"  # no daemon answers and none could be started

    WIRE_CODES = frozenset(
        {
            BAD_REQUEST, UNSUPPORTED, VERSION_MISMATCH, UNKNOWN_SESSION, UNKNOWN_MODEL, BAD_MODEL, TOO_LARGE,
            LIMIT_EXCEEDED, BUSY, CANCELLED, INTERNAL, NOT_FOUND,
        }
    )


class DragdError(Exception):
    """Something went wrong talking to dragd; `code` is an `ErrorCode`, `message` is for the user."""

    def __init__(self, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.details = details


class ProtocolError(DragdError):
    """A message failed decoding or validation.

    `request_id` and `request_type` are filled in when they could be read from the offending message, so the
    daemon can address its error reply to the right request.
    """

    def __init__(
        self,
        code: str,
        message: str,
        details: dict[str, Any] | None = None,
        *,
        request_id: str | int | None = None,
        request_type: str | None = None,
    ) -> None:
        super().__init__(code, message, details)
        self.request_id = request_id
        self.request_type = request_type


class DragdTimeout(DragdError):
    """The daemon did not answer within the timeout (it may have died, or never been started)."""

    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.TIMEOUT, message)
