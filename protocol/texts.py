"""The sentences both plugins show the user about the daemon, its address and the options, in one place.

Each names the real fix. `where` is the editor's own place for a setting (GIMP: its settings file, by path;
Krita: the docker's settings), so a message never sends the user looking for a place that does not exist.
Pure standard library (the plugins vendor this folder).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .errors import DragdError, ErrorCode, ProtocolError
from .hosts import host_problem
from .limits import DEFAULT_ADDRESS, DEFAULT_LIVE_TIMEOUT_S, Limits

RESULT_LAYER_NAME = "DragGAN result"  # result layers are named "DragGAN result N"
# What to do about the daemon's `bad_model` (the model's file cannot be used; its message says why).
BAD_MODEL_ADVICE = ("Pick another model, or fetch this one again with `dragd models download NAME`; "
                    "`dragd models` lists the models the daemon can use.")
ADDRESS_FORMS = "tcp://HOST:PORT, or ipc:///PATH for a socket file"


def address_problem(address: str) -> str | None:
    """None for an address a dragd client can connect to; else what is wrong with it, in words."""
    if not address or address != address.strip():
        return "it is empty" if not address.strip() else "it has spaces around it"
    transport, sep, rest = address.partition("://")
    if not sep:
        return "it has no transport (it should start with tcp:// or ipc://)"
    if transport == "tcp":
        host, colon, port = rest.rpartition(":")
        if not colon or not host:
            return "a tcp address needs a host and a port"
        if not port.isdigit() or not 0 < int(port) < 65536:
            return f"the port {port!r} is not a number from 1 to 65535"
        bracketed = host.startswith("[") and host.endswith("]")
        problem = host_problem(host[1:-1] if bracketed else host, bracketed)
        return None if problem is None else f"the host {problem}"
    if transport in ("ipc", "inproc"):
        return None if rest else f"an {transport} address needs a path after {transport}://"
    return f"the transport {transport!r} is not one dragd speaks (tcp or ipc)"


def bad_address(address: str, problem: str, where: str) -> str:
    return (f"The daemon address {address!r} cannot be used: {problem}. An address looks like {DEFAULT_ADDRESS} "
            f"({ADDRESS_FORMS}). Set it in {where}.")


def check_address(address: str, where: str) -> None:
    """Raises DragdError(bad_request) with `bad_address`'s sentence for an address that cannot work."""
    problem = address_problem(address)
    if problem is not None:
        raise DragdError(ErrorCode.BAD_REQUEST, bad_address(address, problem, where))


def live_ended(timeout_s: float | None = None) -> str:
    """How a live drag that timed out (`stopped: "timeout"`) ended; `timeout_s` its `live_timeout_s` option
    (None: the default)."""
    minutes = (timeout_s or DEFAULT_LIVE_TIMEOUT_S) / 60
    return f"Live ended after {minutes:g} minutes without changes"


def waiting(position: int) -> str | None:
    """What to show while a request waits behind others; None once it runs (position 0: nothing to say)."""
    if position <= 0:
        return None
    return f"Waiting for the daemon ({position} request{'s' if position != 1 else ''} ahead)..."


def command_not_found(command: str, where: str) -> str:
    return (f"Cannot start the dragd daemon: the command {command!r} was not found. Install dragd (python -m "
            f"pip install dragd), or set the full path of the daemon command in {where}.")


def option_problem(options: Any, limits: Limits, names: dict[str, str] | None = None) -> str | None:
    """None when the daemon would accept `options` (a messages.DragOptions or GenerateRequest) under `limits`;
    else a sentence naming the option as the user knows it (`names`: protocol field -> the editor's label)."""
    from .wire import from_wire, to_wire

    try:
        from_wire(type(options), to_wire(options), "", limits)
    except ProtocolError as exc:
        field, _, problem = exc.message.partition(": ")
        label = (names or {}).get(field.lstrip("."), field.lstrip(".").replace("_", " "))
        return f"The option {label} is out of range: {problem}. Nothing was changed."
    return None


def next_result_name(existing: Iterable[str]) -> str:
    """"DragGAN result N" with the first N not yet used among `existing` layer names."""
    taken = set(existing)
    number = 1
    while f"{RESULT_LAYER_NAME} {number}" in taken:
        number += 1
    return f"{RESULT_LAYER_NAME} {number}"
