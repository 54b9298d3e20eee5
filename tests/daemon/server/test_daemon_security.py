"""Who may connect: only clients whose CurveZMQ key the daemon's keys folder authorises, on every address; a
non-loopback address only with a keys folder of its own; `shutdown` only by the daemon's owner."""

from __future__ import annotations

import logging
import stat

import msgpack
import pytest
import zmq
import zmq.auth
from dragd.daemon.server.app import Daemon
from dragd.daemon.server.config import ServerConfig
from dragd.daemon.server.security import SecurityError, client_keys, create_keys, is_local_address
from dragd.protocol.client import DragdClient
from dragd.protocol.errors import DragdError, DragdTimeout, ErrorCode
from dragd.protocol.transport import ensure_keys_folder, local_client_keys, read_client_keys
from server_fixtures import connect, running_daemon, tiny_models


@pytest.mark.parametrize("address, local", [
    ("tcp://127.0.0.1:5557", True), ("tcp://127.8.0.1:5557", True), ("tcp://localhost:5557", True),
    ("tcp://[::1]:5557", True), ("ipc:///tmp/dragd.sock", True), ("tcp://0.0.0.0:5557", False),
    ("tcp://*:5557", False), ("tcp://192.168.1.4:5557", False), ("tcp://eth0:5557", False),
    ("tcp://[::]:5557", False), ("tcp://example.com:5557", False),
])
def test_which_addresses_count_as_local(address, local):
    assert is_local_address(address) is local


@pytest.mark.parametrize("address", ["udp://127.0.0.1:5557", "tcp://127.0.0.1", "inproc://x", "tcp://:5557"])
def test_malformed_addresses_are_refused(address):
    with pytest.raises(SecurityError):
        is_local_address(address)


def test_a_non_loopback_address_without_curve_is_refused():
    with pytest.raises(SecurityError, match="without encryption keys of its own"):
        Daemon(ServerConfig(address="tcp://0.0.0.0:5557"), tiny_models())


def test_keys_folder_layout_and_refusals(tmp_path):
    made = create_keys(tmp_path / "keys")
    assert made["client_public"].parent.name == "clients" and made["server_secret"].stat().st_mode & 0o077 == 0
    with pytest.raises(SecurityError, match="exists already"):
        create_keys(tmp_path / "keys")
    create_keys(tmp_path / "keys", "laptop")  # a second client; the server pair stays
    assert sorted(p.name for p in (tmp_path / "keys" / "clients").iterdir()) == ["client.key", "laptop.key"]
    with pytest.raises(SecurityError, match="no server.key_secret"):
        Daemon(ServerConfig(curve_keys=tmp_path / "empty"), tiny_models())


def test_curve_round_trip_and_strangers_get_nothing(tmp_path):
    folder = tmp_path / "keys"
    create_keys(folder)
    keys = client_keys(folder)
    with running_daemon(address="tcp://0.0.0.0:*", curve_keys=folder) as daemon:
        address = daemon.endpoint.replace("0.0.0.0", "127.0.0.1")
        with DragdClient(address, 20, keys=keys) as client:
            assert "curve" in client.hello().capabilities
            result = client.generate(seed=0)
            assert result.width == 32 and result.image.nbytes == 32 * 32 * 4  # an image came back encrypted
        assert_strangers_get_nothing(address, keys.server_public)


def assert_strangers_get_nothing(address: str, server_public: bytes) -> None:
    stranger_public, stranger_secret = zmq.curve_keypair()  # a valid key pair that is not authorised
    with DragdClient(address, 1.0, curve_server_key=server_public, curve_public_key=stranger_public,
                     curve_secret_key=stranger_secret) as stranger, pytest.raises(DragdError) as caught:
        stranger.ping()
    # No answer: a time-out, or, when the failed handshake had just dropped the connection as the request
    # went out, the client's own "cannot send" (never a reply of the daemon's)
    assert isinstance(caught.value, DragdTimeout) or (caught.value.code == ErrorCode.UNAVAILABLE
                                                      and "cannot send" in caught.value.message)
    plaintext = zmq.Context.instance().socket(zmq.DEALER)  # no CurveZMQ at all
    plaintext.setsockopt(zmq.LINGER, 0)
    plaintext.connect(address)
    plaintext.send(msgpack.packb({"v": 1, "id": 1, "type": "status"}))
    assert not plaintext.poll(1000)
    plaintext.close()


def test_the_default_local_daemon_admits_only_its_users_key():
    # On loopback, with the user's own keys folder (made on first use): another local user cannot read that
    # folder, so has no authorised key; a key of their own, or none, gets no answer at all.
    with running_daemon() as daemon, connect(daemon) as owner:
        assert owner.ping().uptime_s >= 0
        assert_strangers_get_nothing(daemon.endpoint, local_client_keys().server_public)


def test_only_the_owner_may_shut_the_daemon_down(caplog):
    caplog.set_level(logging.INFO, logger="dragd.server")
    with running_daemon() as daemon, connect(daemon, user="other") as other, connect(daemon) as owner:
        with pytest.raises(DragdError) as caught:
            other.shutdown()
        assert caught.value.code == ErrorCode.FORBIDDEN and owner.ping()
        owner.shutdown()
    assert any(r.getMessage() == "refused" and r.fields["code"] == "forbidden" for r in caplog.records)


def test_keys_folder_made_on_first_use_is_private(tmp_path):
    folder = ensure_keys_folder(tmp_path / "cfg" / "keys")
    assert ensure_keys_folder(folder) == folder  # made once; later calls read it
    secrets = [folder / "server.key_secret", folder / "client.key_secret"]
    assert all(stat.S_IMODE(path.stat().st_mode) == 0o600 for path in secrets)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700 and (folder / "clients" / "client.key").is_file()
    assert read_client_keys(folder).server_public == zmq.auth.load_certificate(folder / "server.key")[0]
