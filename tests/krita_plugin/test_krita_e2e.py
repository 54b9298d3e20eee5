"""End to end in a real Krita: the installed DragGAN docker generates, drags, undoes and redoes through a
daemon that the plugin itself starts on a free loopback port with the embedded 128 px model.

One Krita start (Debian's krita under Xvfb, in a throwaway home): the installer step puts the plugin there,
a second plugin (selftest/dragd_selftest) acts as the user and writes what it saw; this file judges it.
Krita missing is a failure that says what to install (CI installs it in .ci/run), never a skip.
The screenshot of the docker taken during the drag is written to docs/krita-docker-drag.png when that file is
missing or DRAGD_UPDATE_SCREENSHOTS=1 (so a plain test run leaves the checkout clean).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import free_tcp_address
from dragd.install.krita import install_krita_plugin, set_config_value
from dragd.protocol.client import DragdClient
from dragd.protocol.errors import DragdError
from dragd.protocol.images import Image, swap_red_blue
from dragd.protocol.messages import DragOptions

pytestmark = [pytest.mark.editor, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
SELFTEST = Path(__file__).with_name("selftest")
SCREENSHOT = REPO / "docs" / "krita-docker-drag.png"
MODEL_SIZE = 128  # the embedded default model
DOC = (160, 144, 96.0)  # larger than the model's image, and not 72 dpi: points != pixels
SEED = 7
HANDLE, TARGET = (64, 80), (64, 64)  # protocol pixels: dragged up 16 px
SELECTION = (32, 40, 64, 64)  # x, y, width, height: holds the handle and the target
STEPS = 30
INVERSION_STEPS = "20,10,10"  # W, W+, tuning: few, to keep the run short; quality is not judged here
FEATHER_REACH = 8  # px: paste-back feathers at most 4 % of the model square (here about 3 px) past the selection



@pytest.fixture
def krita_home(tmp_path: Path) -> Path:
    missing = [tool for tool in ("krita", "xvfb-run") if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"{' and '.join(missing)} not found: apt-get install krita python3-pyqt5 xvfb xauth "
                    "python3-zmq python3-msgpack (.ci/run does)")
    home = tmp_path / "home"
    resources = home / ".local" / "share" / "krita"
    kritarc = home / ".config" / "kritarc"
    install_krita_plugin(resources, kritarc)  # the installer step, as a user runs it
    shutil.copytree(SELFTEST / "dragd_selftest", resources / "pykrita" / "dragd_selftest")
    shutil.copyfile(SELFTEST / "dragd_selftest.desktop", resources / "pykrita" / "dragd_selftest.desktop")
    kritarc.write_text(set_config_value(kritarc.read_text(), "python", "enable_dragd_selftest", "true"))
    return home


@pytest.fixture
def address() -> Iterator[str]:
    """The daemon's address; whatever the plugin started there is shut down afterwards."""
    address = free_tcp_address()
    yield address
    with DragdClient(address, timeout=5.0) as client, contextlib.suppress(DragdError):
        client.shutdown()  # DragdError: nothing was started, or it is gone already


def run_krita(home: Path, address: str, out: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    daemon = f"{sys.executable} -m dragd.daemon.cli serve --address {{address}} --device cpu " \
             f"--inversion-steps {INVERSION_STEPS} --log-file {out / 'serve.jsonl'}"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LANG": "C.UTF-8",
        "XDG_CONFIG_HOME": str(home / ".config"), "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_CACHE_HOME": str(home / ".cache"), "XDG_RUNTIME_DIR": str(home / "runtime"),
        "DRAGD_ADDRESS": address, "DRAGD_DAEMON_COMMAND": daemon,
        "DRAGD_KEYS": os.environ["DRAGD_KEYS"],  # the run's keys (conftest), so this test can talk to the daemon
        "DRAGD_SELFTEST_OUT": str(out), "DRAGD_SELFTEST_SHOT": str(out / "screenshot.png"),
        "DRAGD_SELFTEST_SEED": str(SEED), "DRAGD_SELFTEST_STEPS": str(STEPS), "DRAGD_SELFTEST_DOC": json.dumps(DOC),
        "DRAGD_SELFTEST_HANDLE": json.dumps(HANDLE), "DRAGD_SELFTEST_TARGET": json.dumps(TARGET),
        "DRAGD_SELFTEST_SELECTION": json.dumps(SELECTION),
    }
    (home / "runtime").mkdir(mode=0o700, exist_ok=True)
    command = ["xvfb-run", "-a", "-s", "-screen 0 1280x900x24", "krita", "--nosplash"]
    started = time.monotonic()
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=400)
    return done, time.monotonic() - started


