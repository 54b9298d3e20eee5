"""Who may connect: loopback and ipc only, unless CurveZMQ keys from `dragd keys` secure the socket."""

from __future__ import annotations

import pytest
import zmq
from dragd.daemon.server.app import Daemon
from dragd.daemon.server.config import ServerConfig
from dragd.daemon.server.security import SecurityError, client_keys, create_keys, is_local_address
from dragd.protocol.client import DragdClient
from dragd.protocol.errors import DragdTimeout
from server_fixtures import running_daemon, tiny_models


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
    with pytest.raises(SecurityError, match="without encryption"):
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
    server_public, public, secret = client_keys(folder)
    with running_daemon(address="tcp://0.0.0.0:*", curve_keys=folder) as daemon:
        address = daemon.endpoint.replace("0.0.0.0", "127.0.0.1")
        with DragdClient(address, 20, curve_server_key=server_public, curve_public_key=public,
                         curve_secret_key=secret) as client:
            assert "curve" in client.hello().capabilities
            result = client.generate(seed=0)
            assert result.width == 32 and result.image.nbytes == 32 * 32 * 4  # an image came back encrypted
        stranger_public, stranger_secret = zmq.curve_keypair()  # a valid key pair that is not authorised
        with DragdClient(address, 1.0, curve_server_key=server_public, curve_public_key=stranger_public,
                         curve_secret_key=stranger_secret) as stranger, pytest.raises(DragdTimeout):
            stranger.ping()
        with DragdClient(address, 1.0) as plaintext, pytest.raises(DragdTimeout):
            plaintext.ping()
