"""daemon/device.py: device choice and the CPU thread policy (applied in a fresh interpreter, before torch loads)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from dragd.daemon.device import DeviceError, apply_thread_policy, default_threads, describe_device, pick_device

# Applies a policy, then loads torch and reports what torch and OpenMP were given.
PROBE = """
import json, os, sys
from dragd.daemon.device import apply_thread_policy
policy = apply_thread_policy(*json.loads(sys.argv[1]))
import torch
print(json.dumps({"threads": torch.get_num_threads(), "policy": policy.wait_policy, "applied": policy.applied,
                  "env": os.environ.get("OMP_WAIT_POLICY")}))
"""


def probe(threads, wait_policy, **env) -> dict:
    environ = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY")}
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps([threads, wait_policy])], capture_output=True,
                          text=True, timeout=120, env={**environ, **env}, check=True)
    return json.loads(done.stdout)


def test_default_threads_are_one_per_core():
    assert [default_threads(n) for n in (1, 2, 8)] == [1, 2, 8]
    assert default_threads() == (os.cpu_count() or 1)


def test_the_policy_reaches_torch_and_openmp_when_set_before_torch_loads():
    assert probe(None, None) == {"threads": default_threads(), "policy": "passive", "applied": True,
                                 "env": "PASSIVE"}
    assert probe(2, "active") == {"threads": 2, "policy": "active", "applied": True, "env": "ACTIVE"}


def test_the_users_environment_is_the_default_and_flags_override_it():
    assert probe(None, None, OMP_NUM_THREADS="2", OMP_WAIT_POLICY="ACTIVE")["threads"] == 2
    assert probe(None, None, OMP_NUM_THREADS="2", OMP_WAIT_POLICY="ACTIVE")["policy"] == "active"
    assert probe(1, "passive", OMP_NUM_THREADS="2", OMP_WAIT_POLICY="ACTIVE") == {
        "threads": 1, "policy": "passive", "applied": True, "env": "PASSIVE"}


def test_after_torch_loaded_only_the_thread_count_changes():
    before = torch.get_num_threads()
    try:
        policy = apply_thread_policy(1, "active" if os.environ.get("OMP_WAIT_POLICY") != "ACTIVE" else "passive")
        assert torch.get_num_threads() == 1 and not policy.applied and "not applied" in policy.describe()
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("threads,wait_policy,message", [(0, None, "at least 1"), (None, "spin", "wait policy")])
def test_bad_policies_are_refused(threads, wait_policy, message):
    with pytest.raises(ValueError, match=message):
        apply_thread_policy(threads, wait_policy)


def test_devices():
    assert pick_device("cpu").type == "cpu" and describe_device(pick_device("cpu")) == "cpu"
    with pytest.raises(DeviceError, match="unknown device"):
        pick_device("quantum")
    if not torch.cuda.is_available():
        with pytest.raises(DeviceError, match="no CUDA GPU"):
            pick_device("cuda")
