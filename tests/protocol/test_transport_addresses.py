"""protocol/transport.py and protocol/hosts.py: a host that looks like an IP address must be one; names and `*` pass."""

from __future__ import annotations

import pytest
from dragd.protocol.hosts import host_problem
from dragd.protocol.transport import AddressError, is_loopback, parse_address


@pytest.mark.parametrize("address", ["tcp://999.1.1.1:5557", "tcp://1.2.3:5557", "tcp://256.0.0.1:1",
                                     "tcp://[::g]:5557", "tcp://[127.0.0.1]:5557", "tcp://ex ample:1",
                                     "tcp://-host:1"])
def test_a_host_that_is_no_address_is_refused_as_such(address):
    with pytest.raises(AddressError, match="is not an? (IPv4 address|IPv6 address|host name)"):
        parse_address(address)


@pytest.mark.parametrize(("address", "loopback"), [
    ("tcp://127.0.0.1:5557", True), ("tcp://[::1]:5557", True), ("tcp://localhost:1", True),
    ("tcp://10.0.0.2:1", False), ("tcp://eth0:5557", False), ("tcp://*:*", False), ("tcp://my-host.lan:1", False),
    ("tcp://[fe80::1%eth0]:1", False), ("ipc:///tmp/x.sock", True),
])
def test_real_addresses_and_names_still_parse(address, loopback):
    assert is_loopback(parse_address(address)) is loopback


def test_host_problem_names_the_kind_it_expected():
    assert host_problem("999.1.1.1") is not None and "IPv4" in host_problem("999.1.1.1")
    assert host_problem("*") is None and host_problem("*", bracketed=True) is not None
