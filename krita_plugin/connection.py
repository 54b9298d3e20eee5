"""Where the daemon is, how to start it, and connecting to it (on a worker thread)."""

from __future__ import annotations

import os
import shlex
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..protocol import editor, texts
from ..protocol.client import DragdClient
from ..protocol.errors import DragdError, DragdTimeout, ErrorCode
from ..protocol.limits import DEFAULT_ADDRESS
from ..protocol.messages import HelloResult
from .ports import Report, Workspace

CLIENT_NAME = "krita-plugin"
SETTINGS_PLACE = ("the [dragd] group of Krita's settings file kritarc (address=..., daemon_command=...; the dragd "
                  "installer writes them: run it again with --address or --daemon-command)")
SILENCE_KEEPALIVES = 6  # a running request hears from the daemon every keepalive_s; this many missed: it is gone


@dataclass(frozen=True)
class Connection:
    """Where the daemon is and how to start it; from $DRAGD_ADDRESS / $DRAGD_DAEMON_COMMAND, else the
    `[dragd]` group of Krita's settings (written by the installer), else the protocol's defaults."""

    address: str = DEFAULT_ADDRESS
    command: tuple[str, ...] = editor.DEFAULT_DAEMON_COMMAND
    log_path: str = os.path.join(tempfile.gettempdir(), "dragd-started-by-krita.log")

    @classmethod
    def from_settings(cls, workspace: Workspace, env: dict[str, str] | None = None) -> Connection:
        env = dict(os.environ) if env is None else env
        address = env.get("DRAGD_ADDRESS") or workspace.setting("address") or DEFAULT_ADDRESS
        command_text = env.get("DRAGD_DAEMON_COMMAND") or workspace.setting("daemon_command")
        command = tuple(shlex.split(command_text)) if command_text else editor.DEFAULT_DAEMON_COMMAND
        return cls(address, command)


def connect_to_daemon(connection: Connection, report: Report) -> tuple[Any, HelloResult, bool]:
    """A client that said hello, and whether the daemon had to be started. Runs on a worker thread."""
    texts.check_address(connection.address, SETTINGS_PLACE)
    try:
        client = DragdClient(connection.address, client_name=CLIENT_NAME)
    except Exception as exc:  # zmq refuses an address it cannot use after all
        raise DragdError(ErrorCode.BAD_REQUEST, texts.bad_address(connection.address, str(exc), SETTINGS_PLACE)
                         ) from None
    try:
        started = False
        try:
            client.ping(timeout=1.0)
        except DragdTimeout:
            client.close()
            if not editor.is_local_address(connection.address):
                raise
            report(f"No dragd daemon answered at {connection.address}; starting one "
                   f"(`{' '.join(connection.command)}`)...")
            client = editor.find_or_start_daemon(connection.address, connection.command,
                                                 log_path=connection.log_path, client_name=CLIENT_NAME,
                                                 where=SETTINGS_PLACE)
            started = True
        hello = client.hello(timeout=10.0)
        # The daemon sends a keepalive every keepalive_s while a request runs: silence much longer than that
        # means it is gone (killed, crashed), which the panel should say within seconds, not after 30.
        client.timeout = max(SILENCE_KEEPALIVES * hello.limits.keepalive_s, 8.0)
        return client, hello, started
    except BaseException:
        client.close()
        raise


Connector = Callable[[Connection, Report], tuple[Any, HelloResult, bool]]
