"""Everything `dragd serve` can be told, with the defaults a desktop install wants."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ...protocol.limits import DEFAULT_ADDRESS, Limits


@dataclass(frozen=True)
class ServerConfig:
    address: str = DEFAULT_ADDRESS  # tcp://HOST:PORT (port 0 or * picks a free one) or ipc://PATH
    device: str = "auto"
    preload: tuple[str, ...] = ()  # models loaded at start, so the first generate is quick
    curve_keys: Path | None = None  # folder made by `dragd keys`; required for a non-loopback address
    limits: Limits = field(default_factory=Limits)  # announced in hello; enforced on every request
    max_sessions_per_client: int = 8
    max_queue_per_client: int = 8  # requests of one client waiting behind the running one
    memory_budget_bytes: int = 1 << 30  # estimated session memory; least recently used idle ones go first
    client_timeout_s: float = 60.0  # a client silent this long (no request, no heartbeat) is gone
    housekeeping_s: float = 0.2  # how often liveness, idle sessions and queue notices are checked
