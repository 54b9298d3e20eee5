"""Binding the daemon's socket, checked and done before torch loads, so `dragd serve` fails in a second with
one clear line: a malformed address, a port out of range, a non-loopback address without explicit keys, an
address another daemon serves, a port in use. Nothing here imports torch.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import stat
from dataclasses import dataclass
from pathlib import Path

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

from ...protocol.transport import (
    DEFAULT_CLIENT_NAME,
    AddressError,
    Endpoint,
    ensure_keys_folder,
    parse_address,
    router_socket,
)
from .config import ServerConfig
from .security import CurveKeys, SecurityError, is_local_address, load_server_keys, start_authenticator


class StartError(RuntimeError):
    """The daemon cannot start; the message is one line for the user."""


def server_keys(config: ServerConfig) -> CurveKeys:
    """The keys the daemon serves with: `config.curve_keys`, else the user's own folder (made on first run).
    A non-loopback address needs an explicit keys folder: the user's own client key must not be the pass to a
    daemon other computers can reach by accident."""
    try:
        parse_address(config.address)
    except AddressError as exc:
        raise SecurityError(str(exc)) from None
    if config.curve_keys is None and not is_local_address(config.address):
        raise SecurityError(f"refusing to listen on {config.address} without encryption keys of its own: other "
                            "machines could reach it. Use a loopback or ipc:// address, or create keys with "
                            "`dragd keys DIR` and pass --curve-keys DIR")
    return load_server_keys(config.curve_keys or ensure_keys_folder())


def ipc_in_use(endpoint: Endpoint) -> bool:
    """True when something accepts connections on the ipc path (binding there would steal it: libzmq unlinks
    the old socket file). Always False where AF_UNIX is missing."""
    if endpoint.scheme != "ipc" or not hasattr(socket, "AF_UNIX"):
        return False
    path = "\0" + endpoint.host[1:] if endpoint.abstract else endpoint.host
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        try:
            probe.connect(path)
        except OSError:
            return False
    return True


def not_a_socket(endpoint: Endpoint) -> bool:
    """True when the ipc path names something other than a socket (a user's file): binding there unlinks it."""
    if endpoint.scheme != "ipc" or endpoint.abstract:
        return False
    try:
        mode = os.lstat(endpoint.host).st_mode
    except OSError:  # nothing there (or unreachable: the bind says why)
        return False
    return not stat.S_ISSOCK(mode)


@dataclass
class Listener:
    """The bound ROUTER socket, its context and the CurveZMQ authenticator that guards it."""

    context: zmq.Context
    router: zmq.Socket
    authenticator: ThreadAuthenticator
    endpoint: str  # the bound address, with the real port when 0 or * was asked

    @classmethod
    def open(cls, config: ServerConfig, keys: CurveKeys) -> Listener:
        endpoint = parse_address(config.address)
        if not_a_socket(endpoint):
            raise StartError(f"{endpoint.host} is a file, not a socket: serving at {config.address} would delete it "
                             "(libzmq replaces whatever is at an ipc path); choose another path")
        if ipc_in_use(endpoint):
            raise StartError(f"another process (a dragd daemon?) is serving at {config.address}; stop it first "
                             f"(`dragd stop --address {config.address}`) or choose another address")
        context = zmq.Context()
        authenticator = start_authenticator(context, keys)
        try:
            router = router_socket(context, config.address, config.limits, curve_secret_key=keys.server_secret)
        except zmq.ZMQError as exc:
            authenticator.stop()
            context.term()
            raise StartError(bind_failure(config.address, exc)) from None
        return cls(context, router, authenticator, router.getsockopt_string(zmq.LAST_ENDPOINT))

    def close(self, linger_ms: int) -> None:
        self.router.close(linger=linger_ms)
        with contextlib.suppress(Exception):
            self.authenticator.stop()


def bind_failure(address: str, exc: zmq.ZMQError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return (f"cannot listen on {address}: the address is in use (is a dragd daemon running there? "
                f"`dragd status --address {address}`)")
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"cannot listen on {address}: this computer has no such address"
    return f"cannot listen on {address}: {exc.strerror}"


def owner_of(clients_dir: Path) -> str | None:
    """The user who may shut the daemon down: the client key named `client` (the user's own key in the folder
    made on first run, and the first key `dragd keys` makes), else the only key there; as ZAP names it (Z85)."""
    keys = sorted(clients_dir.glob("*.key"))
    chosen = clients_dir / f"{DEFAULT_CLIENT_NAME}.key"
    if not chosen.is_file():
        if len(keys) != 1:
            return None
        chosen = keys[0]
    try:
        public, _ = zmq.auth.load_certificate(chosen)
    except (OSError, ValueError):
        return None
    return public.decode("ascii")