def daemon_drag(address: str) -> dict[str, Any]:
    """The self-test's generate + drag, asked of the daemon directly: what the plugin should have shown."""
    x0, y0, w, h = SELECTION
    mask = bytearray(MODEL_SIZE * MODEL_SIZE)
    for y in range(y0, y0 + h):
        mask[y * MODEL_SIZE + x0:y * MODEL_SIZE + x0 + w] = b"\xff" * w
    with DragdClient(address, timeout=60) as client:
        generated = client.generate(SEED, truncation=0.7)
        result = client.drag(generated.session, [(HANDLE, TARGET)], Image.mask(MODEL_SIZE, MODEL_SIZE, bytes(mask)),
                             DragOptions(max_steps=STEPS))
    assert result.offset == (0, 0)
    return {"source": generated.image.tight().data, "result": result.image.tight().data,
            "tracked": result.points[0]}


def outside(data: bytes, width: int, height: int, rect: tuple[int, int, int, int], reach: int) -> list[bytes]:
    """The pixels more than `reach` pixels (in x or y) from the rectangle."""
    x0, y0, w, h = rect
    return [data[(y * width + x) * 4:(y * width + x) * 4 + 4] for y in range(height) for x in range(width)
            if not (x0 - reach <= x < x0 + w + reach and y0 - reach <= y < y0 + h + reach)]


def region(data: bytes, width: int, rect: tuple[int, int, int, int]) -> list[bytes]:
    x0, y0, w, h = rect
    return [data[(y * width + x) * 4:(y * width + x) * 4 + 4] for y in range(y0, y0 + h) for x in range(x0, x0 + w)]


