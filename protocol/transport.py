"""ZeroMQ sockets as both sides of dragd configure them, and where both sides find each other (SPEC.md,
"Transport").

The client is a DEALER, the daemon a ROUTER; each message is exactly one frame after the ROUTER's routing id
(no empty delimiter frame). Every connection is CurveZMQ: the daemon holds a secret key and admits only the
client public keys in its keys folder. A user's own folder (`keys_folder()`, made on first use by whichever of
daemon or client comes first) holds the daemon's pair and one client pair, readable only by that user, so only
that user's processes can talk to a daemon they started, on any transport and any platform.

One way to find the daemon, used by every command and plugin: `resolve_address(explicit, configured)`.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import zmq
import zmq.auth

from .hosts import host_problem
from .limits import DEFAULT_ADDRESS, Limits

ADDRESS_ENV = "DRAGD_ADDRESS"  # overrides a configured address (Krita's setting), not an explicit one
KEYS_ENV = "DRAGD_KEYS"  # the keys folder, instead of the user's config folder
SERVER_KEY_NAME = "server"
CLIENTS_DIR_NAME = "clients"
DEFAULT_CLIENT_NAME = "client"


class AddressError(ValueError):
    """An address dragd cannot use: the message says why, in one line."""


class KeysError(ValueError):
    """A keys folder that cannot be read or made."""


# ---- addresses ----------------------------------------------------------------------------------------------


def resolve_address(explicit: str | None = None, configured: str | None = None,
                    env: Mapping[str, str] | None = None) -> str:
    """The daemon's address: `explicit` (a command-line flag, a procedure argument), else $DRAGD_ADDRESS, else
    `configured` (an editor's saved setting), else DEFAULT_ADDRESS. Empty strings count as not given."""
    env = os.environ if env is None else env
    return explicit or env.get(ADDRESS_ENV) or configured or DEFAULT_ADDRESS


@dataclass(frozen=True)
class Endpoint:
    scheme: str  # "tcp" or "ipc"
    host: str  # tcp: an IP, `localhost`, `*` or an interface name, without brackets; ipc: the path
    port: int | None  # tcp: 1-65535, or None for `*`/0 (the OS picks); ipc: None

    @property
    def ipv6(self) -> bool:
        return self.scheme == "tcp" and ":" in self.host

    @property
    def abstract(self) -> bool:
        """A Linux abstract socket (`ipc://@name`): no file, so file permissions cannot guard it."""
        return self.scheme == "ipc" and self.host.startswith("@")


def parse_address(address: str) -> Endpoint:
    """Checks `address` before anything binds or connects; raises AddressError naming the problem."""
    scheme, sep, rest = address.partition("://")
    if not sep or scheme not in ("tcp", "ipc"):
        raise AddressError(f"address {address!r} must start with tcp:// or ipc://")
    if scheme == "ipc":
        if not rest or rest == "@":
            raise AddressError(f"address {address!r} needs a path after ipc://")
        return Endpoint("ipc", rest, None)
    host, colon, port_text = rest.rpartition(":")
    if not colon or not host or not port_text:
        raise AddressError(f"address {address!r} needs a host and a port, e.g. tcp://127.0.0.1:5557")
    bracketed = host.startswith("[")
    if bracketed:
        if not host.endswith("]"):
            raise AddressError(f"address {address!r}: an IPv6 host goes in brackets, e.g. tcp://[::1]:5557")
        host = host[1:-1]
    elif ":" in host:
        raise AddressError(f"address {address!r}: put an IPv6 host in brackets, e.g. tcp://[::1]:5557")
    problem = host_problem(host, bracketed)
    if problem is not None:
        raise AddressError(f"address {address!r}: {problem}")
    if port_text == "*":
        return Endpoint("tcp", host, None)
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise AddressError(f"address {address!r}: the port must be a number from 1 to 65535 (0 or * picks a "
                           "free one)")
    port = int(port_text)
    return Endpoint("tcp", host, port or None)


def is_loopback(endpoint: Endpoint) -> bool:
    """True for ipc paths and tcp on a loopback IP or `localhost`; anything else may be reachable from others."""
    if endpoint.scheme == "ipc":
        return True
    if endpoint.host == "localhost":
        return True
    try:
        return ipaddress.ip_address(endpoint.host).is_loopback
    except ValueError:  # a host name, an interface name or `*`: cannot prove it is loopback
        return False


# ---- keys ---------------------------------------------------------------------------------------------------


def user_config_folder(env: Mapping[str, str] | None = None) -> Path:
    """dragd's folder in the user's configuration, as platformdirs' user_config_dir("dragd", appauthor=False)
    puts it: %LOCALAPPDATA%\\dragd on Windows (in the user's profile, private to the user by its ACL),
    ~/Library/Application Support/dragd on macOS, else $XDG_CONFIG_HOME (or ~/.config) /dragd."""
    env = os.environ if env is None else env
    if sys.platform == "win32":
        base = env.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = str(Path.home() / "Library" / "Application Support")
    else:
        base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "dragd"


def keys_folder(env: Mapping[str, str] | None = None) -> Path:
    """The user's keys folder: $DRAGD_KEYS, else `keys` in `user_config_folder()`."""
    env = os.environ if env is None else env
    return Path(env[KEYS_ENV]) if env.get(KEYS_ENV) else user_config_folder(env) / "keys"


@dataclass(frozen=True)
class ClientKeys:
    """What a client needs: the daemon's public key and its own pair (Z85, 40 bytes each)."""

    server_public: bytes
    public: bytes
    secret: bytes


def make_key_pair(folder: Path, name: str) -> tuple[Path, Path]:
    """pyzmq's certificate pair `name.key` / `name.key_secret` in `folder`, the secret readable by its owner only."""
    public, secret = zmq.auth.create_certificates(folder, name)
    os.chmod(secret, 0o600)
    return Path(public), Path(secret)


def ensure_keys_folder(folder: Path | None = None) -> Path:
    """The keys folder, made with a fresh daemon pair and one authorised client pair when it has none yet.
    Made in a private temporary folder and renamed into place, so a daemon and a client starting at the same
    moment end up with one set of keys."""
    folder = folder or keys_folder()
    if (folder / f"{SERVER_KEY_NAME}.key").is_file():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".dragd-keys-", dir=folder.parent))  # mode 0700
    try:
        make_key_pair(scratch, SERVER_KEY_NAME)
        (scratch / CLIENTS_DIR_NAME).mkdir(mode=0o700)
        public, _ = make_key_pair(scratch, DEFAULT_CLIENT_NAME)
        public.replace(scratch / CLIENTS_DIR_NAME / public.name)
        try:
            os.rename(scratch, folder)  # fails when another process made the folder first: theirs is used
        except OSError:
            if not (folder / f"{SERVER_KEY_NAME}.key").is_file():
                raise KeysError(f"cannot create the keys folder {folder}") from None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return folder


