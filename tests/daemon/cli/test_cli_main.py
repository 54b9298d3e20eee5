"""The `dragd` entry point itself: help and mistakes answer before torch is imported, one line for a mistake."""

from __future__ import annotations

import errno
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from dragd.daemon import cli
from PIL import Image

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


def latent_files(folder: Path) -> dict[str, str]:
    """Files a user might give as --latent by mistake."""
    np.save(folder / "words.npy", np.array(["a", "b"]))
    np.save(folder / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    (folder / "notes.txt").write_text("1 2 3\n")
    Image.new("RGB", (4, 4)).save(folder / "picture.png")
    np.save(folder / "start.npy", np.zeros((1, 512), np.float32))
    (folder / "taken.json").mkdir()  # a folder where `--out taken.png` would write its record
    return {name: str(folder / name) for name in ("words.npy", "objects.npy", "notes.txt", "picture.png", "start.npy")}


DRAG = ["drag", "--points", "1,1:2,2", "--out", "x.png"]
MISTAKES = [  # each is answered in one line, exit 2, before any model is loaded
    (["drag", "--seed", "0", "--points", "10,10", "--out", "x.png"], "malformed point pair '10,10'"),
    ([*DRAG, "--seed", "-1"], "argument --seed: must be in [0, 4294967295], got '-1'"),
    ([*DRAG, "--seed", "99999999999"], "argument --seed: must be in [0, 4294967295]"),
    ([*DRAG, "--seed", "1.5"], "argument --seed: expected an integer, got '1.5'"),
    ([*DRAG, "--seed", "0", "--r2", "0"], "argument --r2: must be an integer >= 1, got '0'"),
    ([*DRAG, "--seed", "0", "--mask-strength", "nan"], "argument --mask-strength: expected a finite number"),
    ([*DRAG, "--seed", "0", "--r1", "inf"], "argument --r1: expected a finite number"),
    ([*DRAG, "--seed", "0", "--steps", "-3"], "argument --steps: must be an integer >= 0"),
    ([*DRAG, "--seed", "0", "--step-size", "-1"], "argument --step-size: must be a number > 0"),
    ([*DRAG, "--latent", "{notes.txt}"], "notes.txt is not a .npy, .npz or torch tensor file"),
    ([*DRAG, "--latent", "{picture.png}"], "picture.png is not a .npy, .npz or torch tensor file"),
    ([*DRAG, "--latent", "{words.npy}"], "holds <U1 values, not floating-point ones"),
    ([*DRAG, "--latent", "{objects.npy}"], "objects.npy is not a plain numeric array"),
    ([*DRAG, "--latent", "{words.npy}", "--trunc", "0.5"], "--trunc applies to --seed only"),
    ([*DRAG, "--seed", "0", "--latent-key", "w"], "--latent-key applies to --latent only"),  # was ignored
    (["drag", "--seed", "0", "--points", ";".join(["1,1:2,2"] * 129), "--out", "x.png"],
     "129 point pairs: at most 128, as the daemon takes"),
    ([*DRAG, "--seed", "0", "--region", "1,2,3,4", "--align", "plain"], "--region, --align: only with --image"),
    ([*DRAG, "--seed", "0", "--preview-every", "5"], "--preview-every sets the GIF's frames; give --gif"),
    (["drag", "--seed", "0", "--points", "1,1:2,2", "--out", "x.jpg"], "--out must name a .png file"),
    (["drag", "--latent", "{start.npy}", "--points", "1,1:2,2", "--out", "start.png"],
     "--out start.png would overwrite the input"),
    (["drag", "--image", "{picture.png}", "--points", "1,1:2,2", "--out", "picture.png"],
     "--out picture.png would overwrite the input"),
    ([*DRAG, "--seed", "0", "--frobnicate"], "unrecognized arguments: --frobnicate"),
    (["generate", "--seed", "1", "--out", "taken.png"], "would write taken.json, which is a folder"),
    ([*DRAG[:-1], "/proc/x.png", "--seed", "0"], "cannot write in the folder /proc"),  # before the drag, not after
    (["serve", "--device", "tpu"], "argument --device: unknown device 'tpu'"),  # was after torch and the bind
    (["generate", "--seed", "1", "--device", "cuda:x", "--out", "x.png"], "unknown device 'cuda:x'"),
    (["convert", "{start.npy}", "model.txt"], "name it NAME.safetensors, not 'model.txt'"),
    (["convert", "{start.npy}", "missing/model.safetensors"], "folder missing does not exist"),
    (["convert", "model.safetensors", "./model.safetensors"], "is the model being converted"),  # its original
    (["drag", "--seed", "0", "--out", "x.png"], "the following arguments are required: --points"),
    (["generate", "--seed", "-7", "--out", "x.png"], "argument --seed: must be in [0, 4294967295]"),
    (["generate", "--seed", "7", "--trunc", "5", "--out", "x.png"], "argument --trunc: must be in [0, 2]"),
    (["generate", "--seed", "7", "--trunc", "-0.5", "--out", "x.png"], "argument --trunc: must be in [0, 2]"),
    ([*DRAG, "--seed", "0", "--trunc", "2.5"], "argument --trunc: must be in [0, 2], got '2.5'"),  # as the wire
    (["status", "--timeout", "0"], "argument --timeout: must be a number > 0"),
    (["keys", ""], "the keys folder name is empty"),  # was the current folder, made 0700 with secrets in it
    (["status", "--address", "ipc:///nonexistent/dragd.sock"], "no dragd daemon at ipc:///nonexistent/dragd.sock"),
]


@pytest.mark.parametrize("argv,message", MISTAKES, ids=[" ".join(argv) for argv, _ in MISTAKES])
def test_every_mistake_is_one_line_and_exit_2_from_the_real_command(tmp_path, argv, message):
    files = latent_files(tmp_path)
    argv = [files[arg[1:-1]] if arg.startswith("{") else arg for arg in argv]
    done = subprocess.run([DRAGD, *argv], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == cli.EXIT_USAGE and len(lines) == 1 and message in lines[0], done.stderr
    assert done.stdout == "" and not (tmp_path / "x.png").exists()
    assert np.load(tmp_path / "start.npy").tolist() == np.zeros((1, 512)).tolist()  # an input is never written


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


@pytest.mark.parametrize("error", [OSError(errno.ENOSPC, "No space left on device"),
                                   OSError(errno.EROFS, "Read-only file system"),
                                   IsADirectoryError(errno.EISDIR, "Is a directory")])
def test_a_full_or_read_only_disk_is_the_users_line_not_a_bug(monkeypatch, capsys, error):
    def writes(args):
        raise error

    monkeypatch.setattr("dragd.daemon.cli.parser.cmd_keys", writes)
    monkeypatch.delenv("DRAGD_DEBUG", raising=False)
    assert cli.main(["keys", "somewhere"]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith("dragd: error: ") and error.strerror in err and len(err.splitlines()) == 1
