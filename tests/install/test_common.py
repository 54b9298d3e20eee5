"""What the installers share (install/common.py): one InstallError, and wheels unpacked inside their folder only."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from dragd.install import common, gimp, install, krita


def test_every_installer_raises_the_same_error():
    assert install.InstallError is krita.InstallError is gimp.InstallError is common.InstallError


def test_a_wheel_is_unpacked_into_lib(tmp_path: Path):
    wheel = tmp_path / "pkg-1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("pkg/__init__.py", "X = 1\n")
    common.unpack_wheel(wheel, tmp_path / "plugin" / "lib")  # lib is created when missing
    assert (tmp_path / "plugin" / "lib" / "pkg" / "__init__.py").read_text() == "X = 1\n"


def test_escaping_paths_and_non_wheels_are_refused(tmp_path: Path):
    evil = tmp_path / "evil.whl"
    with zipfile.ZipFile(evil, "w") as archive:
        archive.writestr("pkg/../../escaped.py", "")
    with pytest.raises(common.InstallError, match="'pkg/../../escaped.py', it leaves the plug-in folder"):
        common.unpack_wheel(evil, tmp_path / "lib", "plug-in folder")
    assert not list(tmp_path.rglob("escaped.py"))
    junk = tmp_path / "junk.whl"
    junk.write_bytes(b"not a zip")
    with pytest.raises(common.InstallError, match="cannot unpack the wheel"):
        common.unpack_wheel(junk, tmp_path / "lib")
