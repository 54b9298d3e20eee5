"""Helpers the installer's tests share (tests/install)."""

from __future__ import annotations

import sys
from pathlib import Path


def python_without_site_packages(path: Path) -> Path:
    """An editor's Python that lacks pyzmq and msgpack: this Python with its site-packages switched off."""
    path.write_text(f'#!/bin/sh\nexec "{sys.executable}" -S "$@"\n')
    path.chmod(0o755)
    return path
