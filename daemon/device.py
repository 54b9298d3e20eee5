"""Choosing the torch device (CUDA, Apple MPS or CPU) and how many CPU threads torch may use.

torch is imported inside the functions: `apply_thread_policy` must run before the first `import torch`, because the
OpenMP runtime reads OMP_WAIT_POLICY once, when torch loads it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")
WAIT_POLICIES = ("passive", "active")
# PASSIVE: OpenMP threads sleep between parallel regions instead of spinning. On a machine where other programs
# (the editor rendering, other jobs) keep the cores busy, spinning threads burn the time slices the working threads
# need: beside two busy processes, the embedded model's drag ran 10-100x slower with spinning threads than with
# sleeping ones (README, Measured; benchmarks/contention.py).
DEFAULT_WAIT_POLICY = "passive"


class DeviceError(RuntimeError):
    pass


def check_device_name(preference: str) -> str:
    """`preference` if it names a device dragd knows (DEVICE_CHOICES, or cuda:N); DeviceError otherwise. Needs no
    torch, so the command line refuses a mistyped device at once."""
    if preference not in DEVICE_CHOICES and not re.fullmatch(r"cuda:\d+", preference):
        raise DeviceError(f"unknown device {preference!r}; choose one of {', '.join(DEVICE_CHOICES)} (or cuda:N)")
    return preference


def pick_device(preference: str = "auto") -> torch.device:
    """`auto` takes CUDA, then MPS, then CPU; naming an absent device is an error, not a silent fallback."""
    import torch

    check_device_name(preference)
    cuda, mps = torch.cuda.is_available(), torch.backends.mps.is_available()
    if preference == "auto":
        return torch.device("cuda" if cuda else "mps" if mps else "cpu")
    if preference.startswith("cuda") and not cuda:
        raise DeviceError("CUDA was asked for, but torch sees no CUDA GPU (is this a CPU build of torch?)")
    if preference == "mps" and not mps:
        raise DeviceError("MPS was asked for, but this machine or torch build has no Apple MPS support")
    return torch.device(preference)


def describe_device(device: torch.device) -> str:
    import torch

    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return device.type


def default_threads(cores: int | None = None) -> int:
    """One thread per core, as torch would choose; with the PASSIVE wait policy this was the fastest choice on the
    shared 2-core test machine beside two busy processes (benchmarks/contention.py, README: 2 passive threads ran
    the embedded drag 4-30x faster than 1 thread in 3 of 3 rounds, torch's default spinning threads 10x slower
    than 1 thread)."""
    return max(1, cores if cores is not None else (os.cpu_count() or 1))


@dataclass(frozen=True)
class ThreadPolicy:
    threads: int  # torch's intra-op threads
    wait_policy: str  # OMP_WAIT_POLICY as the OpenMP runtime reads it, lower case
    applied: bool  # False when torch had loaded OpenMP before: the wait policy could no longer change

    def describe(self) -> str:
        note = "" if self.applied else " (wait policy not applied: torch was already loaded)"
        return f"{self.threads} thread{'s' if self.threads != 1 else ''}, OpenMP wait policy {self.wait_policy}{note}"


def apply_thread_policy(threads: int | None = None, wait_policy: str | None = None) -> ThreadPolicy:
    """Sets how torch will use the CPU; call it before anything imports torch (it imports nothing heavy).

    threads: intra-op threads; None: OMP_NUM_THREADS if the user set it, else `default_threads()` (one per core).
    wait_policy: "passive" or "active"; None: OMP_WAIT_POLICY if the user set it, else DEFAULT_WAIT_POLICY.
    Before torch loads, both go to the environment (OMP_NUM_THREADS, OMP_WAIT_POLICY), which torch and its OpenMP
    runtime read when they start; afterwards only the thread count can change (torch.set_num_threads).
    Raises ValueError for a thread count below 1 or an unknown wait policy.
    """
    import sys

    if threads is not None and threads < 1:
        raise ValueError(f"threads must be at least 1, not {threads}")
    if wait_policy is not None and wait_policy not in WAIT_POLICIES:
        raise ValueError(f"wait policy must be one of {', '.join(WAIT_POLICIES)}, not {wait_policy!r}")
    policy = wait_policy or os.environ.get("OMP_WAIT_POLICY", DEFAULT_WAIT_POLICY).lower()
    if threads is None:
        from_env = os.environ.get("OMP_NUM_THREADS", "")
        threads = int(from_env) if from_env.isdigit() and int(from_env) >= 1 else default_threads()
    torch = sys.modules.get("torch")
    if torch is None:
        os.environ["OMP_WAIT_POLICY"] = policy.upper()
        os.environ["OMP_NUM_THREADS"] = str(threads)
        return ThreadPolicy(threads, policy, True)
    torch.set_num_threads(threads)
    return ThreadPolicy(threads, policy, os.environ.get("OMP_WAIT_POLICY", "").lower() == policy)
