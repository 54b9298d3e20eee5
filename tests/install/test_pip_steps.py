"""Choosing the torch build (install/pip_steps.py); pip runs themselves are covered by test_install.py."""

from __future__ import annotations

import subprocess

import pytest
from dragd.install import pip_steps


@pytest.mark.parametrize(("requested", "system", "machine", "gpus", "variant"), [
    ("auto", "Linux", "x86_64", ["GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-1)"], "cuda"),
    ("auto", "Windows", "AMD64", ["GPU 0: NVIDIA GeForce RTX 4090"], "cuda"),
    ("auto", "Linux", "x86_64", [], "cpu"),
    ("auto", "Darwin", "arm64", [], "mps"),
    ("auto", "Darwin", "x86_64", [], "cpu"),
    ("cpu", "Linux", "x86_64", ["GPU 0: NVIDIA H100"], "cpu"),
    ("skip", "Linux", "x86_64", [], "skip"),
])
def test_choose_torch(requested, system, machine, gpus, variant):
    chosen, why = pip_steps.choose_torch(requested, system, machine, gpus)
    assert chosen == variant and why
    if variant == "cuda":
        assert gpus[0] in why


def test_torch_pip_args_use_the_cuda_index_only_for_cuda():
    assert pip_steps.torch_pip_args("cuda", "torch==2.13.0", None) == ["torch==2.13.0", "--index-url",
                                                                       pip_steps.CUDA_INDEX_URL]
    assert pip_steps.torch_pip_args("cpu", "torch==2.13.0", None) == ["torch==2.13.0"]
    assert pip_steps.torch_pip_args("mps", "torch==2.13.0", None) == ["torch==2.13.0"]
    assert pip_steps.torch_pip_args("cpu", "torch==2.13.0", "https://x/cpu") == ["torch==2.13.0", "--index-url",
                                                                                "https://x/cpu"]
    assert pip_steps.torch_pip_args("skip", "torch==2.13.0", None) == []


def test_nvidia_gpus_reads_nvidia_smi(monkeypatch):
    monkeypatch.setattr(pip_steps.shutil, "which", lambda name: "/usr/bin/nvidia-smi")

    def smi(argv, **kwargs):
        return subprocess.CompletedProcess(argv, 0, "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-x)\n", "")

    def broken(argv, **kwargs):
        return subprocess.CompletedProcess(argv, 9, "", "NVIDIA-SMI has failed: no driver")

    assert pip_steps.nvidia_gpus(smi) == ["GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-x)"]
    assert pip_steps.nvidia_gpus(broken) == []
