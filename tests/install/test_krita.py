"""The Krita installer step (install/krita.py): files placed, kritarc edited in place, the importer's zip."""

from __future__ import annotations

import ast
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from dragd.install import krita
from dragd.install.krita import (
    build_plugin_zip,
    default_daemon_command,
    default_kritarc,
    default_resources,
    install_krita_plugin,
    set_config_value,
    uninstall_krita_plugin,
)

REPO = Path(__file__).resolve().parents[2]
KRITA_IMPORTER = Path("/usr/share/krita/pykrita/plugin_importer/plugin_importer.py")  # Debian's krita package
KRITARC = "[General]\nfoo=bar\n\n[python]\nenable_scripter=true\n\n[theme]\nTheme=Krita dark\n"


def files_under(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def test_install_places_the_plugin_and_enables_it(tmp_path: Path) -> None:
    resources, kritarc = tmp_path / "krita", tmp_path / "config" / "kritarc"
    kritarc.parent.mkdir()
    kritarc.write_text(KRITARC)
    folder = install_krita_plugin(resources, kritarc, daemon_command="/opt/dragd serve --address {address}",
                                  address="tcp://127.0.0.1:6000")
    assert folder == resources / "pykrita" / "dragd_krita"
    files = files_under(folder)
    assert {"__init__.py", "Manual.html", "dragd/__init__.py", "dragd/krita_plugin/adapter.py",
            "dragd/krita_plugin/controller.py", "dragd/protocol/client.py", "dragd/protocol/SPEC.md"} <= files
    assert not [f for f in files if "__pycache__" in f or f.startswith(("dragd/krita_plugin/pykrita",
                                                                       "dragd/krita_plugin/actions"))]
    assert (resources / "pykrita" / "dragd_krita.desktop").read_text().count("X-KDE-Library=dragd_krita") == 1
    assert 'Action name="dragd_drag"' in (resources / "actions" / "dragd_krita.action").read_text()
    text = kritarc.read_text()
    assert "[python]\nenable_scripter=true\nenable_dragd_krita=true\n\n[theme]" in text
    assert text.startswith("[General]\nfoo=bar\n") and text.endswith(
        "[dragd]\ndaemon_command=/opt/dragd serve --address {address}\naddress=tcp://127.0.0.1:6000\n")


def test_reinstall_upgrades_in_place_and_uninstall_leaves_things_as_they_were(tmp_path: Path) -> None:
    resources, kritarc = tmp_path / "krita", tmp_path / "kritarc"
    (resources / "pykrita" / "other_plugin").mkdir(parents=True)
    (resources / "pykrita" / "other_plugin.desktop").write_text("[Desktop Entry]\n")
    kritarc.write_text(KRITARC)
    folder = install_krita_plugin(resources, kritarc, daemon_command="dragd serve")
    (folder / "stale.py").write_text("left over from an old version")
    install_krita_plugin(resources, kritarc, daemon_command="dragd serve")
    assert not (folder / "stale.py").exists() and kritarc.read_text().count("enable_dragd_krita") == 1
    assert uninstall_krita_plugin(resources, kritarc) is True
    assert kritarc.read_text() == KRITARC
    assert files_under(resources) == {"pykrita/other_plugin.desktop"}
    assert (resources / "pykrita" / "other_plugin").is_dir() and not (resources / "actions" / "dragd_krita.action"
                                                                       ).exists()
    assert uninstall_krita_plugin(resources, kritarc) is False


def test_wheels_go_to_the_plugins_lib_folder_and_bad_ones_are_refused(tmp_path: Path) -> None:
    wheel = tmp_path / "msgpack-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("msgpack/__init__.py", "version = (1, 0)\n")
    folder = install_krita_plugin(tmp_path / "krita", tmp_path / "kritarc", [wheel])
    assert (folder / "lib" / "msgpack" / "__init__.py").is_file()
    evil = tmp_path / "evil.whl"
    with zipfile.ZipFile(evil, "w") as archive:
        archive.writestr("../../outside.py", "")
    with pytest.raises(krita.InstallError, match="leaves the plugin folder"):
        install_krita_plugin(tmp_path / "krita", tmp_path / "kritarc", [evil])
    assert not (tmp_path / "outside.py").exists()


@pytest.mark.parametrize(("before", "group", "key", "value", "after"), [
    ("", "python", "enable_x", "true", "[python]\nenable_x=true\n"),
    ("[a]\nk=1\n", "python", "enable_x", "true", "[a]\nk=1\n\n[python]\nenable_x=true\n"),
    ("[python]\nenable_x=false\n[b]\n", "python", "enable_x", "true", "[python]\nenable_x=true\n[b]\n"),
    ("[python]\na=1\n\n[b]\n", "python", "enable_x", "true", "[python]\na=1\nenable_x=true\n\n[b]\n"),
    ("[python]\nenable_x=true\na=1\n", "python", "enable_x", None, "[python]\na=1\n"),
    ("[a]\nk=1\n\n[dragd]\nx=1\n\n[b]\nm=2\n", "dragd", "x", None, "[a]\nk=1\n\n[b]\nm=2\n"),
    ("[a]\nk=1\n", "dragd", "x", None, "[a]\nk=1\n"),
    ("[a]\nkey_with_prefix=1\n", "a", "key", "2", "[a]\nkey_with_prefix=1\nkey=2\n"),
])
def test_kritarc_edits(before: str, group: str, key: str, value: str | None, after: str) -> None:
    assert set_config_value(before, group, key, value) == after


def test_default_places_per_system(tmp_path: Path) -> None:
    home = tmp_path
    assert default_resources({}, home, "linux") == home / ".local/share/krita"
    assert default_resources({"XDG_DATA_HOME": "/x"}, home, "linux") == Path("/x/krita")
    assert default_kritarc({"XDG_CONFIG_HOME": "/c"}, home, "linux") == Path("/c/kritarc")
    assert default_resources({"APPDATA": "C:/AppData/Roaming"}, home, "win32") == Path("C:/AppData/Roaming/krita")
    assert default_kritarc({"LOCALAPPDATA": "C:/AppData/Local"}, home, "win32") == Path("C:/AppData/Local/kritarc")
    assert default_resources({}, home, "darwin") == home / "Library/Application Support/krita"
    assert default_kritarc({}, home, "darwin") == home / "Library/Preferences/kritarc"
    flatpak = home / ".var/app/org.kde.krita"
    (flatpak / "data/krita").mkdir(parents=True)
    (flatpak / "config").mkdir()
    (flatpak / "config/kritarc").write_text("")
    assert default_resources({}, home, "linux") == flatpak / "data/krita"
    assert default_kritarc({}, home, "linux") == flatpak / "config/kritarc"


def test_the_daemon_command_is_this_environments_dragd(tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir()
    assert default_daemon_command(str(tmp_path / "bin" / "python")) is None
    (tmp_path / "bin" / "dragd").write_text("")
    expected = f"{tmp_path}/bin/dragd serve --address {{address}}"
    assert default_daemon_command(str(tmp_path / "bin" / "python")) == expected


def test_the_zip_has_what_krita_s_importer_looks_for(tmp_path: Path) -> None:
    archive = zipfile.ZipFile(build_plugin_zip(tmp_path / "dragd-krita.zip"))
    names = archive.namelist()
    assert {"dragd_krita.desktop", "dragd_krita.action", "dragd_krita/", "dragd_krita/__init__.py",
            "dragd_krita/dragd/", "dragd_krita/dragd/krita_plugin/controller.py",
            "dragd_krita/dragd/protocol/client.py"} <= set(names)
    assert all(name.startswith("dragd_krita") for name in names)


@pytest.mark.editor
def test_krita_s_own_importer_accepts_the_zip(tmp_path: Path) -> None:
    if not KRITA_IMPORTER.is_file():
        pytest.fail(f"Krita's plugin importer is not at {KRITA_IMPORTER}: apt-get install krita (.ci/run does)")
    zip_path = build_plugin_zip(tmp_path / "dragd-krita.zip")
    resources = tmp_path / "resources"
    resources.mkdir()
    done = subprocess.run([sys.executable, str(KRITA_IMPORTER), str(zip_path), str(resources)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "Imported plugin: DragGAN (dragd)" in done.stdout
    installed = tmp_path / "installed"
    install_krita_plugin(installed, tmp_path / "kritarc")
    assert files_under(resources) == files_under(installed)  # the same files as the installer places


def test_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--resources", str(tmp_path / "krita"), "--kritarc", str(tmp_path / "kritarc")]
    assert krita.main([*args, "--daemon-command", "dragd serve"]) == 0
    assert "restart Krita" in capsys.readouterr().out
    assert krita.main([*args, "--uninstall"]) == 0
    assert krita.main(["--zip", str(tmp_path / "p.zip")]) == 0
    assert (tmp_path / "p.zip").is_file()


# ---- the rules that make the plugin vendorable and testable -----------------------------------------------------


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.add("." * node.level + (node.module or ""))
    return names


def test_only_the_adapter_and_docker_touch_krita_and_the_plugin_imports_protocol_relatively() -> None:
    plugin = REPO / "krita_plugin"
    for path in plugin.glob("*.py"):
        names = imports_of(path)
        assert ("krita" in names) == (path.name in ("adapter.py", "docker.py")), path.name
        if path.name not in ("adapter.py", "docker.py", "panel.py", "runner.py"):
            assert not any(name.startswith("PyQt5") for name in names), path.name
        assert not any(name.startswith("dragd") for name in names), f"{path.name}: import the package relatively"
