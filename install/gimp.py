"""Installs the dragd plug-in into a GIMP 3 profile.

    python -m dragd.install.gimp [--profile DIR] [--wheel FILE ...] [--daemon-command CMD] [--address ADDR]
                                 [--uninstall]

GIMP 3 runs `PROFILE/plug-ins/dragd/dragd.py` (executable, named after its folder). Next to it, under `lib/`,
go vendored copies of `dragd.gimp_plugin` and `dragd.protocol`, so GIMP's own Python needs nothing from this
project's environment; only pyzmq and msgpack, which Debian ships as python3-zmq and python3-msgpack. For GIMP
builds that bundle their own Python, `--wheel` unpacks wheels matching that Python into `lib/` as well.

The plug-in's settings (the daemon's address and the command that starts one) go to `PROFILE/dragd.ini`
(gimp_plugin/settings.py), outside the plug-in folder, so an upgrade keeps what the user edited there.

Re-running replaces the plug-in folder (an upgrade in place); `--uninstall` removes that folder and the
settings file, nothing else.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from .common import InstallError, default_daemon_command, unpack_wheel

PLUGIN_NAME = "dragd"
PACKAGE_ROOT = Path(__file__).resolve().parent.parent  # the folder holding gimp_plugin/ and protocol/
ENTRY_FILE = PACKAGE_ROOT / "gimp_plugin" / "plug-ins" / PLUGIN_NAME / f"{PLUGIN_NAME}.py"
VENDORED = ("gimp_plugin", "protocol")  # copied to lib/dragd/<name>/


def default_profile(env: dict[str, str] | None = None, home: Path | None = None,
                    platform: str | None = None) -> Path:
    """The GIMP 3 profile folder GIMP itself would use: $GIMP3_DIRECTORY, else the platform's default.

    Linux: ~/.config/GIMP/3.0 ($XDG_CONFIG_HOME respected), or the Flatpak's when only that one exists.
    """
    env = dict(os.environ) if env is None else env
    home = Path.home() if home is None else home
    platform = sys.platform if platform is None else platform
    if env.get("GIMP3_DIRECTORY"):
        return Path(env["GIMP3_DIRECTORY"])
    if platform == "win32":
        return Path(env.get("APPDATA") or home / "AppData" / "Roaming") / "GIMP" / "3.0"
    if platform == "darwin":
        return home / "Library" / "Application Support" / "GIMP" / "3.0"
    native = Path(env.get("XDG_CONFIG_HOME") or home / ".config") / "GIMP" / "3.0"
    flatpak = home / ".var" / "app" / "org.gimp.GIMP" / "config" / "GIMP" / "3.0"
    return flatpak if flatpak.is_dir() and not native.is_dir() else native


def plugin_folder(profile: Path) -> Path:
    return profile / "plug-ins" / PLUGIN_NAME


def _settings() -> Any:
    """gimp_plugin/settings.py, loaded as a file: it works the same before dragd is installed (install.sh)."""
    spec = importlib.util.spec_from_file_location("dragd_gimp_settings",
                                                  PACKAGE_ROOT / "gimp_plugin" / "settings.py")
    assert spec is not None and spec.loader is not None
    if spec.name in sys.modules:
        return sys.modules[spec.name]
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def settings_file(profile: Path) -> Path:
    return _settings().settings_path(profile)


def install_gimp_plugin(profile: Path | None = None, wheels: Iterable[Path] = (), daemon_command: str | None = None,
                        address: str | None = None) -> Path:
    """Puts the plug-in into `profile` (default: `default_profile()`) and returns the plug-in folder.

    The settings file gets `daemon_command` (default: this environment's `dragd`, when it has one) and
    `address` where given; values the user set there before are kept otherwise."""
    profile = default_profile() if profile is None else Path(profile)
    if not ENTRY_FILE.is_file():
        raise InstallError(f"the plug-in's entry file is missing from this installation: {ENTRY_FILE}")
    target = plugin_folder(profile)
    staging = target.with_name(target.name + ".new")  # build next to it, then swap: no half-installed plug-in
    shutil.rmtree(staging, ignore_errors=True)
    lib = staging / "lib" / "dragd"
    lib.mkdir(parents=True)
    # A regular package (not a namespace): it must win over the entry file dragd.py in the folder above.
    (lib / "__init__.py").write_text('"""dragd code vendored for the GIMP plug-in by dragd.install.gimp."""\n')
    for name in VENDORED:
        shutil.copytree(PACKAGE_ROOT / name, lib / name,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "plug-ins"))
    for wheel in wheels:
        unpack_wheel(Path(wheel), staging / "lib", "plug-in folder")
    entry = staging / ENTRY_FILE.name
    shutil.copyfile(ENTRY_FILE, entry)
    entry.chmod(0o755)
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    settings = _settings()
    path = settings.settings_path(profile)
    try:
        if daemon_command is None and not path.is_file():
            daemon_command = default_daemon_command()
        settings.write_settings(path, address, daemon_command)
    except settings.SettingsError as exc:
        raise InstallError(str(exc)) from None
    return target


def uninstall_gimp_plugin(profile: Path | None = None) -> bool:
    """Removes the plug-in folder from `profile`; True when there was one."""
    target = plugin_folder(default_profile() if profile is None else Path(profile))
    settings = settings_file(target.parent.parent)
    if settings.is_file():
        settings.unlink()
    if not target.exists():
        return False
    shutil.rmtree(target)
    return True


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dragd.install.gimp", description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", type=Path, help="the GIMP 3 profile folder (default: $GIMP3_DIRECTORY, "
                        "else GIMP's own default for this system)")
    parser.add_argument("--wheel", type=Path, action="append", default=[],
                        help="a pyzmq or msgpack wheel for GIMP's bundled Python, unpacked next to the plug-in")
    parser.add_argument("--daemon-command", help="how the plug-in starts the daemon when none answers; {address} "
                        "is filled in (default: this environment's dragd)")
    parser.add_argument("--address", help="the daemon's address (default: tcp://127.0.0.1:5557)")
    parser.add_argument("--uninstall", action="store_true", help="remove the plug-in and its settings file")
    args = parser.parse_args(argv)
    profile = args.profile or default_profile()
    try:
        if args.uninstall:
            removed = uninstall_gimp_plugin(profile)
            print(f"removed {plugin_folder(profile)}" if removed else f"nothing to remove in {profile}")
            return 0
        folder = install_gimp_plugin(profile, args.wheel, args.daemon_command, args.address)
    except (InstallError, OSError) as exc:
        print(f"dragd GIMP plug-in: {exc}", file=sys.stderr)
        return 1
    print(f"installed the GIMP plug-in into {folder}; its settings: {settings_file(profile)}")
    print("restart GIMP, then: Filters > Distorts > DragGAN drag..., File > Create > DragGAN new from model...")
    return 0


if __name__ == "__main__":
    sys.exit(main())
