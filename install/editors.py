"""Finding the editors and the Python each runs its plugin with: Krita's resource folder and GIMP 3's profile
(through the editor steps, install/krita.py and install/gimp.py), that Python's version and pip platform tags,
and which of the plugins' own dependencies it cannot import.

Used by the installer (install.py) and by `dragd doctor` (daemon/doctor.py), so both agree on where things
are. Standard library only, like every installer file (install.sh runs install.py before dragd is installed).
"""

from __future__ import annotations

import json
import os
import platform as platform_module
import shutil
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from . import gimp as gimp_step
from . import krita as krita_step
from .pip_steps import SUBPROCESS_TIMEOUT_S

# What the editor plugins need in the editor's own Python (module, distribution); the protocol imports both.
EDITOR_DEPENDENCIES = (("zmq", "pyzmq>=24"), ("msgpack", "msgpack>=1.0"))


# ---- an editor's own Python -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class EditorPython:
    """The Python an editor runs its plugins with: an executable we can run, or only its version and platform
    (a Python bundled inside the application), or neither (`note` says why)."""

    executable: Path | None = None
    version: str | None = None  # "3.11"
    platforms: tuple[str, ...] = ()  # pip platform tags, e.g. ("manylinux_2_36_x86_64",)
    note: str = ""

    def describe(self) -> str:
        if self.executable is not None:
            return str(self.executable)
        if self.version:
            return f"Python {self.version} bundled with the editor ({self.platforms[0]})"
        return self.note or "unknown"


_FACTS_CODE = ("import json, platform, sys, sysconfig; print(json.dumps({'version': '%d.%d' % sys.version_info[:2], "
               "'platform': sysconfig.get_platform(), 'libc': platform.libc_ver(), "
               "'implementation': sys.implementation.name}))")


def pip_platforms(sysconfig_platform: str, libc: Sequence[str] = ()) -> tuple[str, ...]:
    """pip `--platform` tags for a Python whose sysconfig.get_platform() is `sysconfig_platform`."""
    name = sysconfig_platform.replace("-", "_").replace(".", "_")
    if name.startswith("linux_"):
        arch = name[len("linux_"):]
        glibc = libc[1].split(".") if len(libc) == 2 and libc[0] == "glibc" else []
        newest = int(glibc[1]) if len(glibc) == 2 and glibc[0] == "2" and glibc[1].isdigit() else 17
        # pip takes the tags literally: every glibc from this one down to manylinux2014's 2.17 is acceptable
        return (*(f"manylinux_2_{minor}_{arch}" for minor in range(newest, 16, -1)), f"manylinux2014_{arch}")
    if name.startswith("macosx_"):
        arch = name.rsplit("_", 1)[-1]
        return (name, f"{name.rsplit('_', 1)[0]}_universal2") if arch in ("arm64", "x86_64") else (name,)
    return (name,)  # win_amd64, win_arm64


def describe_python(executable: Path, run=subprocess.run) -> EditorPython:
    """Runs `executable` to learn its version and platform; an EditorPython with a note when it will not run."""
    try:
        done = run([str(executable), "-c", _FACTS_CODE], capture_output=True, text=True,
                   timeout=SUBPROCESS_TIMEOUT_S)
        facts = json.loads(done.stdout) if done.returncode == 0 else None
    except (OSError, subprocess.SubprocessError, ValueError):
        facts = None
    if not isinstance(facts, dict) or not isinstance(facts.get("version"), str):
        return EditorPython(executable, note=f"{executable} does not run as a Python")
    return EditorPython(executable, facts["version"], pip_platforms(str(facts.get("platform", "")),
                                                                    facts.get("libc") or ()))


_IMPORT_CODE = """
import json, sys
sys.path.extend(sys.argv[2:])  # the plugin's lib/, as the plugins themselves add it
missing = {}
for module in sys.argv[1].split(","):
    try:
        __import__(module)
    except Exception as exc:  # an ImportError, or a wheel built for another Python
        missing[module] = f"{type(exc).__name__}: {exc}"
print(json.dumps(missing))
"""


EDITOR_MODULES = tuple(module for module, _ in EDITOR_DEPENDENCIES)


def missing_modules(executable: Path, modules: Iterable[str] = EDITOR_MODULES,
                    extra_paths: Iterable[Path] = (), run=subprocess.run) -> dict[str, str] | str:
    """{module: why} for the modules `executable` cannot import (empty: all import), or a string saying why
    that Python could not be asked at all."""
    argv = [str(executable), "-c", _IMPORT_CODE, ",".join(modules), *(str(p) for p in extra_paths)]
    try:
        done = run(argv, capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT_S)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"cannot run {executable}: {exc}"
    try:
        missing = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        missing = None
    if done.returncode != 0 or not isinstance(missing, dict):
        return f"{executable} failed (exit status {done.returncode}): {(done.stderr or done.stdout).strip()[-300:]}"
    return missing


def _bundled_version(folder: Path, pattern: str, prefix: str) -> str | None:
    """'3.10' from a bundled Python's file name, e.g. python310.dll or Versions/3.10."""
    for found in sorted(folder.glob(pattern), reverse=True):
        digits = found.name.removeprefix(prefix).split(".dll")[0]
        if "." in digits:
            return digits
        if digits.isdigit() and len(digits) >= 2:
            return f"{digits[0]}.{digits[1:]}"
    return None


