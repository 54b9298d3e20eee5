"""The one-command installer (install/install.py through install/install.sh): what it places, upgrade in place,
and an --uninstall that leaves the home folder exactly as it was. No network: --torch skip, the project's own
.venv lent to the new environment, and pip restricted to a local folder of stand-in wheels."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from dragd.install import install as installer
from dragd.install.editors import missing_modules
from dragd.install.manifest import MANIFEST_NAME
from install_fixtures import python_without_site_packages
from platformdirs import macos, unix

REPO = Path(__file__).resolve().parents[2]
INSTALL_SH = REPO / "install" / "install.sh"
PROJECT_VENV = Path(sys.prefix)  # the environment running the tests: its torch etc. are reused, not downloaded


# ---- helpers ----------------------------------------------------------------------------------------------


def snapshot(root: Path) -> dict[str, tuple[str, str]]:
    """Every path under root: (type and permission bits, content hash or link target)."""
    found = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        if path.is_symlink():
            found[str(path.relative_to(root))] = ("link", os.readlink(path))
        elif path.is_dir():
            found[str(path.relative_to(root))] = (f"dir {stat.S_IMODE(info.st_mode):o}", "")
        else:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            found[str(path.relative_to(root))] = (f"file {stat.S_IMODE(info.st_mode):o}", digest)
    return found


def fake_wheels(folder: Path) -> Path:
    """Stand-ins for the pyzmq and msgpack wheels a bundled editor Python would need: importable modules that
    say who they are, named with real tags, so `pip download --platform ...` picks them from a local folder."""
    folder.mkdir(parents=True, exist_ok=True)
    for dist, version, module, tag in (("pyzmq", "27.0.0", "zmq", "manylinux_2_28_x86_64"),
                                       ("msgpack", "1.1.0", "msgpack", "manylinux_2_17_x86_64.manylinux2014_x86_64")):
        py = f"cp{sys.version_info.major}{sys.version_info.minor}"
        with zipfile.ZipFile(folder / f"{dist}-{version}-{py}-{py}-{tag}.whl", "w") as wheel:
            wheel.writestr(f"{module}/__init__.py", "STAND_IN = True\n")
            info = f"{dist}-{version}.dist-info"
            wheel.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
            wheel.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: false\n"
                                            f"Tag: {py}-{py}-linux_x86_64\n")
            wheel.writestr(f"{info}/RECORD", "")
    return folder


def fake_home(root: Path) -> Path:
    """A home folder with a Krita that has run once (resources, a kritarc with settings) and a GIMP 3 profile
    holding someone else's plug-in."""
    home = root / "home"
    (home / ".local" / "share" / "krita" / "brushes").mkdir(parents=True)
    (home / ".local" / "share" / "krita" / "brushes" / "mine.kpp").write_bytes(b"brush")
    (home / ".config").mkdir()
    (home / ".config" / "kritarc").write_text("[General]\nDockers=1\n\n[MainWindow]\nState=abc\n")
    other = home / ".config" / "GIMP" / "3.0" / "plug-ins" / "other" / "other.py"
    other.parent.mkdir(parents=True)
    other.write_text("#!/usr/bin/env python3\n")
    other.chmod(0o755)
    (home / ".config" / "GIMP" / "3.0" / "gimprc").write_text("(theme \"Dark\")\n")
    add_rustup(home)
    return home


def add_rustup(home: Path) -> None:
    """A rustup-like rustc in ~/.cargo/bin, as rustup installs it: run, it writes its settings into
    $RUSTUP_HOME (default ~/.rustup) before answering. pip runs `rustc --version` for its user agent."""
    rustc = home / ".cargo" / "bin" / "rustc"
    rustc.parent.mkdir(parents=True)
    rustc.write_text('#!/bin/sh\nd="${RUSTUP_HOME:-$HOME/.rustup}"\nmkdir -p "$d" && echo "profile = 1" > '
                     '"$d/settings.toml"\necho "rustc 1.80.0 (rustup-like stand-in)"\n')
    rustc.chmod(0o755)
    (home / ".rustup").mkdir()  # rustup's folder, without settings.toml yet


def run_installer(home: Path, *args: str, wheels: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("XDG_", "GIMP3_", "DRAGD_"))}
    env |= {
        "HOME": str(home),
        "PATH": f"{home / '.cargo' / 'bin'}{os.pathsep}{os.environ['PATH']}",  # the rustup-like rustc, if any
        "PIP_NO_INDEX": "1",  # no network: only the local folder below, and the lent .venv
        "PIP_FIND_LINKS": str(wheels or home.parent / "no-wheels"),
    }
    return subprocess.run(["sh", str(INSTALL_SH), *args], capture_output=True, text=True, env=env, timeout=300,
                          cwd=home.parent)


def install_args(home: Path, gimp_python: Path) -> list[str]:
    return ["--torch", "skip", "--reuse-packages-from", str(PROJECT_VENV), "--krita-python", sys.executable,
            "--gimp-python", str(gimp_python)]


