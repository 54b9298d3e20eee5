"""Finding the editors' Pythons and what they cannot import (install/editors.py)."""

from __future__ import annotations

import sys
from pathlib import Path

from dragd.install import editors
from dragd.install.pip_steps import installed_torch_build
from install_fixtures import python_without_site_packages


def test_pip_platforms():
    linux = editors.pip_platforms("linux-x86_64", ("glibc", "2.31"))
    assert linux[0] == "manylinux_2_31_x86_64" and linux[-2:] == ("manylinux_2_17_x86_64", "manylinux2014_x86_64")
    assert editors.pip_platforms("linux-aarch64", ("", "")) == ("manylinux_2_17_aarch64", "manylinux2014_aarch64")
    assert editors.pip_platforms("win-amd64") == ("win_amd64",)
    assert editors.pip_platforms("macosx-11.0-arm64") == ("macosx_11_0_arm64", "macosx_11_0_universal2")


def test_missing_modules_and_a_python_that_does_not_run(tmp_path):
    assert editors.missing_modules(Path(sys.executable)) == {}
    lacking = python_without_site_packages(tmp_path / "py")
    assert set(editors.missing_modules(lacking)) == {"zmq", "msgpack"}
    assert "cannot run" in editors.missing_modules(tmp_path / "absent")
    broken = tmp_path / "broken"
    broken.write_text("#!/bin/sh\necho oops >&2\nexit 3\n")
    broken.chmod(0o755)
    assert "exit status 3" in editors.missing_modules(broken)
    assert editors.describe_python(broken).version is None
    assert installed_torch_build(Path(sys.executable)) in ("cpu", "cuda")
    assert installed_torch_build(lacking) is None  # no torch there


def test_editor_pythons_found_from_interpreter_files_and_bundles(tmp_path):
    interp = tmp_path / "pygimp.interp"
    interp.write_text(f"python=/usr/bin/python\npython3={sys.executable}\n/usr/bin/python3=python3\n")
    found = editors.gimp_python(tmp_path, env={}, platform="linux", interpreter_files=[interp])
    assert found.executable == Path(sys.executable)
    assert found.version == f"{sys.version_info.major}.{sys.version_info.minor}"
    flatpak = editors.gimp_python(tmp_path / ".var/app/org.gimp.GIMP/config/GIMP/3.0", env={}, platform="linux")
    assert flatpak.executable is None and "Flatpak" in flatpak.note

    bin_dir = tmp_path / "Krita (x64)" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python310.dll").write_bytes(b"")
    bundled = editors.krita_python(tmp_path, env={"ProgramFiles": str(tmp_path)}, platform="win32")
    assert (bundled.executable, bundled.version, bundled.platforms) == (None, "3.10", ("win_amd64",))
    assert editors.krita_python(tmp_path, env={"DRAGD_KRITA_PYTHON": "/x/py"}).executable == Path("/x/py")