def krita_python(resources: Path, env: dict[str, str] | None = None, platform: str | None = None) -> EditorPython:
    """The Python Krita runs plugins with. A Linux distribution's Krita uses the system python3; the Windows and
    macOS builds bundle their own (only its version is known); a Flatpak or AppImage bundles one we cannot see."""
    env = dict(os.environ) if env is None else env
    platform = sys.platform if platform is None else platform
    if env.get("DRAGD_KRITA_PYTHON"):
        return EditorPython(Path(env["DRAGD_KRITA_PYTHON"]))
    if platform == "win32":
        for root in filter(None, (env.get("ProgramFiles"), env.get("ProgramW6432"))):
            version = _bundled_version(Path(root) / "Krita (x64)" / "bin", "python3*.dll", "python")
            if version:
                return EditorPython(version=version, platforms=("win_amd64",))
        return EditorPython(note="Krita's bundled Python was not found under Program Files")
    if platform == "darwin":
        framework = Path("/Applications/krita.app/Contents/Frameworks/Python.framework/Versions")
        version = _bundled_version(framework, "3.*", "") if framework.is_dir() else None
        if version:
            arch = "arm64" if platform_module.machine() == "arm64" else "x86_64"
            return EditorPython(version=version, platforms=(f"macosx_11_0_{arch}", "macosx_10_9_universal2"))
        return EditorPython(note="Krita's bundled Python was not found in /Applications/krita.app")
    if ".var/app/org.kde.krita" in resources.as_posix():
        return EditorPython(note="the Flatpak Krita bundles its own Python")
    system = Path("/usr/bin/python3")
    found = system if system.exists() else (Path(p) if (p := shutil.which("python3")) else None)
    return describe_python(found) if found else EditorPython(note="no python3 found")


def gimp_interpreter_files() -> list[Path]:
    """GIMP 3's interpreter files (lines like `python3=/usr/bin/python3`) on a Linux system."""
    return sorted({*Path("/usr/lib").glob("gimp/3.0/interpreters/*.interp"),
                   *Path("/usr/lib").glob("*/gimp/3.0/interpreters/*.interp"),
                   *Path("/usr/local/lib").glob("gimp/3.0/interpreters/*.interp")})


def gimp_python(profile: Path, env: dict[str, str] | None = None, platform: str | None = None,
                interpreter_files: Iterable[Path] | None = None) -> EditorPython:
    """The Python GIMP 3 runs the plug-in with: the one its interpreter file names for `python3` (else the
    python3 on PATH, as the plug-in's `#!/usr/bin/env python3` line says); on Windows GIMP's own python.exe."""
    env = dict(os.environ) if env is None else env
    platform = sys.platform if platform is None else platform
    if env.get("DRAGD_GIMP_PYTHON"):
        return EditorPython(Path(env["DRAGD_GIMP_PYTHON"]))
    if platform == "win32":
        for root in filter(None, (env.get("ProgramFiles"), env.get("ProgramW6432"))):
            for name in ("python.exe", "python3.exe"):
                candidate = Path(root) / "GIMP 3" / "bin" / name
                if candidate.is_file():
                    return describe_python(candidate)
        return EditorPython(note="GIMP's python.exe was not found under Program Files\\GIMP 3")
    if platform == "darwin":
        for candidate in sorted(Path("/Applications").glob("GIMP*.app/Contents/MacOS/python3*")):
            return describe_python(candidate)
        return EditorPython(note="GIMP's bundled Python was not found in /Applications/GIMP.app")
    if ".var/app/org.gimp.GIMP" in profile.as_posix():
        return EditorPython(note="the Flatpak GIMP bundles its own Python")
    named: dict[str, str] = {}
    for interp in gimp_interpreter_files() if interpreter_files is None else interpreter_files:
        try:
            lines = interp.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
        for line in lines:
            name, _, value = line.partition("=")
            if value.strip().startswith("/"):
                named.setdefault(name.strip(), value.strip())
    for name in ("python3", "python"):  # the plug-in's first line says python3
        if name in named:
            return describe_python(Path(named[name]))
    found = shutil.which("python3")
    return describe_python(Path(found)) if found else EditorPython(note="no python3 found")


# ---- the editors found here -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Editor:
    name: str  # "Krita" or "GIMP"
    location: Path  # Krita's resource folder, GIMP's profile
    plugin: Path  # the plugin folder the editor step creates
    lib: Path  # where the plugin puts wheels on its path
    found: bool
    settings: Path | None = None  # kritarc


def find_krita(resources: Path | None = None) -> Editor:
    resources = krita_step.default_resources() if resources is None else resources
    plugin = resources / "pykrita" / krita_step.PLUGIN_NAME
    return Editor("Krita", resources, plugin, plugin / "lib", resources.is_dir(), krita_step.default_kritarc())


def find_gimp(profile: Path | None = None) -> Editor:
    profile = gimp_step.default_profile() if profile is None else profile
    plugin = gimp_step.plugin_folder(profile)
    return Editor("GIMP", profile, plugin, plugin / "lib", profile.is_dir())


def editor_python(editor: Editor, override: Path | None = None) -> EditorPython:
    if override is not None:
        return describe_python(override)
    return krita_python(editor.location) if editor.name == "Krita" else gimp_python(editor.location)
