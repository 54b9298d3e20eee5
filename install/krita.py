"""Installs the dragd docker into Krita, or builds the zip that Krita's own importer takes.

    python -m dragd.install.krita [--resources DIR] [--kritarc FILE] [--wheel FILE ...] [--daemon-command CMD]
                                  [--address ADDR] [--uninstall]
    python -m dragd.install.krita --zip OUT.zip      # for Tools > Scripts > Import Python Plugin from File...

Krita loads `RESOURCES/pykrita/dragd_krita/` (named by `pykrita/dragd_krita.desktop`) when kritarc enables it
(`[python] enable_dragd_krita=true`); the menu actions are described by `RESOURCES/actions/dragd_krita.action`.
Inside the plugin folder go vendored copies of `dragd.krita_plugin` and `dragd.protocol` under `dragd/`, the
same relative layout as in this repository, so Krita's Python needs nothing from the project's environment but
pyzmq and msgpack (Debian: python3-zmq, python3-msgpack). For a Krita with its own bundled Python, `--wheel`
unpacks matching wheels into the plugin's `lib/`. The daemon's address and start command go to kritarc's
`[dragd]` group, where the plugin reads them.

Re-running replaces the plugin (an upgrade in place); `--uninstall` removes what the install added.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from .common import InstallError, default_daemon_command, unpack_wheel

PLUGIN_NAME = "dragd_krita"
PACKAGE_ROOT = Path(__file__).resolve().parent.parent  # the folder holding krita_plugin/ and protocol/
PLUGIN_SOURCE = PACKAGE_ROOT / "krita_plugin"
ENTRY_PACKAGE = PLUGIN_SOURCE / "pykrita" / PLUGIN_NAME  # Krita's entry: __init__.py, Manual.html
DESKTOP_FILE = PLUGIN_SOURCE / "pykrita" / f"{PLUGIN_NAME}.desktop"
ACTION_FILE = PLUGIN_SOURCE / "actions" / f"{PLUGIN_NAME}.action"
VENDORED = ("krita_plugin", "protocol")  # copied to pykrita/dragd_krita/dragd/<name>/
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "pykrita", "actions")
_DRAGD_INIT = '"""dragd code vendored for the Krita plugin by dragd.install.krita."""\n'


# ---- where Krita keeps things ------------------------------------------------------------------------------


def _flatpak(home: Path) -> Path:
    return home / ".var" / "app" / "org.kde.krita"


def default_resources(env: dict[str, str] | None = None, home: Path | None = None,
                      platform: str | None = None) -> Path:
    """Krita's resource folder (the one holding pykrita/): Linux ~/.local/share/krita ($XDG_DATA_HOME
    respected; the Flatpak's when only that one exists), Windows %APPDATA%/krita, macOS
    ~/Library/Application Support/krita."""
    env = dict(os.environ) if env is None else env
    home = Path.home() if home is None else home
    platform = sys.platform if platform is None else platform
    if platform == "win32":
        return Path(env.get("APPDATA") or home / "AppData" / "Roaming") / "krita"
    if platform == "darwin":
        return home / "Library" / "Application Support" / "krita"
    native = Path(env.get("XDG_DATA_HOME") or home / ".local" / "share") / "krita"
    flatpak = _flatpak(home) / "data" / "krita"
    return flatpak if flatpak.is_dir() and not native.is_dir() else native


def default_kritarc(env: dict[str, str] | None = None, home: Path | None = None,
                    platform: str | None = None) -> Path:
    """Krita's settings file: Linux ~/.config/kritarc ($XDG_CONFIG_HOME respected; the Flatpak's when only that
    one exists), Windows %LOCALAPPDATA%/kritarc, macOS ~/Library/Preferences/kritarc."""
    env = dict(os.environ) if env is None else env
    home = Path.home() if home is None else home
    platform = sys.platform if platform is None else platform
    if platform == "win32":
        return Path(env.get("LOCALAPPDATA") or home / "AppData" / "Local") / "kritarc"
    if platform == "darwin":
        return home / "Library" / "Preferences" / "kritarc"
    native = Path(env.get("XDG_CONFIG_HOME") or home / ".config") / "kritarc"
    flatpak = _flatpak(home) / "config" / "kritarc"
    return flatpak if flatpak.is_file() and not native.is_file() else native


# ---- kritarc -------------------------------------------------------------------------------------------------


def set_config_value(text: str, group: str, key: str, value: str | None) -> str:
    """kritarc (a KConfig INI file) with `key=value` set in `[group]` (None removes the key, and the group
    when that leaves it empty). Edits lines in place, so the rest stays exactly as Krita wrote it."""
    lines = text.splitlines()
    header = f"[{group}]"
    start = next((i for i, line in enumerate(lines) if line.strip() == header), None)
    if start is None:
        if value is None:
            return text
        tail = [] if not lines or lines[-1].strip() == "" else [""]
        return "\n".join([*lines, *tail, header, f"{key}={value}", ""])
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("[")), len(lines))
    found = next((i for i in range(start + 1, end) if lines[i].split("=", 1)[0].strip() == key), None)
    if found is not None and value is None:
        del lines[found]
        if all(line.strip() == "" for line in lines[start + 1:end - 1]):
            del lines[start:end - 1]  # the group and the blank lines after it
            while start == len(lines) and lines and lines[-1].strip() == "":
                lines.pop()  # it was the last group: also the blank line that set it apart
                start -= 1
    elif found is not None:
        lines[found] = f"{key}={value}"
    elif value is not None:
        insert = end
        while insert > start + 1 and lines[insert - 1].strip() == "":
            insert -= 1  # keep the blank line that separates groups after our key
        lines.insert(insert, f"{key}={value}")
    return "\n".join(lines) + "\n"


def _edit_kritarc(path: Path, changes: Iterable[tuple[str, str, str | None]]) -> None:
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    for group, key, value in changes:
        text = set_config_value(text, group, key, value)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


# ---- install / uninstall -------------------------------------------------------------------------------------


def _check_sources() -> None:
    for path in (ENTRY_PACKAGE / "__init__.py", DESKTOP_FILE, ACTION_FILE):
        if not path.is_file():
            raise InstallError(f"a file of the Krita plugin is missing from this installation: {path}")


def build_plugin_folder(target: Path, wheels: Iterable[Path] = ()) -> Path:
    """The importable plugin folder (what goes to pykrita/dragd_krita), built at `target`."""
    _check_sources()
    shutil.copytree(ENTRY_PACKAGE, target, ignore=_IGNORE)
    (target / "dragd").mkdir()
    # A regular package, so `dragd_krita.dragd.krita_plugin` imports `..protocol` as in the repository.
    (target / "dragd" / "__init__.py").write_text(_DRAGD_INIT)
    for name in VENDORED:
        shutil.copytree(PACKAGE_ROOT / name, target / "dragd" / name, ignore=_IGNORE)
    for wheel in wheels:
        unpack_wheel(Path(wheel), target / "lib")
    return target


def install_krita_plugin(resources: Path | None = None, kritarc: Path | None = None, wheels: Iterable[Path] = (),
                         daemon_command: str | None = None, address: str | None = None) -> Path:
    """Puts the plugin into Krita's resource folder, enables it in kritarc; returns the plugin folder."""
    resources = default_resources() if resources is None else Path(resources)
    kritarc = default_kritarc() if kritarc is None else Path(kritarc)
    pykrita = resources / "pykrita"
    pykrita.mkdir(parents=True, exist_ok=True)
    target = pykrita / PLUGIN_NAME
    staging = target.with_name(target.name + ".new")  # build next to it, then swap: no half-installed plugin
    shutil.rmtree(staging, ignore_errors=True)
    build_plugin_folder(staging, wheels)
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    shutil.copyfile(DESKTOP_FILE, pykrita / DESKTOP_FILE.name)
    (resources / "actions").mkdir(exist_ok=True)
    shutil.copyfile(ACTION_FILE, resources / "actions" / ACTION_FILE.name)
    _edit_kritarc(kritarc, [("python", f"enable_{PLUGIN_NAME}", "true"),
                            ("dragd", "daemon_command", daemon_command), ("dragd", "address", address)])
    return target


