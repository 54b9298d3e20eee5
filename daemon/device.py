"""Choosing the torch device: CUDA, Apple MPS or CPU."""

from __future__ import annotations

import torch

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


class DeviceError(RuntimeError):
    pass


def pick_device(preference: str = "auto") -> torch.device:
    """`auto` takes CUDA, then MPS, then CPU; naming an absent device is an error, not a silent fallback."""
    if preference not in DEVICE_CHOICES and not preference.startswith("cuda:"):
        raise DeviceError(f"unknown device {preference!r}; choose one of {', '.join(DEVICE_CHOICES)}")
    cuda, mps = torch.cuda.is_available(), torch.backends.mps.is_available()
    if preference == "auto":
        return torch.device("cuda" if cuda else "mps" if mps else "cpu")
    if preference.startswith("cuda") and not cuda:
        raise DeviceError("CUDA was asked for, but torch sees no CUDA GPU (is this a CPU build of torch?)")
    if preference == "mps" and not mps:
        raise DeviceError("MPS was asked for, but this machine or torch build has no Apple MPS support")
    return torch.device(preference)


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return device.type