# ---- the whole installer, as a user runs it -------------------------------------------------------------------


def test_install_places_everything_upgrades_in_place_and_uninstall_restores_the_home(tmp_path):
    home = fake_home(tmp_path)
    wheels = fake_wheels(tmp_path / "wheels")
    gimp_python = python_without_site_packages(tmp_path / "gimp-python")
    before = snapshot(home)

    done = run_installer(home, *install_args(home, gimp_python), wheels=wheels)
    assert done.returncode == 0, done.stdout + done.stderr
    data = home / ".local" / "share" / "dragd"
    venv = data / "venv"
    krita = home / ".local" / "share" / "krita"
    gimp = home / ".config" / "GIMP" / "3.0"
    after = snapshot(home)

    # Exactly these paths are new (each folder listed here with everything inside it), and only kritarc changed.
    trees = {data, krita / "pykrita" / "dragd_krita", gimp / "plug-ins" / "dragd"}
    singles = {home / ".local" / "bin", home / ".local" / "bin" / "dragd", krita / "pykrita",
               krita / "pykrita" / "dragd_krita.desktop", krita / "actions", krita / "actions" / "dragd_krita.action",
               gimp / "dragd.ini"}
    new = {home / p for p in after.keys() - before.keys()}
    assert {p for p in new if not any(p == t or t in p.parents for t in trees)} == singles
    assert trees <= new
    changed = {p for p in before.keys() & after.keys() if before[p] != after[p]}
    assert changed == {".config/kritarc"}
    assert before.keys() <= after.keys()

    # The daemon's environment: dragd installed into it (not the checkout's editable copy), torch lent, and the
    # data files a package needs shipped with it (the embedded model, the editors' plugin entry files).
    code = ("import dragd.daemon, torch; from dragd.daemon.models.registry import find_model; "
            "from dragd.install import gimp, krita; print(dragd.daemon.__file__); print(find_model(None).path); "
            "print(gimp.ENTRY_FILE); print(krita.DESKTOP_FILE); print(krita.ACTION_FILE)")
    where = subprocess.run([str(venv / "bin" / "python"), "-c", code], capture_output=True, text=True,
                           check=True).stdout.split("\n")[:5]
    for path in map(Path, where):
        assert path.is_relative_to(venv) and path.is_file(), path
    assert os.readlink(home / ".local" / "bin" / "dragd") == str(venv / "bin" / "dragd")
    assert (venv / "bin" / "dragd").is_file() and (data / "install.log").is_file()

    # Krita: plugin, desktop and action files, enabled in kritarc with this environment's daemon command; its
    # Python (this one) imports pyzmq and msgpack, so no wheels were added; the user's settings are untouched.
    assert (krita / "pykrita" / "dragd_krita" / "__init__.py").is_file()
    assert (krita / "pykrita" / "dragd_krita" / "dragd" / "krita_plugin" / "adapter.py").is_file()
    assert not (krita / "pykrita" / "dragd_krita" / "lib").exists()
    kritarc = (home / ".config" / "kritarc").read_text()
    assert kritarc.startswith("[General]\nDockers=1\n\n[MainWindow]\nState=abc\n")
    assert "[python]\nenable_dragd_krita=true" in kritarc
    assert f"daemon_command={venv / 'bin' / 'dragd'} serve --address {{address}}" in kritarc

    # GIMP: its Python lacks pyzmq and msgpack, so matching wheels were fetched and unpacked beside the plug-in,
    # and with them that Python now imports both (the stand-ins say so).
    plugin = gimp / "plug-ins" / "dragd"
    assert os.access(plugin / "dragd.py", os.X_OK)
    assert (plugin / "lib" / "dragd" / "gimp_plugin" / "drag.py").is_file()
    assert (plugin / "lib" / "zmq" / "__init__.py").read_text() == "STAND_IN = True\n"
    assert (plugin / "lib" / "msgpack" / "__init__.py").read_text() == "STAND_IN = True\n"
    assert str(venv / "bin" / "dragd") in (gimp / "dragd.ini").read_text()  # the plug-in starts this daemon
    assert missing_modules(gimp_python) == {"zmq": "ModuleNotFoundError: No module named 'zmq'",
                                                      "msgpack": "ModuleNotFoundError: No module named 'msgpack'"}
    assert missing_modules(gimp_python, extra_paths=[plugin / "lib"]) == {}
    assert "GIMP's Python" in done.stdout and "lacks zmq, msgpack" in done.stdout
    # and its settings file names this environment's daemon command (messages tell the user to look there).
    assert f"command = {venv / 'bin' / 'dragd'} serve --address {{address}}" in (gimp / "dragd.ini").read_text()
    assert "Krita's Python" in done.stdout and "imports pyzmq and msgpack" in done.stdout
    assert "doctor" in done.stdout and "dragd drag --seed 0" in done.stdout  # what to do next
    assert "Krita: restart it" in done.stdout and "GIMP:  restart it" in done.stdout  # both were installed
    assert "installed face alignment" in done.stdout  # the artist's install includes it (the lent .venv has it)
    assert "Requirement already satisfied: dlib-bin" in (data / "install.log").read_text()
    assert "    Collecting " in done.stdout or "    Successfully installed" in done.stdout  # pip's progress shown

    # The manifest lists what was created, nothing that was there before.
    manifest = json.loads((data / "install-manifest.json").read_text())
    recorded = {Path(entry["path"]) for entry in manifest["created"]}
    assert recorded == trees | singles | {data / "install.log", venv}
    assert all(home / p not in recorded for p in before)

    # Re-running upgrades in place: a stale file inside the plug-in goes, nothing new is recorded.
    stale = plugin / "lib" / "dragd" / "gimp_plugin" / "stale.py"
    stale.write_text("")
    again = run_installer(home, *install_args(home, gimp_python), wheels=wheels)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "upgrading" in again.stdout and not stale.exists()
    assert snapshot(home).keys() == after.keys()
    assert json.loads((data / "install-manifest.json").read_text())["created"] == manifest["created"]

    gone = run_installer(home, "--uninstall")
    assert gone.returncode == 0, gone.stdout + gone.stderr
    assert snapshot(home) == before  # the rustup-like tool wrote nothing into the home either
    assert "nothing to uninstall" in run_installer(home, "--uninstall").stdout