def uninstall_krita_plugin(resources: Path | None = None, kritarc: Path | None = None) -> bool:
    """Removes the plugin's files and its kritarc entries; True when there was something to remove."""
    resources = default_resources() if resources is None else Path(resources)
    kritarc = default_kritarc() if kritarc is None else Path(kritarc)
    removed = False
    folder = resources / "pykrita" / PLUGIN_NAME
    if folder.exists():
        shutil.rmtree(folder)
        removed = True
    for path in (resources / "pykrita" / DESKTOP_FILE.name, resources / "actions" / ACTION_FILE.name):
        if path.exists():
            path.unlink()
            removed = True
    if kritarc.is_file():
        before = kritarc.read_text(encoding="utf-8")
        _edit_kritarc(kritarc, [("python", f"enable_{PLUGIN_NAME}", None), ("dragd", "daemon_command", None),
                                ("dragd", "address", None)])
        removed = removed or before != kritarc.read_text(encoding="utf-8")
    return removed


def build_plugin_zip(destination: Path, wheels: Iterable[Path] = ()) -> Path:
    """A zip for Tools > Scripts > Import Python Plugin from File: `dragd_krita.desktop`, `dragd_krita/` and
    `dragd_krita.action` at its top level. Krita's importer finds the module folder by its directory entry,
    so every folder gets one (zipfile does not add them by itself)."""
    import tempfile

    destination = Path(destination)
    with tempfile.TemporaryDirectory() as temporary:
        folder = build_plugin_folder(Path(temporary) / PLUGIN_NAME, wheels)
        destination.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(destination, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.write(DESKTOP_FILE, DESKTOP_FILE.name)
            archive.write(ACTION_FILE, ACTION_FILE.name)
            for path in sorted([folder, *folder.rglob("*")]):
                name = path.relative_to(folder.parent).as_posix()
                if path.is_dir():
                    archive.writestr(name + "/", b"")
                else:
                    archive.write(path, name)
    return destination


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dragd.install.krita", description=__doc__.split("\n\n")[0])
    parser.add_argument("--resources", type=Path, help="Krita's resource folder (default: Krita's own default "
                        "for this system, e.g. ~/.local/share/krita)")
    parser.add_argument("--kritarc", type=Path, help="Krita's settings file (default: e.g. ~/.config/kritarc)")
    parser.add_argument("--wheel", type=Path, action="append", default=[],
                        help="a pyzmq or msgpack wheel for Krita's bundled Python, unpacked into the plugin's lib/")
    parser.add_argument("--daemon-command", help="how the plugin starts the daemon when none answers; {address} "
                        "is replaced (default: this environment's `dragd serve`, if it has one)")
    parser.add_argument("--address", help="the daemon's address (default: the plugin's, tcp://127.0.0.1:5557)")
    parser.add_argument("--zip", type=Path, help="only build this zip for Krita's plugin importer")
    parser.add_argument("--uninstall", action="store_true", help="remove the plugin")
    args = parser.parse_args(argv)
    try:
        if args.zip:
            print(f"wrote {build_plugin_zip(args.zip, args.wheel)}: in Krita, Tools > Scripts > Import Python "
                  "Plugin from File..., then enable it in Settings > Configure Krita > Python Plugin Manager")
            return 0
        resources = args.resources or default_resources()
        kritarc = args.kritarc or default_kritarc()
        if args.uninstall:
            removed = uninstall_krita_plugin(resources, kritarc)
            print(f"removed the Krita plugin from {resources}" if removed else f"nothing to remove in {resources}")
            return 0
        command = args.daemon_command or default_daemon_command()
        folder = install_krita_plugin(resources, kritarc, args.wheel, command, args.address)
    except (InstallError, OSError) as exc:
        print(f"dragd Krita plugin: {exc}", file=sys.stderr)
        return 1
    print(f"installed the Krita plugin into {folder} and enabled it in {kritarc}")
    print("restart Krita, then: Settings > Dockers > DragGAN")
    return 0


if __name__ == "__main__":
    sys.exit(main())