def test_drag_in_real_krita(krita_home: Path, address: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    done, seconds = run_krita(krita_home, address, out)
    report_file = out / "report.json"
    report = json.loads(report_file.read_text()) if report_file.exists() else {}
    context = (f"krita exited with {done.returncode} after {seconds:.1f} s\nreport: {json.dumps(report)[:6000]}"
               f"\nstderr: {done.stderr[-3000:]}")
    assert report, f"the self-test wrote no report\n{context}"
    assert not report["errors"], context
    print(f"Krita run (start, daemon started by the plugin, new from model, {STEPS}-step drag, undo, redo, "
          "a stopped drag, Krita's undo): "
          f"{seconds:.1f} s; steps: {report['steps']}")

    # The docker started the daemon itself and said so.
    connected = next(s for s in report["steps"] if s["step"] == "connected")
    assert "started by this plugin" in connected["connection"] and address in connected["connection"]

    # New from model: the generated layer, with the points layer above it and active, ready to draw on.
    label = f"DragGAN faces-128-cpu seed {SEED}"
    assert report["generated"]["label"] == label
    assert report["generated"]["layers"][-2:] == [label, "DragGAN points"], report["generated"]
    assert report["generated"]["points_layer"] == "vectorlayer" and report["generated"]["active"] == "DragGAN points"
    width = DOC[0]
    frame = (0, 0, MODEL_SIZE, MODEL_SIZE)  # where the model's image lies in the document
    source = (out / "source_before.bgra").read_bytes()
    expected = daemon_drag(address)
    assert b"".join(region(swap_red_blue(source), width, frame)) == expected["source"], \
        "the generated layer does not hold the daemon's image for the seed"

    # The docker read the line drawn at 96 dpi back in pixels (corner origin: centre + 0.5).
    assert report["pairs"] == [f"1: ({HANDLE[0] + 0.5:.0f}, {HANDLE[1] + 0.5:.0f}) -> "
                               f"({TARGET[0] + 0.5:.0f}, {TARGET[1] + 0.5:.0f})"], report["pairs"]

    # During the drag: a preview layer, handles following the object, the screenshot.
    during = report["during_drag"]
    assert during["preview_layer"] is True and during["screenshot"] is True
    assert (out / "screenshot.png").stat().st_size > 10_000
    if os.environ.get("DRAGD_UPDATE_SCREENSHOTS") == "1" or not SCREENSHOT.exists():
        SCREENSHOT.parent.mkdir(exist_ok=True)
        shutil.copyfile(out / "screenshot.png", SCREENSHOT)

    # The result: a new layer right above the source (below the points), the preview gone, the source untouched.
    after = report["after_drag"]
    assert after["layers"][-3:] == [label, "DragGAN result 1", "DragGAN points"], after
    assert "DragGAN preview" not in after["layers"]
    assert (out / "source_after.bgra").read_bytes() == source, "the source layer changed"
    result = (out / "result.bgra").read_bytes()
    changed = sum(a != b for a, b in zip(region(result, width, SELECTION), region(source, width, SELECTION),
                                         strict=True))
    assert changed > 0.05 * SELECTION[2] * SELECTION[3], f"only {changed} pixels changed inside the selection"

    # The same drag asked of the daemon directly gives the same pixels (so the plugin sent the line, the
    # selection and the options as drawn) and the same tracked point, where the line's handle now is.
    assert b"".join(region(swap_red_blue(result), width, frame)) == expected["result"]
    (line,) = after["line"]
    tracked = [expected["tracked"][0] + 0.5, expected["tracked"][1] + 0.5]
    assert line[0] == pytest.approx(tracked, abs=1e-3), "the handle is not at the tracked point"
    assert line[-1] == pytest.approx([TARGET[0] + 0.5, TARGET[1] + 0.5], abs=1e-3), "the target moved"
    assert during["line"][0][-1] == line[-1]

    # Undo drag takes the result layer out; Redo drag brings back the same pixels; the source never changes.
    assert report["after_undo"]["error"] == "" and "DragGAN result 1" not in report["after_undo"]["layers"]
    assert report["after_redo"]["error"] == "" and "DragGAN result 1" in report["after_redo"]["layers"]
    assert (out / "result_redo.bgra").read_bytes() == result
    assert (out / "source_end.bgra").read_bytes() == source
    assert report["after_redo"]["active"] == "DragGAN points", "adding layers took the user off the points layer"
    # Stop (pressed from the UI thread while the drag's worker waits) ends a 300-step drag within a step or
    # two and keeps the state reached, as a new result layer.
    stopped = report["after_stop"]
    assert stopped["error"] == "" and "stopped; kept the image" in stopped["message"], stopped
    steps_done = int(stopped["message"].split("Done after ")[1].split(" steps")[0])
    pressed = int(report["stop_pressed_at"].split("Step ")[1].split(" ")[0])
    assert pressed <= steps_done <= pressed + 5, (pressed, stopped["message"])
    assert stopped["layers"][-4:] == [label, "DragGAN result 1", "DragGAN result 2", "DragGAN points"]

    # Krita's own undo (Edit > Undo, Ctrl+Z) takes the newest result layer out as well.
    assert report["after_krita_undo"]["layers"][-3:] == [label, "DragGAN result 1", "DragGAN points"]

    # A paint layer of the user's own: Drag opens it (GAN inversion of the selection's box), then drags. The
    # source stays as it was; the result changes inside the selection and nothing outside it grown by the
    # feather, byte for byte.
    plain = report["after_plain_drag"]
    assert plain["error"] == "" and len(plain["new"]) == 1 and plain["new"][0].startswith("DragGAN result"), plain
    assert plain["session"].startswith('Session on "plain"'), plain
    opening = [p["message"] for p in report["panel"] if p["message"].startswith('Opening "plain"')]
    assert any(": projection " in message for message in opening), ("no inversion progress shown", report["panel"])
    before = (out / "plain_before.bgra").read_bytes()
    assert (out / "plain_after.bgra").read_bytes() == before, "the plain source layer changed"
    opened = (out / "plain_result.bgra").read_bytes()
    height = DOC[1]
    assert outside(opened, width, height, SELECTION, FEATHER_REACH) == \
        outside(before, width, height, SELECTION, FEATHER_REACH), "pixels outside the grown selection changed"
    changed = sum(a != b for a, b in zip(region(opened, width, SELECTION), region(before, width, SELECTION),
                                         strict=True))
    assert changed > 0.05 * SELECTION[2] * SELECTION[3], f"only {changed} pixels changed inside the selection"
