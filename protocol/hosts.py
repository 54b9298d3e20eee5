"""Whether a tcp host is one dragd can use: the one rule for the transport (`transport.parse_address`) and for
the plugins' sentences (`texts.address_problem`). Standard library only: the GIMP plug-in checks addresses where
pyzmq may be missing."""

from __future__ import annotations

import ipaddress
import re

# A tcp host that is not an IP literal: a DNS name (RFC 1123 labels) or a network interface name (eth0, en0,
# wlp2s0, which ZeroMQ binds to). Underscores are allowed, as some interface and host names carry them.
HOST_NAME = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?")


def host_problem(host: str, bracketed: bool = False) -> str | None:
    """None for a tcp host dragd can bind or connect to (`*`, an IPv4 or IPv6 address, a host or interface name);
    else what is wrong with it, in words. Something that looks like an IP address must be one: `999.1.1.1` is
    no address at all, not a name other machines might reach. `bracketed`: it came in [ ], so it must be IPv6."""
    if host == "*" and not bracketed:
        return None
    if bracketed or ":" in host:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return f"{host!r} is not an IPv6 address"
        return None
    if all(c.isdigit() or c == "." for c in host):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return f"{host!r} is not an IPv4 address (four numbers from 0 to 255, e.g. 127.0.0.1)"
        return None
    if not HOST_NAME.fullmatch(host):
        return f"{host!r} is not a host name, interface name or IP address"
    return None
