"""The protocol package imports nothing beyond the standard library, pyzmq and msgpack, and works vendored
under another parent package (as the plugins ship it)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

PROTOCOL_DIR = Path(__file__).resolve().parents[2] / "protocol"
ALLOWED_THIRD_PARTY = {"zmq", "msgpack", "cython_runtime"}  # the last: made by Cython-built zmq/msgpack

REPORT_IMPORTS = textwrap.dedent("""
    import json, sys
    before = set(sys.modules)
    import {package}
    import {package}.editor, {package}.client
    new = sorted(set(sys.modules) - before)
    print(json.dumps(new))
""")


def imported_modules(package: str, cwd: Path) -> list[str]:
    # -I: isolated mode (no PYTHON* variables, no user site, script folder not on the path); cwd is added
    # explicitly so only the package under test is found there.
    code = f"import sys; sys.path.insert(0, {str(cwd)!r}); " + REPORT_IMPORTS.format(package=package)
    done = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, timeout=60, cwd=cwd)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def outside_allowed(modules: list[str], own_package: str) -> list[str]:
    bad = []
    for name in modules:
        top = name.split(".")[0]
        if top in sys.stdlib_module_names or top in ALLOWED_THIRD_PARTY or top.startswith("_"):
            continue
        if name == own_package or name.startswith(own_package + "."):
            continue
        bad.append(name)
    return bad


def test_installed_package_imports_only_stdlib_zmq_msgpack(tmp_path):
    modules = imported_modules("dragd.protocol", tmp_path)
    assert "dragd.protocol.client" in modules
    assert outside_allowed(modules, "dragd") == []
    assert [m for m in modules if m.startswith("dragd.") and not m.startswith("dragd.protocol")] == []
    assert not [m for m in modules if m.split(".")[0] in ("numpy", "torch", "PIL")]


def test_vendored_copy_works_under_another_parent_package(tmp_path):
    vendor = tmp_path / "some_plugin" / "vendored"
    shutil.copytree(PROTOCOL_DIR, vendor / "dragd_protocol", ignore=shutil.ignore_patterns("__pycache__", "*.md"))
    (tmp_path / "some_plugin" / "__init__.py").write_text("")
    (vendor / "__init__.py").write_text("")
    modules = imported_modules("some_plugin.vendored.dragd_protocol", tmp_path)
    assert outside_allowed(modules, "some_plugin") == []
    assert not [m for m in modules if m.startswith("dragd")]  # relative imports only: nothing from the original
