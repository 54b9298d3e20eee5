"""What `dragd serve | status | stop | keys` do; the CLI only parses arguments and calls these."""

from __future__ import annotations

import os
import signal
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import IO

import platformdirs
import zmq
from zmq.utils.monitor import recv_monitor_message

from ...protocol.client import DragdClient
from ...protocol.transport import ClientKeys, keys_folder, local_client_keys
from .config import ServerConfig, sessions_folder
from .listen import Listener, StartError, server_keys
from .logs import log, log_event, setup_logging
from .security import DEFAULT_CLIENT_NAME, client_keys, create_keys

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; the state folder is not claimed there
    fcntl = None  # type: ignore[assignment]


def default_state_dir() -> Path:
    """Where `dragd serve` keeps sessions across restarts: $DRAGD_STATE_DIR, else the user's state folder."""
    override = os.environ.get("DRAGD_STATE_DIR")
    return Path(override) if override else Path(platformdirs.user_state_dir("dragd", appauthor=False))


def prepare_state_dir(folder: Path | None) -> None:
    """Makes the folder sessions are saved in and proves it writable, before torch loads: a daemon that cannot
    keep sessions across restarts says so at once, in one line. Only what dragd makes is made private (0700): a
    folder of the user's own given as --state-dir keeps its permissions."""
    if folder is None:
        return
    if folder.exists() and not folder.is_dir():
        raise StartError(f"cannot keep sessions in {folder}: it is a file, not a folder (choose another folder "
                         "with --state-dir)")
    try:
        with tempfile.TemporaryFile(dir=sessions_folder(folder)):
            pass
    except OSError as exc:
        raise StartError(f"cannot keep sessions in {folder}: {exc.strerror or exc} (choose another folder with "
                         "--state-dir)") from None


# `dragd stop` then `dragd serve` at once: the stopping daemon frees its address a moment before its state folder.
STATE_LOCK_WAIT_S = 3.0


def lock_state_dir(folder: Path | None, address: str) -> IO[str] | None:
    """Claims the state folder for this daemon (an exclusive advisory lock on `daemon.lock`, released when the
    process ends, however it ends). Two daemons on one folder would read back and overwrite each other's
    sessions and delete them under their disk budgets, so a second is refused with who holds it, after waiting
    STATE_LOCK_WAIT_S for one that is stopping. None without a folder, or where the platform has no flock
    (Windows)."""
    if folder is None or fcntl is None:
        return None
    handle = os.fdopen(os.open(folder / "daemon.lock", os.O_RDWR | os.O_CREAT, 0o600), "r+")
    deadline = time.monotonic() + STATE_LOCK_WAIT_S
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except OSError:
            if time.monotonic() < deadline:
                time.sleep(0.1)
                continue
        holder = handle.read().strip() or "another process"
        handle.close()
        raise StartError(f"another dragd daemon ({holder}) keeps its sessions in {folder}: stop it, or give this "
                         "one a folder of its own with --state-dir") from None
    handle.truncate(0)
    handle.write(f"pid {os.getpid()}, serving on {address}")
    handle.flush()
    return handle


def serve(config: ServerConfig, log_file: Path | None = None) -> None:
    """Runs the daemon in the foreground until Ctrl+C, SIGTERM or a `shutdown` request. The address, the keys
    and the socket are checked and bound before torch loads, so a daemon that cannot start says why at once."""
    try:  # the terminal hears events once serving: a failure to start is one line, the CLI's
        path = setup_logging(log_file, terminal=False)
    except OSError as exc:
        raise StartError(f"cannot write the log file {exc.filename or log_file}: {exc.strerror or exc} "
                         "(choose another with --log-file)") from None
    keys = server_keys(config)
    prepare_state_dir(config.state_dir)
    try:
        listener = Listener.open(config, keys)
    except StartError as exc:
        log_event(log, 40, "bind_failed", address=config.address, error=str(exc))
        raise
    try:
        lock = lock_state_dir(config.state_dir, listener.endpoint)  # held until this function returns
    except StartError as exc:
        listener.close(0)
        listener.context.term()
        log_event(log, 40, "state_dir_in_use", folder=str(config.state_dir), error=str(exc))
        raise
    setup_logging(path)
    print(f"dragd: listening on {listener.endpoint}, loading (log: {path})", flush=True)
    try:
        from .app import Daemon

        daemon = Daemon(config, keys=keys)
    except BaseException:
        listener.close(0)
        listener.context.term()
        raise
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda number, _: daemon.request_stop(f"signal {signal.Signals(number).name}"))
    print(f"dragd: serving on {listener.endpoint} (device {daemon.device_description}; sessions saved in "
          f"{config.state_dir or 'memory only'})", flush=True)
    try:
        daemon.serve(listener)
    finally:
        if lock is not None:
            lock.close()  # the lock goes with it (and with the process, however it ends)


def connect(address: str | None, keys: Path | None, client_name: str = DEFAULT_CLIENT_NAME,
            timeout: float = 5.0) -> DragdClient:
    """A protocol client for a running daemon at `address` (None: found as every tool finds it); with `keys`,
    the client keys `client_name` of a `dragd keys` folder, else the user's own."""
    return DragdClient(address, timeout, client_name="dragd-cli",
                       keys=client_keys(keys, client_name) if keys is not None else None)