def test_uninstall_keeps_what_the_user_added_and_settings_written_since(tmp_path):
    home = tmp_path / "home"
    (home / ".local" / "share" / "krita").mkdir(parents=True)  # Krita ran once but wrote no kritarc yet
    before = snapshot(home)
    done = run_installer(home, "--torch", "skip", "--reuse-packages-from", str(PROJECT_VENV),
                         "--krita-python", sys.executable, "--gimp-python", sys.executable,
                         "--gimp-dir", str(home / "gimp-profile"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "GIMP plug-in" in done.stdout and (home / "gimp-profile" / "plug-ins" / "dragd" / "dragd.py").is_file()
    model = home / ".local" / "share" / "dragd" / "models" / "mine.safetensors"
    model.parent.mkdir()
    model.write_bytes(b"weights")
    kritarc = home / ".config" / "kritarc"
    kritarc.write_text(kritarc.read_text() + "\n[General]\nDockers=1\n")  # Krita saved its settings since

    gone = run_installer(home, "--uninstall")
    assert gone.returncode == 0, gone.stdout + gone.stderr
    left = {home / p for p in snapshot(home).keys() - before.keys()}
    assert left == {home / ".local" / "share" / "dragd", model.parent, model, home / ".config", kritarc}
    assert kritarc.read_text().strip() == "[General]\nDockers=1"  # only dragd's entries went
    assert "kept" in gone.stdout and [p.name for p in (home / ".local" / "share" / "dragd").iterdir()] == ["models"]


def test_no_editors_and_dry_run_touch_no_editor(tmp_path):
    home = fake_home(tmp_path)
    krita_before = snapshot(home / ".config")
    plan = run_installer(home, "--dry-run", "--torch", "cpu")
    assert plan.returncode == 0 and snapshot(home / ".config") == krita_before
    assert "torch: cpu (asked for with --torch)" in plan.stdout and "Krita:" in plan.stdout
    assert not (home / ".local" / "share" / "dragd").exists()
    done = run_installer(home, "--torch", "skip", "--reuse-packages-from", str(PROJECT_VENV), "--no-editors",
                         "--no-faces")
    assert done.returncode == 0, done.stdout + done.stderr
    assert snapshot(home / ".config") == krita_before
    assert not (home / ".local" / "share" / "krita" / "pykrita").exists()
    assert "Krita: restart" not in done.stdout and "GIMP:  restart" not in done.stdout  # steps for what is there
    assert "face alignment left out (--no-faces)" in done.stdout


def test_an_unreadable_manifest_is_one_clear_line(tmp_path, capsys):
    (tmp_path / MANIFEST_NAME).write_text("{not json")
    assert installer.main(["--uninstall", "--data-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("dragd installer: the install manifest") and len(err.splitlines()) == 1


# ---- the pieces -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("xdg", ["", "/xdg/data"])
def test_data_dir_is_platformdirs_user_data_dir(monkeypatch, xdg, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_DATA_HOME", xdg)
    assert installer.default_data_dir() == Path(unix.Unix("dragd").user_data_dir)  # platformdirs itself, here
    assert installer.default_data_dir(platform="linux") == Path(unix.Unix("dragd").user_data_dir)
    assert installer.default_data_dir(platform="darwin") == Path(macos.MacOS("dragd").user_data_dir)
    env = {"LOCALAPPDATA": "C:/Users/a/AppData/Local"}
    assert installer.default_data_dir(env, platform="win32") == Path("C:/Users/a/AppData/Local/dragd/dragd")
