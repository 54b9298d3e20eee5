"""The GIMP plug-in's settings file: where the daemon listens, and how to start one.

    GIMP_PROFILE/dragd.ini          (the profile GIMP names with Gimp.directory(), e.g. ~/.config/GIMP/3.0)

    [daemon]
    # the daemon's ZeroMQ address
    address = tcp://127.0.0.1:5557
    # how to start a daemon on this computer when none answers ({address} is filled in)
    command = /home/me/dragd/.venv/bin/dragd serve --address {address}

`python -m dragd.install.gimp` writes it (`--address`, `--daemon-command`); users may edit it. What wins: a
script's `address` argument, then $DRAGD_ADDRESS / $DRAGD_DAEMON_COMMAND, then this file, then the defaults.
Standard library only and no relative imports: the installer loads this file on its own.
"""

from __future__ import annotations

import configparser
import os
import shlex
from dataclasses import dataclass
from pathlib import Path

FILE_NAME = "dragd.ini"
SECTION = "daemon"
DEFAULT_COMMAND = "dragd serve --address {address}"


@dataclass(frozen=True)
class DaemonSettings:
    """The address ("" : the protocol's default) and start command (a shell-like line) the plug-in uses."""

    address: str = ""
    command: str = DEFAULT_COMMAND
    source: str = "defaults"  # where they came from, for messages: a file path, or "defaults"

    def argv(self) -> list[str]:
        """The start command as an argument list; `{address}` stays a placeholder."""
        return shlex.split(self.command, posix=os.name != "nt")


class SettingsError(ValueError):
    """The settings file cannot be read; the message names the file and what is wrong."""


def settings_path(profile: str | Path) -> Path:
    return Path(profile) / FILE_NAME


def where(path: str | Path) -> str:
    """How messages name this place, so the user knows what to edit."""
    return (f"the plug-in's settings file {path} ([{SECTION}] address = ..., command = ...; "
            "`python -m dragd.install.gimp --address ... --daemon-command ...` writes it)")


def read_settings(path: str | Path, env: dict[str, str] | None = None) -> DaemonSettings:
    """The file's settings (defaults where it is absent or silent), then the environment's overrides."""
    env = dict(os.environ) if env is None else env
    address, command, source = "", DEFAULT_COMMAND, "defaults"
    path = Path(path)
    if path.is_file():
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read(path, encoding="utf-8")
        except (configparser.Error, UnicodeDecodeError, OSError) as exc:
            raise SettingsError(f"The plug-in's settings file {path} cannot be read ({exc}). Fix or delete it; "
                                "`python -m dragd.install.gimp` writes a new one.") from None
        if parser.has_section(SECTION):
            address = parser.get(SECTION, "address", fallback="").strip()
            command = parser.get(SECTION, "command", fallback="").strip() or DEFAULT_COMMAND
        source = str(path)
    address = env.get("DRAGD_ADDRESS") or address
    if env.get("DRAGD_DAEMON_COMMAND"):
        command = f"{env['DRAGD_DAEMON_COMMAND']} serve --address {{address}}"
    settings = DaemonSettings(address, command, source)
    try:
        if not settings.argv():
            raise ValueError("it is empty")
    except ValueError as exc:
        raise SettingsError(f"The daemon command {command!r} in {source} cannot be split into words ({exc}). "
                            f"Fix it in {where(path)}.") from None
    return settings


def write_settings(path: str | Path, address: str | None = None, command: str | None = None) -> Path:
    """Writes the file, keeping the values it has where `address` / `command` are None."""
    path = Path(path)
    current = read_settings(path, env={}) if path.is_file() else DaemonSettings()
    address = current.address if address is None else address
    command = current.command if command is None else command
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "# dragd GIMP plug-in settings (written by python -m dragd.install.gimp; you may edit them)\n"
        f"[{SECTION}]\n"
        "# the daemon's ZeroMQ address; empty: tcp://127.0.0.1:5557\n"
        f"address = {address}\n"
        "# how to start a daemon on this computer when none answers ({address} is filled in)\n"
        f"command = {command}\n", encoding="utf-8")
    return path