def nothing_listens(address: str, timeout_s: float = 0.5) -> bool:
    """True when a plain connect to `address` (tcp://HOST:PORT or ipc://PATH) is refused: no daemon is there.

    False when something may listen, or when this cannot tell (a slow or filtered network: the protocol's own
    timeout then decides). Lets `dragd status` say "no daemon" at once instead of after its whole timeout.
    """
    scheme, _, rest = address.partition("://")
    try:
        if scheme == "ipc":
            with socket.socket(socket.AF_UNIX) as probe:
                probe.settimeout(timeout_s)
                probe.connect(rest)
        elif scheme == "tcp":
            host, _, port = rest.rpartition(":")
            with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
                pass
    except (ConnectionRefusedError, FileNotFoundError):
        return True
    except (OSError, ValueError):
        return False
    return False


def status_lines(client: DragdClient) -> list[str]:
    hello = client.hello()
    status = client.status()
    mib = 1 << 20
    memory = [f"process {status.memory.rss_bytes / mib:.0f} MiB"] if status.memory.rss_bytes is not None else []
    if status.memory.device_allocated_bytes is not None:
        memory.append(f"device {status.memory.device_allocated_bytes / mib:.0f} MiB")
    return [
        f"dragd {status.daemon_version} on {status.device}, up {status.uptime_s:.0f} s, protocol {hello.protocol}",
        f"sessions {status.sessions}, clients {status.clients}, waiting requests {status.queue}, "
        f"running: {status.running or 'nothing'}",
        "memory: " + (", ".join(memory) or "unknown"),
        "models: " + ", ".join(f"{model.name} ({model.resolution[0]} px)" for model in hello.models),
        "capabilities: " + ", ".join(hello.capabilities),
    ]


def stop(client: DragdClient) -> None:
    client.shutdown()


def keys(folder: Path, client_name: str) -> list[str]:
    made = create_keys(folder, client_name)
    return [
        f"server key pair: {made['server_secret']} (stays here; serve with --curve-keys {folder})",
        f"authorised client {client_name!r}: {made['client_public']}",
        f"give the client {made['server_public']} and {made['client_secret']} (its secret: copy it securely)",
    ]


_HANDSHAKE_EVENTS = {zmq.EVENT_HANDSHAKE_SUCCEEDED: "ok", zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL: "server key",
                     zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL: "server key", zmq.EVENT_HANDSHAKE_FAILED_AUTH: "refused"}


def curve_handshake(address: str, keys_dir: Path | None = None, client_name: str = DEFAULT_CLIENT_NAME,
                    timeout_s: float = 1.0) -> str | None:
    """How a CurveZMQ handshake with `address` ends for these keys (the user's own without `keys_dir`): "ok",
    "server key" (the peer cannot read our HELLO: a daemon started with other keys, or not dragd at all),
    "refused" (ZAP 400: our client key is not in its clients/ folder), or None when nothing is known within
    `timeout_s` (no ZMTP peer answered: a program that is not dragd, or a slow network).

    A CurveZMQ server drops a client it cannot authenticate without a word, so a request would only time out, as
    if no daemon were there; libzmq's handshake events say which it was at once. A daemon still loading torch
    completes the handshake (its authenticator runs from the moment it binds)."""
    keys: ClientKeys = client_keys(keys_dir, client_name) if keys_dir is not None else local_client_keys()
    context = zmq.Context()
    probe = context.socket(zmq.DEALER)
    probe.setsockopt(zmq.LINGER, 0)
    probe.curve_serverkey, probe.curve_publickey, probe.curve_secretkey = keys.server_public, keys.public, keys.secret
    monitor = probe.get_monitor_socket(sum(_HANDSHAKE_EVENTS))
    try:
        probe.connect(address)
        if monitor.poll(int(timeout_s * 1000)):
            return _HANDSHAKE_EVENTS.get(recv_monitor_message(monitor)["event"])
        return None
    finally:
        probe.disable_monitor()
        monitor.close(linger=0)
        probe.close(linger=0)
        context.term()


def refusal(address: str, handshake: str | None, keys_dir: Path | None = None,
            client_name: str = DEFAULT_CLIENT_NAME) -> str | None:
    """The sentence for a `curve_handshake` outcome that turns these keys away; None otherwise."""
    folder = keys_dir or keys_folder()
    if handshake == "server key":
        return (f"the daemon at {address} was started with other keys than {folder} (its public key is not "
                f"{folder / 'server.key'}): pass --curve-keys with the folder it serves with; or it is another "
                "user's daemon, or not dragd at all")
    if handshake == "refused":
        return (f"the daemon at {address} does not admit the client key '{client_name}' of {folder}: add it to "
                "the daemon's keys with `dragd keys DIR --client NAME`, or use a client key it admits")
    return None


def key_refusal(address: str, keys_dir: Path | None = None, client_name: str = DEFAULT_CLIENT_NAME,
                timeout_s: float = 1.0) -> str | None:
    """Why the daemon at `address` turns these keys away, as a sentence; None when it admits them, or when this
    cannot tell within `timeout_s` (then the protocol's own timeout decides)."""
    return refusal(address, curve_handshake(address, keys_dir, client_name, timeout_s), keys_dir, client_name)
