"""Who may talk to the daemon: only clients whose CurveZMQ public key is in its keys folder, on every address.

A keys folder (the user's own one is made on first use, `protocol.transport.ensure_keys_folder`; more with
`dragd keys DIR`) holds:

    server.key             the daemon's public key: give it to every client
    server.key_secret      the daemon's secret key: never leaves this machine
    clients/NAME.key        a client's public key; a client may connect only if its key is here
    NAME.key_secret         a client's key pair; copy it (and server.key) to the client's machine

All key handling is pyzmq's own (`zmq.auth`): certificates are the ZeroMQ text format, and the
authenticator thread checks each connecting client's public key against `clients/`. It names the client by
the Z85 text of its public key (ZAP's User-Id), which the daemon reads from every message: that is the *user*
whose limits apply (SPEC.md, "Users"). The folder's secrets are readable by their owner only, so on one
computer "who holds the user's client key" means "that user's processes".
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

from ...protocol.transport import (
    CLIENTS_DIR_NAME,
    DEFAULT_CLIENT_NAME,
    SERVER_KEY_NAME,
    AddressError,
    ClientKeys,
    KeysError,
    is_loopback,
    make_key_pair,
    parse_address,
    read_client_keys,
)

__all__ = ["DEFAULT_CLIENT_NAME", "CurveKeys", "SecurityError", "client_keys", "create_keys", "is_local_address",
           "load_server_keys", "start_authenticator"]


class SecurityError(ValueError):
    """An address or key folder that the daemon refuses to serve with."""


def is_local_address(address: str) -> bool:
    """True for ipc:// paths and tcp:// on a loopback IP or `localhost`; anything else may be reachable.
    Raises SecurityError for an address that is not a usable tcp:// or ipc:// address."""
    try:
        return is_loopback(parse_address(address))
    except AddressError as exc:
        raise SecurityError(str(exc)) from None


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
    for client in sorted(clients.glob("*.key")):  # what pyzmq's authenticator loads: one bad file and it loads none
        try:
            zmq.auth.load_certificate(client)
        except (OSError, ValueError) as exc:
            raise SecurityError(f"cannot read the client key {client}: {exc}; remove or replace it (the daemon "
                                "would admit no client at all)") from None
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
    os.chmod(folder, 0o700)
    clients = folder / CLIENTS_DIR_NAME
    clients.mkdir(exist_ok=True)
    server_secret = folder / f"{SERVER_KEY_NAME}.key_secret"
    if not server_secret.exists():
        make_key_pair(folder, SERVER_KEY_NAME)
    client_secret = folder / f"{client_name}.key_secret"
    if client_secret.exists():
        raise SecurityError(f"{client_secret} exists already; choose another client name")
    client_public, client_secret_path = make_key_pair(folder, client_name)
    authorised = clients / f"{client_name}.key"
    client_public.replace(authorised)
    return {"server_public": folder / f"{SERVER_KEY_NAME}.key", "server_secret": server_secret,
            "client_secret": client_secret_path, "client_public": authorised}


def client_keys(folder: Path, client_name: str = DEFAULT_CLIENT_NAME) -> ClientKeys:
    """A client's keys for a daemon served with `folder` (see `protocol.transport.read_client_keys`)."""
    try:
        return read_client_keys(folder, client_name)
    except KeysError as exc:
        raise SecurityError(str(exc)) from None
