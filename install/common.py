"""What the installers share (install.py, krita.py, gimp.py): the error a user has to act on, unpacking a
wheel for an editor's own Python next to its plugin, and the daemon command a plugin starts.

Standard library only, like every installer file: install.sh runs install.py as a file before dragd is installed,
and install.py then loads this folder as a package of its own (`dragd_installer`), so relative imports work.
"""

from __future__ import annotations

import shlex
import sys
import zipfile
from pathlib import Path


class InstallError(Exception):
    """Something the user has to fix (no profile found, a wheel that is not a wheel, a failed pip run); the
    message says what."""


def unpack_wheel(wheel: Path, lib: Path, folder_name: str = "plugin folder") -> None:
    """A wheel is a zip whose top level is importable as is: unpack it into `lib`, refusing every path that
    would land outside it (`folder_name` names `lib` in that message: the editor's own word for it)."""
    lib.mkdir(parents=True, exist_ok=True)
    try:
        with zipfile.ZipFile(wheel) as archive:
            for member in archive.namelist():
                if not (lib / member).resolve().is_relative_to(lib.resolve()):
                    raise InstallError(f"{wheel.name}: refusing the path {member!r}, it leaves the {folder_name}")
            archive.extractall(lib)
    except (OSError, zipfile.BadZipFile) as exc:
        raise InstallError(f"cannot unpack the wheel {wheel}: {exc}") from None


def default_daemon_command(python: str | None = None) -> str | None:
    """The `dragd serve` of the environment running this installer, when it has one (else the plugins fall
    back to `dragd` on the editor's PATH). `{address}` stays a placeholder the plugin fills in."""
    folder = Path(python or sys.executable).parent
    for name in ("dragd", "dragd.exe"):
        if (folder / name).is_file():
            return f"{shlex.quote(str(folder / name))} serve --address {{address}}"
    return None
