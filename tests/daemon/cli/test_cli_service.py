"""`dragd serve | status | stop | keys` as a user runs them: a daemon in its own process."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
from conftest import free_tcp_address
from dragd.daemon import cli
from dragd.daemon.server.control import lock_state_dir, nothing_listens
from dragd.daemon.server.security import client_keys
from dragd.protocol.client import DragdClient
from dragd.protocol.errors import DragdError
from server_fixtures import connect, running_daemon

DRAGD = [sys.executable, "-m", "dragd.daemon.cli"]


def test_serve_status_stop_in_a_subprocess(tmp_path):
    socket_dir = Path(tempfile.mkdtemp(prefix="dragd-", dir="/tmp"))  # ipc paths must be short
    address = f"ipc://{socket_dir}/d.sock"
    env = os.environ | {"DRAGD_LOG_DIR": str(tmp_path / "logs")}
    server = subprocess.Popen([*DRAGD, "serve", "--address", address, "--device", "cpu"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            with DragdClient(address, 0.5) as probe:
                try:
                    probe.ping()
                    break
                except DragdError:
                    assert server.poll() is None and time.monotonic() < deadline, server.communicate()
        status = subprocess.run([*DRAGD, "status", "--address", address], capture_output=True, text=True, env=env)
        assert status.returncode == 0, status.stderr
        assert "sessions 0" in status.stdout and "faces-128-cpu (128 px)" in status.stdout
        stop = subprocess.run([*DRAGD, "stop", "--address", address], capture_output=True, text=True, env=env)
        assert stop.returncode == 0 and "stopping" in stop.stdout
        out, err = server.communicate(timeout=30)
        assert server.returncode == 0, err
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()
    events = [json.loads(line) for line in (tmp_path / "logs" / "dragd.jsonl").read_text().splitlines()]
    names = [event["event"] for event in events]
    assert names[0] == "listening" and "shutdown_requested" in names and names[-1] == "stopped"
    assert events[0]["address"] == address and "listening" in err  # readable lines on the terminal too


@pytest.mark.parametrize("command", ["status", "stop"])
def test_a_command_without_a_daemon_is_one_clear_line_at_once(capsys, tmp_path, command):
    stale = tmp_path / "stale.sock"  # a socket file nothing listens on, as a crashed daemon leaves
    with socket.socket(socket.AF_UNIX) as leftover:
        leftover.bind(str(stale))
    for address in (f"ipc:///tmp/dragd-absent-{os.getpid()}.sock", f"ipc://{stale}", free_tcp_address()):
        # a timeout of an hour: only the refused connection can end this quickly
        assert cli.main([command, "--address", address, "--timeout", "3600"]) == cli.EXIT_USAGE
        err = capsys.readouterr().err
        assert err.startswith(f"dragd: error: no dragd daemon at {address}") and len(err.splitlines()) == 1


def test_nothing_listens_tells_a_listener_from_an_empty_address():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        assert not nothing_listens(f"tcp://127.0.0.1:{listener.getsockname()[1]}")
    assert nothing_listens(free_tcp_address())
    assert not nothing_listens("inproc://x")  # cannot tell: the protocol's own timeout decides


def test_serve_refuses_a_public_address_without_keys(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("DRAGD_LOG_DIR", str(tmp_path))
    assert cli.main(["serve", "--address", "tcp://0.0.0.0:5557", "--device", "cpu"]) == cli.EXIT_USAGE
    assert "refusing to listen on tcp://0.0.0.0:5557 without encryption keys" in capsys.readouterr().err


def test_keys_command(tmp_path, capsys):
    assert cli.main(["keys", str(tmp_path / "k"), "--client", "studio"]) == 0
    assert (tmp_path / "k" / "clients" / "studio.key").is_file()
    assert (tmp_path / "k" / "studio.key_secret").is_file() and "studio.key_secret" in capsys.readouterr().out
    assert cli.main(["keys", str(tmp_path / "k"), "--client", "studio"]) == cli.EXIT_USAGE
    assert cli.main(["keys", str(tmp_path / "k"), "--client", "not a name"]) == cli.EXIT_USAGE


def serve_fails(address: str, tmp_path: Path, *more: str) -> tuple[int, str, bool]:
    """`dragd serve --address ADDRESS [MORE]` in a fresh interpreter: (exit status, stderr, whether torch was
    imported)."""
    # The command's own function first, to see whether it got as far as torch; then main, for its one line.
    code = ("import sys; from dragd.daemon import cli; args = cli.build_parser().parse_args(sys.argv[1:])\n"
            "try:\n    args.func(args)\nexcept Exception:\n    pass\n"
            "print('torch' in sys.modules); sys.exit(cli.main(sys.argv[1:]))")
    done = subprocess.run([sys.executable, "-c", code, "serve", "--address", address, "--device", "cpu",
                           "--state-dir", str(tmp_path / "state"), *more], capture_output=True, text=True, timeout=60,
                          env=os.environ | {"DRAGD_LOG_DIR": str(tmp_path / "logs")})
    return done.returncode, done.stderr, done.stdout.strip().endswith("True")


@pytest.mark.parametrize("address, reason", [
    ("tcp://127.0.0.1:99999", "port must be a number from 1 to 65535"),
    ("tcp://127.0.0.1", "needs a host and a port"),
    ("tcp://::1:5557", "brackets"),
    ("udp://127.0.0.1:5557", "must start with tcp:// or ipc://"),
    ("tcp://999.1.1.1:5557", "'999.1.1.1' is not an IPv4 address"),  # not "other machines could reach it"
])
def test_a_bad_address_fails_at_once_with_one_line_before_torch_loads(address, reason, tmp_path):
    status, err, torch_loaded = serve_fails(address, tmp_path)
    assert status == cli.EXIT_USAGE and reason in err and len(err.strip().splitlines()) == 1, err
    assert not torch_loaded


def test_a_port_in_use_fails_at_once_and_says_so_in_the_log(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"tcp://127.0.0.1:{taken.getsockname()[1]}"
        status, err, torch_loaded = serve_fails(address, tmp_path)
    assert status == cli.EXIT_USAGE and "the address is in use" in err and not torch_loaded, err
    assert len(err.strip().splitlines()) == 1, err  # the log line goes to the log only
    events = [json.loads(line) for line in (tmp_path / "logs" / "dragd.jsonl").read_text().splitlines()]
    assert {e["event"] for e in events} == {"bind_failed"} and events[0]["address"] == address  # ran twice
    assert stat.S_IMODE((tmp_path / "logs" / "dragd.jsonl").stat().st_mode) == 0o600


def test_a_second_daemon_on_a_live_ipc_path_is_refused_and_the_first_keeps_serving(tmp_path):
    socket_dir = Path(tempfile.mkdtemp(prefix="dragd-", dir="/tmp"))
    address = f"ipc://{socket_dir}/d.sock"
    with running_daemon(address=address) as first:
        status, err, torch_loaded = serve_fails(address, tmp_path)
        assert status == cli.EXIT_USAGE and "is serving at" in err and not torch_loaded, err
        with connect(first) as client:
            assert client.ping().uptime_s > 0


def test_ipv6_loopback_serves(tmp_path):
    with running_daemon(address="tcp://[::1]:*") as daemon, connect(daemon) as client:
        assert daemon.endpoint.startswith("tcp://[::1]:") and client.generate(seed=0).width == 32


@pytest.mark.parametrize("where, says", [
    (lambda tmp: ["--state-dir", str(tmp / "a-file")], "cannot keep sessions in"),  # a file, not a folder
    (lambda tmp: ["--state-dir", str(tmp / "a-file" / "state")], "cannot keep sessions in"),
    (lambda tmp: ["--state-dir", "/proc/dragd-state"], "cannot keep sessions in"),  # cannot be made
    (lambda tmp: ["--log-file", str(tmp)], "cannot write the log file"),  # a folder
    (lambda tmp: ["--log-file", "/proc/dragd/x.jsonl"], "cannot write the log file"),
])
def test_a_state_folder_or_log_file_it_cannot_write_fails_at_once_with_one_line(where, says, tmp_path):
    (tmp_path / "a-file").write_text("not a folder")
    status, err, torch_loaded = serve_fails(free_tcp_address(), tmp_path, *where(tmp_path))
    assert status == cli.EXIT_USAGE and says in err and len(err.strip().splitlines()) == 1, err
    assert not torch_loaded


def test_a_state_folder_of_the_users_own_keeps_its_permissions(tmp_path):
    from dragd.daemon.server.control import prepare_state_dir

    mine = tmp_path / "mine"
    mine.mkdir(mode=0o755)
    os.chmod(mine, 0o755)
    prepare_state_dir(mine)
    prepare_state_dir(tmp_path / "new" / "state")
    assert stat.S_IMODE(mine.stat().st_mode) == 0o755 and stat.S_IMODE((mine / "sessions").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "new" / "state").stat().st_mode) == 0o700


@pytest.mark.parametrize("command", ["status", "stop"])
def test_a_daemon_that_turns_the_users_keys_away_is_named_at_once_not_a_timeout(capsys, tmp_path, command):
    served, stranger = tmp_path / "served", tmp_path / "stranger"
    assert cli.main(["keys", str(served)]) == 0
    assert cli.main(["keys", str(stranger)]) == 0
    (stranger / "server.key").write_bytes((served / "server.key").read_bytes())  # right daemon, unlisted client
    with running_daemon(curve_keys=served) as daemon:
        for keys, says in ([], "was started with other keys"), (["--curve-keys", str(stranger)], "does not admit"):
            capsys.readouterr()
            started = time.monotonic()
            assert cli.main([command, "--address", daemon.endpoint, "--timeout", "30", *keys]) == cli.EXIT_USAGE
            err = capsys.readouterr().err
            assert says in err and len(err.strip().splitlines()) == 1 and time.monotonic() - started < 10, err
        assert cli.main(["status", "--address", daemon.endpoint, "--curve-keys", str(served)]) == 0
        with connect(daemon, keys=client_keys(served, "client")) as client:
            assert client.ping().uptime_s > 0  # still serving


@pytest.mark.parametrize("address", ["garbage", " tcp://127.0.0.1:5557", "tcp://127.0.0.1:5557 ", "ipc://", "ipc://@",
                                     "tcp://localhost:65536", "tcp://[::1]",
                                     "ipc:///tmp",  # a folder: serve said "in use", status "nothing listens"
                                     "ipc:///tmp/" + "d" * 120 + ".sock"])  # over sun_path: status was internal
def test_status_stop_and_serve_give_one_address_one_verdict(capsys, tmp_path, monkeypatch, address):
    monkeypatch.setenv("DRAGD_ADDRESS", address)  # found as every command finds it
    status, served, _ = serve_fails(address, tmp_path)
    assert status == cli.EXIT_USAGE
    for command in ("status", "stop"):
        assert cli.main([command]) == cli.EXIT_USAGE
        assert capsys.readouterr().err.strip() == served.strip()  # the same line as `dragd serve`'s


@pytest.mark.parametrize("address", ["tcp://127.0.0.1:0", "tcp://127.0.0.1:*"])
def test_a_client_is_told_that_a_free_port_is_for_serve_only(capsys, address):
    assert cli.main(["status", "--address", address]) == cli.EXIT_USAGE
    assert "a client needs the daemon's own port" in capsys.readouterr().err


def test_a_second_daemon_on_the_same_state_folder_is_refused_until_the_first_is_gone(tmp_path):
    """Two daemons on one state folder would read back and overwrite each other's saved sessions."""
    address, state = free_tcp_address(), tmp_path / "shared-state"
    env = os.environ | {"DRAGD_LOG_DIR": str(tmp_path / "logs")}
    first = subprocess.Popen([*DRAGD, "serve", "--address", address, "--device", "cpu", "--state-dir", str(state)],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        with DragdClient(address, 0.5) as probe:
            deadline = time.monotonic() + 120
            while True:
                try:
                    probe.ping()
                    break
                except DragdError:
                    assert first.poll() is None and time.monotonic() < deadline, first.communicate()
        status, err, torch_loaded = serve_fails(free_tcp_address(), tmp_path, "--state-dir", str(state))
        assert status == cli.EXIT_USAGE and f"pid {first.pid}, serving on {address}" in err, err
        assert "keeps its sessions in" in err and len(err.strip().splitlines()) == 1 and not torch_loaded
        with DragdClient(address, 5) as client:
            assert client.ping().uptime_s > 0  # the first one keeps serving
        first.kill()  # however it ends, the folder is free again
        first.wait(30)
        lock = lock_state_dir(state, "this test")
        assert lock is not None
        lock.close()
    finally:
        if first.poll() is None:
            first.kill()
        first.communicate()


@pytest.mark.parametrize("command", ["status", "stop"])
def test_a_daemon_that_listens_but_does_not_answer_yet_is_not_called_absent(capsys, command):
    """Between binding and serving (torch loading) a daemon admits the key but answers nothing."""
    from dragd.daemon.server.config import ServerConfig
    from dragd.daemon.server.listen import Listener, server_keys

    config = ServerConfig(address="tcp://127.0.0.1:*")
    listener = Listener.open(config, server_keys(config))
    try:
        assert cli.main([command, "--address", listener.endpoint, "--timeout", "1"]) == cli.EXIT_USAGE
    finally:
        listener.close(0)
        listener.context.term()
    err = capsys.readouterr().err
    assert "may still be starting" in err and "is it running" not in err and len(err.strip().splitlines()) == 1


def test_a_state_folder_is_claimed_once_its_stopping_holder_lets_go(tmp_path):
    """`dragd stop` then `dragd serve` at once: the old daemon frees its address a moment before its folder."""
    state = tmp_path / "state"
    state.mkdir()
    held = lock_state_dir(state, "the stopping daemon")
    assert held is not None
    threading.Timer(0.5, held.close).start()
    started = time.monotonic()
    claimed = lock_state_dir(state, "the new daemon")
    assert claimed is not None and 0.4 < time.monotonic() - started < 3
    claimed.close()


def test_serve_on_an_ipc_path_that_is_a_users_file_refuses_and_keeps_the_file(tmp_path):
    socket_dir = Path(tempfile.mkdtemp(prefix="dragd-", dir="/tmp"))  # ipc paths must be short
    precious = socket_dir / "notes.txt"
    precious.write_text("the user's own words")
    status, err, torch_loaded = serve_fails(f"ipc://{precious}", tmp_path)
    assert status == cli.EXIT_USAGE and "is a file, not a socket" in err and not torch_loaded, err
    assert precious.read_text() == "the user's own words"  # libzmq would have unlinked it


@pytest.mark.parametrize("keys", ["a-file", "a-folder-of-other-things", "a-file/keys"])
def test_a_keys_folder_that_cannot_be_made_is_one_line_not_an_internal_error(tmp_path, keys):
    (tmp_path / "a-file").write_text("not keys")
    (tmp_path / "a-folder-of-other-things").mkdir()
    (tmp_path / "a-folder-of-other-things" / "notes.txt").write_text("mine")
    env = os.environ | {"DRAGD_KEYS": str(tmp_path / keys), "DRAGD_LOG_DIR": str(tmp_path / "logs")}
    done = subprocess.run([*DRAGD, "serve", "--address", free_tcp_address(), "--state-dir", str(tmp_path / "state")],
                          capture_output=True, text=True, timeout=60, env=env)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == cli.EXIT_USAGE and len(lines) == 1, done.stderr
    assert f"cannot create the keys folder {tmp_path / keys}: " in lines[0] and "DRAGD_KEYS" in lines[0]
    assert (tmp_path / "a-folder-of-other-things" / "notes.txt").read_text() == "mine"


def test_a_damaged_client_key_stops_serve_instead_of_shutting_every_client_out(tmp_path):
    """pyzmq's authenticator loads clients/*.key all or nothing: one bad file and the daemon admitted nobody."""
    assert cli.main(["keys", str(tmp_path / "k")]) == 0
    (tmp_path / "k" / "clients" / "half-copied.key").write_text("garbage")
    status, err, torch_loaded = serve_fails(free_tcp_address(), tmp_path, "--curve-keys", str(tmp_path / "k"))
    assert status == cli.EXIT_USAGE and len(err.strip().splitlines()) == 1 and not torch_loaded, err
    assert "cannot read the client key" in err and "half-copied.key" in err


@pytest.mark.parametrize("command", ["status", "stop"])
def test_another_program_on_the_port_is_not_called_a_starting_daemon(capsys, command):
    with socket.socket() as other:  # accepts connections and says nothing, as a program that is not dragd may
        other.bind(("127.0.0.1", 0))
        other.listen()
        address = f"tcp://127.0.0.1:{other.getsockname()[1]}"
        assert cli.main([command, "--address", address, "--timeout", "1"]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert "does not answer as a dragd daemon" in err and "starting" not in err and len(err.strip().splitlines()) == 1
