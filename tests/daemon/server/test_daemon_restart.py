"""A restart loses nothing: `dragd serve` killed with SIGKILL in the middle of a drag, started again on the same
state folder, and the client's session comes back with its history; only the interrupted steps are lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import free_tcp_address
from dragd.protocol import DragOptions
from dragd.protocol.client import DragdClient
from dragd.protocol.errors import DragdError
from server_fixtures import when_stepping

pytestmark = pytest.mark.slow  # two daemon start-ups with the embedded model

DRAGD = [sys.executable, "-m", "dragd.daemon.cli"]
HANDLE, TARGET = (76.0, 89.0), (86.0, 84.0)


def start(address: str, state: Path, logs: Path) -> subprocess.Popen:
    env = os.environ | {"DRAGD_LOG_DIR": str(logs)}
    server = subprocess.Popen([*DRAGD, "serve", "--address", address, "--device", "cpu", "--state-dir", str(state)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    with DragdClient(address, 0.5) as probe:
        while True:
            try:
                probe.ping()
                return server
            except DragdError:
                assert server.poll() is None and time.monotonic() < deadline, server.communicate()


def test_kill_9_mid_drag_restart_resume_undo(tmp_path):
    address, state = free_tcp_address(), tmp_path / "state"
    server = start(address, state, tmp_path / "logs")
    try:
        with DragdClient(address, 60) as client:
            opened = client.generate(seed=0)
            first = client.drag(opened.session, [(HANDLE, TARGET)], options=DragOptions(max_steps=5))
            assert first.history_index == 1
            running = threading.Event()
            outcome: list[BaseException] = []

            def long_drag() -> None:
                try:
                    client.drag(opened.session, [(TARGET, HANDLE)],
                                options=DragOptions(max_steps=2000, stop_distance=0.0),
                                on_progress=when_stepping(running), timeout=5)
                except DragdError as exc:
                    outcome.append(exc)

            thread = threading.Thread(target=long_drag)
            thread.start()
            assert running.wait(60)
            server.send_signal(signal.SIGKILL)
            server.wait(30)
            thread.join(30)
            assert outcome and outcome[0].code == "timeout"  # the client saw the daemon die
    finally:
        if server.poll() is None:
            server.kill()
        server.communicate()

    server = start(address, state, tmp_path / "logs")
    try:
        with DragdClient(address, 60) as client:  # a new connection, as after an editor restart
            info = client.session_info(opened.session)
            assert info.restored and info.history_index == 1 and info.history_length == 2
            assert info.interrupted is not None and "drag" in info.interrupted
            back = client.undo(opened.session)  # the history survived: back to the generated image
            assert back.history_index == 0 and back.image.tight().data == opened.image.tight().data
            again = client.redo(opened.session)  # and forward to the completed drag's result
            assert again.image.tight().data == first.image.tight().data
            assert client.session_info(opened.session).interrupted is None  # reported until the next operation
            client.shutdown()
        server.wait(30)
    finally:
        if server.poll() is None:
            server.kill()
        server.communicate()
