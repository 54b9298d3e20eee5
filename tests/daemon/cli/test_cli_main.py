"""The `dragd` entry point itself: help and mistakes answer before torch is imported, one line for a mistake."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from dragd.daemon import cli

DRAGD = shutil.which("dragd", path=str(Path(sys.executable).parent))

# After the command, report which heavy modules the process had imported: the reason for a slow first line.
PROBE = """
import sys
from dragd.daemon.cli import main
try:
    status = main(sys.argv[1:])
finally:
    print("heavy:", sorted(m for m in ("torch", "dragd.daemon.models.stylegan2") if m in sys.modules), file=sys.stderr)
sys.exit(status)
"""


def run_probe(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("argv", [
    ["drag", "--seed", "0", "--points", "10,10", "--out", "x.png"],
    ["drag", "--seed", "0", "--points", "1,1:2,2", "--out", "x.jpg"],
    ["drag", "--seed", "0", "--points", "1,1:2,2", "--mask", "/nonexistent.png", "--out", "x.png"],
    ["drag", "--image", "/nonexistent.png", "--points", "1,1:2,2", "--out", "x.png"],
    ["drag", "--image", "/nonexistent.png", "--points", "1,1:2,2", "--region", "1,2", "--out", "x.png"],
    ["status", "--address", "ipc:///nonexistent/dragd.sock"],
])
def test_a_mistake_is_reported_before_torch_is_imported(argv):
    done = run_probe(*argv)
    message, heavy = done.stderr.strip().splitlines()
    assert done.returncode == cli.EXIT_USAGE and message.startswith("dragd: error: ")
    assert heavy == "heavy: []", f"{message!r} came after importing {heavy}"


def test_help_through_the_installed_entry_point_imports_no_torch():
    assert DRAGD is not None, "the `dragd` script is not installed beside this Python"
    done = subprocess.run([DRAGD, "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "generate" in done.stdout and "drag" in done.stdout
    assert run_probe("drag", "--help").stderr.strip().splitlines()[-1] == "heavy: []"


def test_a_bug_is_one_line_and_exit_1(monkeypatch, capsys):
    def broken(args):
        raise ZeroDivisionError("oops")

    monkeypatch.setattr("dragd.daemon.cli.parser.cmd_keys", broken)
    monkeypatch.delenv("DRAGD_DEBUG", raising=False)
    assert cli.main(["keys", "somewhere"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("dragd: internal error: ZeroDivisionError: oops") and len(err.splitlines()) == 1
