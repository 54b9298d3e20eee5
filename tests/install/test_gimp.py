"""The GIMP step of the installer (install/gimp.py): what it places, upgrade in place, uninstall, wheels."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from dragd.install import gimp


def test_install_places_an_executable_entry_and_a_self_contained_vendored_copy(tmp_path):
    folder = gimp.install_gimp_plugin(tmp_path / "profile")
    assert folder == tmp_path / "profile" / "plug-ins" / "dragd"
    entry = folder / "dragd.py"
    assert entry.read_text().startswith("#!/usr/bin/env python3\n")
    assert os.access(entry, os.X_OK)
    lib = folder / "lib" / "dragd"
    assert (lib / "__init__.py").is_file()
    for module in ("gimp_plugin/adapter.py", "gimp_plugin/drag.py", "gimp_plugin/options.py",
                   "protocol/client.py", "protocol/messages.py"):
        assert (lib / module).is_file(), module
    assert not list(folder.rglob("__pycache__")) and not (lib / "gimp_plugin" / "plug-ins").exists()
    # The vendored copy is what imports (not this project's editable install): `dragd` is a regular package
    # in lib/, so every dragd.* import resolves inside it, and one that leaves it would fail here.
    code = ("import sys; sys.path[:0] = [sys.argv[1]]; import dragd.gimp_plugin.drag as d, "
            "dragd.protocol.client as c; print(d.__file__); print(c.__file__)")
    found = subprocess.run([sys.executable, "-c", code, str(folder / "lib")], capture_output=True,
                           text=True, check=True).stdout.split()
    assert [Path(f) for f in found] == [lib / "gimp_plugin" / "drag.py", lib / "protocol" / "client.py"]


def test_the_vendored_package_wins_over_the_entry_file_of_the_same_name(tmp_path):
    # GIMP starts dragd.py as __main__ with its own folder on sys.path; "import dragd" must find lib/dragd.
    folder = gimp.install_gimp_plugin(tmp_path)
    code = "import sys; sys.path[:0] = [sys.argv[1], sys.argv[2]]; import dragd; print(dragd.__file__)"
    found = subprocess.run([sys.executable, "-c", code, str(folder / "lib"), str(folder)],
                           capture_output=True, text=True, check=True).stdout.strip()
    assert Path(found) == folder / "lib" / "dragd" / "__init__.py"


def test_reinstall_replaces_the_folder_and_uninstall_removes_only_it(tmp_path):
    profile = tmp_path / "profile"
    other = profile / "plug-ins" / "someone-else" / "someone-else.py"
    other.parent.mkdir(parents=True)
    other.write_text("#!/usr/bin/env python3\n")
    folder = gimp.install_gimp_plugin(profile)
    stale = folder / "lib" / "dragd" / "gimp_plugin" / "stale.py"
    stale.write_text("")
    gimp.install_gimp_plugin(profile)
    assert not stale.exists() and (folder / "dragd.py").is_file()
    assert not (profile / "plug-ins" / "dragd.new").exists()
    assert gimp.uninstall_gimp_plugin(profile) is True
    assert not folder.exists() and other.is_file()
    assert gimp.uninstall_gimp_plugin(profile) is False


def test_wheels_are_unpacked_next_to_the_plugin_and_escaping_paths_refused(tmp_path):
    wheel = tmp_path / "msgpack-1.0.3-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("msgpack/__init__.py", "VERSION = 'vendored'\n")
    folder = gimp.install_gimp_plugin(tmp_path / "p", wheels=[wheel])
    assert (folder / "lib" / "msgpack" / "__init__.py").read_text() == "VERSION = 'vendored'\n"

    evil = tmp_path / "evil-1-py3-none-any.whl"
    with zipfile.ZipFile(evil, "w") as archive:
        archive.writestr("../../../escaped.py", "")
    with pytest.raises(gimp.InstallError, match="leaves the plug-in folder"):
        gimp.install_gimp_plugin(tmp_path / "q", wheels=[evil])
    assert not list(tmp_path.rglob("escaped.py"))
    assert not (tmp_path / "q" / "plug-ins" / "dragd").exists()


@pytest.mark.parametrize(("env", "platform", "expected"), [
    ({"GIMP3_DIRECTORY": "/custom"}, "linux", "/custom"),
    ({}, "linux", "HOME/.config/GIMP/3.0"),
    ({"XDG_CONFIG_HOME": "/xdg"}, "linux", "/xdg/GIMP/3.0"),
    ({}, "darwin", "HOME/Library/Application Support/GIMP/3.0"),
    ({"APPDATA": "/appdata"}, "win32", "/appdata/GIMP/3.0"),
])
def test_default_profile_follows_gimp(env, platform, expected, tmp_path):
    found = gimp.default_profile(env, home=tmp_path, platform=platform)
    assert found == Path(expected.replace("HOME", str(tmp_path)))


def test_flatpak_profile_is_used_when_only_it_exists(tmp_path):
    flatpak = tmp_path / ".var/app/org.gimp.GIMP/config/GIMP/3.0"
    flatpak.mkdir(parents=True)
    assert gimp.default_profile({}, home=tmp_path, platform="linux") == flatpak


def test_command_line_installs_and_uninstalls(tmp_path, capsys):
    assert gimp.main(["--profile", str(tmp_path)]) == 0
    assert "installed the GIMP plug-in" in capsys.readouterr().out
    assert (tmp_path / "plug-ins" / "dragd" / "dragd.py").is_file()
    assert gimp.main(["--profile", str(tmp_path), "--uninstall"]) == 0
    assert not (tmp_path / "plug-ins" / "dragd").exists()
    assert gimp.main(["--profile", str(tmp_path), "--wheel", str(tmp_path / "missing.whl")]) == 1
    assert "cannot unpack the wheel" in capsys.readouterr().err


def test_install_writes_the_settings_file_the_plugin_reads_and_an_upgrade_keeps_the_users_edits(tmp_path):
    from dragd.gimp_plugin.settings import read_settings

    profile = tmp_path / "profile"
    gimp.install_gimp_plugin(profile, daemon_command="/opt/dragd/bin/dragd serve --address {address}",
                             address="tcp://127.0.0.1:6000")
    path = gimp.settings_file(profile)
    assert path == profile / "dragd.ini"
    settings = read_settings(path, env={})
    assert (settings.address, settings.argv()) == ("tcp://127.0.0.1:6000",
                                                   ["/opt/dragd/bin/dragd", "serve", "--address", "{address}"])
    path.write_text(path.read_text().replace("6000", "6001"))  # the user edits it
    gimp.install_gimp_plugin(profile)  # an upgrade without options keeps it
    assert read_settings(path, env={}).address == "tcp://127.0.0.1:6001"
    gimp.uninstall_gimp_plugin(profile)
    assert not path.exists()


def test_the_installer_command_line_takes_the_address_and_daemon_command(tmp_path, capsys):
    profile = tmp_path / "profile"
    assert gimp.main(["--profile", str(profile), "--address", "tcp://127.0.0.1:7000",
                      "--daemon-command", "dragd serve --address {address}"]) == 0
    assert "address = tcp://127.0.0.1:7000" in (profile / "dragd.ini").read_text()
    assert str(profile / "dragd.ini") in capsys.readouterr().out