def read_client_keys(folder: Path, client_name: str = DEFAULT_CLIENT_NAME) -> ClientKeys:
    """(daemon public, client public, client secret) from a keys folder."""
    try:
        server_public, _ = zmq.auth.load_certificate(folder / f"{SERVER_KEY_NAME}.key")
        public, secret = zmq.auth.load_certificate(folder / f"{client_name}.key_secret")
    except (OSError, ValueError) as exc:
        raise KeysError(f"cannot read the client keys in {folder}: {exc}") from None
    if not secret:
        raise KeysError(f"{folder / (client_name + '.key_secret')} holds no secret key")
    return ClientKeys(server_public, public, secret)


def local_client_keys(folder: Path | None = None) -> ClientKeys:
    """This user's client keys for a daemon on this computer, the folder made on first use."""
    return read_client_keys(ensure_keys_folder(folder))


# ---- sockets ------------------------------------------------------------------------------------------------


def _key(value: str | bytes) -> bytes:
    return value.encode("ascii") if isinstance(value, str) else value


def dealer_socket(context: zmq.Context, address: str, keys: ClientKeys, *, max_reply_bytes: int) -> zmq.Socket:
    """A client socket, CurveZMQ with `keys`, connected to `address`."""
    endpoint = parse_address(address)
    socket = context.socket(zmq.DEALER)
    socket.setsockopt(zmq.LINGER, 0)  # a dead daemon must never block close() or interpreter exit
    socket.setsockopt(zmq.MAXMSGSIZE, max_reply_bytes)
    if endpoint.ipv6:
        socket.setsockopt(zmq.IPV6, 1)
    socket.setsockopt(zmq.CURVE_SERVERKEY, _key(keys.server_public))
    socket.setsockopt(zmq.CURVE_PUBLICKEY, _key(keys.public))
    socket.setsockopt(zmq.CURVE_SECRETKEY, _key(keys.secret))
    socket.connect(address)
    return socket


def router_socket(context: zmq.Context, address: str, limits: Limits, *,
                  curve_secret_key: str | bytes | None) -> zmq.Socket:
    """The daemon's bound socket, a CurveZMQ server with `curve_secret_key` (None only for protocol tests).
    Frames over limits.max_frame_bytes make libzmq drop that peer's connection before anything is read into
    Python (the peer gets no reply: SPEC.md, "Limits"); ROUTER_MANDATORY makes a reply to a vanished client
    raise zmq.ZMQError (EHOSTUNREACH) instead of vanishing silently. Raises zmq.ZMQError when it cannot bind;
    the socket is closed then."""
    endpoint = parse_address(address)
    socket = context.socket(zmq.ROUTER)
    try:
        socket.setsockopt(zmq.LINGER, 0)
        socket.setsockopt(zmq.MAXMSGSIZE, limits.max_frame_bytes)
        socket.setsockopt(zmq.ROUTER_MANDATORY, 1)
        if endpoint.ipv6:
            socket.setsockopt(zmq.IPV6, 1)
        if curve_secret_key is not None:
            socket.setsockopt(zmq.CURVE_SERVER, 1)
            socket.setsockopt(zmq.CURVE_SECRETKEY, _key(curve_secret_key))
        socket.bind(address)
    except BaseException:
        socket.close(linger=0)  # a socket left open would hang context.term() forever
        raise
    return socket
