"""Everything `dragd serve` can be told, with the defaults a desktop install wants."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ...protocol.limits import DEFAULT_ADDRESS, Limits


@dataclass(frozen=True)
class InversionSteps:
    """`open_session`'s default step counts (`dragd serve --inversion-steps W,WPLUS,TUNING`); a request may
    set each itself."""

    w: int = 200  # projection in W
    wplus: int = 100  # then in W+
    tuning: int = 100  # pivotal tuning of the session's generator copy


@dataclass(frozen=True)
class ServerConfig:
    address: str = DEFAULT_ADDRESS  # tcp://HOST:PORT (port 0 or * picks a free one) or ipc://PATH
    device: str = "auto"
    preload: tuple[str, ...] = ()  # models loaded at start, so the first generate is quick
    curve_keys: Path | None = None  # folder made by `dragd keys`; required for a non-loopback address
    limits: Limits = field(default_factory=Limits)  # announced in hello; enforced on every request
    max_sessions_per_user: int = 8  # sessions in memory of one user (SPEC.md, "Users"); the total is in limits
    max_queue_per_user: int = 8  # requests of one user waiting behind the running one
    memory_budget_bytes: int = 1 << 30  # estimated session memory; least recently used idle ones go first
    # Idle and no request waiting or running this long (from its last message or its last reply): gone.
    client_timeout_s: float = 60.0
    orphan_timeout_s: float = 600.0  # a gone client's sessions stay in memory this long after it left
    state_dir: Path | None = None  # sessions saved here after every operation (persist.py); None: not saved
    disk_budget_bytes: int = 8 << 30  # saved sessions; the least recently saved go first
    inversion_steps: InversionSteps = field(default_factory=InversionSteps)  # open_session's defaults
    housekeeping_s: float = 0.2  # how often liveness, idle sessions and queue notices are checked


def sessions_folder(state_dir: Path) -> Path:
    """The folder sessions are saved in, under the daemon's state folder (`ServerConfig.state_dir`; torch-free, so
    `dragd serve` checks it before torch loads), made if needed: both made 0700, and
    the sessions folder kept 0700 (a state folder of the user's own keeps its permissions). Raises OSError."""
    if not state_dir.is_dir():
        state_dir.mkdir(mode=0o700, parents=True)
    folder = state_dir / "sessions"
    folder.mkdir(mode=0o700, exist_ok=True)
    os.chmod(folder, 0o700)
    return folder
