"""ZeroMQ sockets as both sides of dragd configure them (SPEC.md, "Transport").

The client is a DEALER, the daemon a ROUTER; each message is exactly one frame after the ROUTER's routing id
(no empty delimiter frame). CurveZMQ is used when keys are given: the daemon holds a secret key, each client
its own key pair plus the daemon's public key. Keys are the 40-character Z85 strings `zmq.curve_keypair()`
makes.
"""

from __future__ import annotations

import zmq

from .limits import Limits


def _key(value: str | bytes) -> bytes:
    return value.encode("ascii") if isinstance(value, str) else value


def dealer_socket(
    context: zmq.Context,
    address: str,
    *,
    max_reply_bytes: int,
    curve_server_key: str | bytes | None = None,
    curve_public_key: str | bytes | None = None,
    curve_secret_key: str | bytes | None = None,
) -> zmq.Socket:
    """A connected client socket. Without curve_public/secret_key but with a server key, a fresh key pair is
    made for this connection (the daemon then accepts any client that knows its public key)."""
    socket = context.socket(zmq.DEALER)
    socket.setsockopt(zmq.LINGER, 0)  # a dead daemon must never block close() or interpreter exit
    socket.setsockopt(zmq.MAXMSGSIZE, max_reply_bytes)
    if curve_server_key is not None:
        if curve_public_key is None or curve_secret_key is None:
            curve_public_key, curve_secret_key = zmq.curve_keypair()
        socket.setsockopt(zmq.CURVE_SERVERKEY, _key(curve_server_key))
        socket.setsockopt(zmq.CURVE_PUBLICKEY, _key(curve_public_key))
        socket.setsockopt(zmq.CURVE_SECRETKEY, _key(curve_secret_key))
    socket.connect(address)
    return socket


def router_socket(
    context: zmq.Context,
    address: str,
    limits: Limits,
    *,
    curve_secret_key: str | bytes | None = None,
) -> zmq.Socket:
    """The daemon's bound socket. Frames over limits.max_frame_bytes make libzmq drop that peer's connection
    before anything is read into Python; ROUTER_MANDATORY makes a reply to a vanished client raise
    zmq.ZMQError (EHOSTUNREACH) instead of vanishing silently."""
    socket = context.socket(zmq.ROUTER)
    socket.setsockopt(zmq.LINGER, 0)
    socket.setsockopt(zmq.MAXMSGSIZE, limits.max_frame_bytes)
    socket.setsockopt(zmq.ROUTER_MANDATORY, 1)
    if curve_secret_key is not None:
        socket.setsockopt(zmq.CURVE_SERVER, 1)
        socket.setsockopt(zmq.CURVE_SECRETKEY, _key(curve_secret_key))
    socket.bind(address)
    return socket
