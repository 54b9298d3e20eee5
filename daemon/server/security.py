"""Who may talk to the daemon: loopback only, unless CurveZMQ encrypts and authenticates the connection.

A keys folder (made by `dragd keys DIR`) holds:

    server.key             the daemon's public key: give it to every client
    server.key_secret      the daemon's secret key: never leaves this machine
    clients/NAME.key        a client's public key; a client may connect only if its key is here
    NAME.key_secret         a client's key pair; copy it (and server.key) to the client's machine

All key handling is pyzmq's own (`zmq.auth`): certificates are the ZeroMQ text format, and the
authenticator thread checks each connecting client's public key against `clients/`.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

SERVER_KEY_NAME = "server"
CLIENTS_DIR_NAME = "clients"
DEFAULT_CLIENT_NAME = "client"


class SecurityError(ValueError):
    """An address or key folder that the daemon refuses to serve with."""


def is_local_address(address: str) -> bool:
    """True for ipc:// paths and tcp:// on a loopback IP or `localhost`; anything else may be reachable."""
    if address.startswith("ipc://"):
        return True
    if not address.startswith("tcp://"):
        raise SecurityError(f"address {address!r} must start with tcp:// or ipc://")
    host, _, port = address[len("tcp://"):].rpartition(":")
    if not host or not port:
        raise SecurityError(f"address {address!r} needs a host and a port, e.g. tcp://127.0.0.1:5557")
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name, an interface name or `*`: cannot prove it is loopback
        return False


@dataclass(frozen=True)
class CurveKeys:
    server_public: bytes
    server_secret: bytes
    clients_dir: Path


def load_server_keys(folder: Path) -> CurveKeys:
    secret_file = folder / f"{SERVER_KEY_NAME}.key_secret"
    clients = folder / CLIENTS_DIR_NAME
    if not secret_file.is_file():
        raise SecurityError(f"no {secret_file.name} in {folder}; create keys with `dragd keys {folder}`")
    if not clients.is_dir() or not any(clients.glob("*.key")):
        raise SecurityError(f"no authorised client keys in {clients}; add one with `dragd keys {folder}`")
    try:
        public, secret = zmq.auth.load_certificate(secret_file)
    except (OSError, ValueError) as exc:
        raise SecurityError(f"cannot read {secret_file}: {exc}") from None
    if not secret:
        raise SecurityError(f"{secret_file} holds no secret key")
    return CurveKeys(public, secret, clients)


def start_authenticator(context: zmq.Context, keys: CurveKeys) -> ThreadAuthenticator:
    """Starts pyzmq's ZAP handler admitting only clients whose public key is in `keys.clients_dir`. It must run
    before the CURVE server socket binds; stop it when the socket closes."""
    authenticator = ThreadAuthenticator(context)
    authenticator.start()
    authenticator.configure_curve(domain="*", location=str(keys.clients_dir))
    return authenticator


def create_keys(folder: Path, client_name: str = DEFAULT_CLIENT_NAME) -> dict[str, Path]:
    """Creates the server's key pair (unless it exists) and a client key pair authorised to connect."""
    if not client_name.isidentifier():
        raise SecurityError(f"client name {client_name!r} must be letters, digits and underscores")
    if client_name == SERVER_KEY_NAME:
        raise SecurityError(f"{SERVER_KEY_NAME!r} is the daemon's own key name")
    folder.mkdir(parents=True, exist_ok=True)
    clients = folder / CLIENTS_DIR_NAME
    clients.mkdir(exist_ok=True)
    server_secret = folder / f"{SERVER_KEY_NAME}.key_secret"
    if not server_secret.exists():
        zmq.auth.create_certificates(folder, SERVER_KEY_NAME)
    client_secret = folder / f"{client_name}.key_secret"
    if client_secret.exists():
        raise SecurityError(f"{client_secret} exists already; choose another client name")
    client_public, client_secret_path = zmq.auth.create_certificates(folder, client_name)
    authorised = clients / f"{client_name}.key"
    Path(client_public).replace(authorised)
    for secret in (server_secret, Path(client_secret_path)):
        os.chmod(secret, 0o600)
    return {"server_public": folder / f"{SERVER_KEY_NAME}.key", "server_secret": server_secret,
            "client_secret": Path(client_secret_path), "client_public": authorised}


def client_keys(folder: Path, client_name: str = DEFAULT_CLIENT_NAME) -> tuple[bytes, bytes, bytes]:
    """(server public, client public, client secret) from a keys folder, for a client of a CURVE daemon."""
    try:
        server_public, _ = zmq.auth.load_certificate(folder / f"{SERVER_KEY_NAME}.key")
        client_public, client_secret = zmq.auth.load_certificate(folder / f"{client_name}.key_secret")
    except (OSError, ValueError) as exc:
        raise SecurityError(f"cannot read the client keys in {folder}: {exc}") from None
    if not client_secret:
        raise SecurityError(f"{folder / (client_name + '.key_secret')} holds no secret key")
    return server_public, client_public, client_secret
