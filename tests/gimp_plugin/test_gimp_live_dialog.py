"""The live "DragGAN drag..." dialog in a real GIMP 3, driven by the X server's own pointer and keyboard.

One GIMP start (gimp_e2e_common: the GIMP 3 root, a daemon on the host) runs gimp_live_batch.py: a generated
layer is dragged interactively twice; in the live dialog xdotool presses the target, moves it in steps and drops
it (real XTEST events, which GTK takes as a user's). The first run is cancelled with Escape once the drag reflects
the move, the second committed with Return (OK) once the drag idles on the new target. This file checks what the
batch and the dialog's trace ($DRAGD_GIMP_LIVE_TRACE) saw.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
from dragd.install.gimp import install_gimp_plugin
from gimp_e2e_common import SIZE, failure, gimp_home, gimp_root, run_gimp, serve

pytestmark = [pytest.mark.editor, pytest.mark.slow]
__all__ = ["gimp_home", "gimp_root"]  # fixtures, used by name

BATCH = Path(__file__).with_name("gimp_live_batch.py")
SEED = 7
HANDLE = (64.5, 80.5)  # GIMP image coordinates: the centre of pixel (64, 80) ...
TARGET = (64.5, 72.5)  # ... the path's target, 8 px up; in the dialog the target is dragged ...
MOVE = (0.0, -8.0)  # ... 8 px further up (layer pixels), in ...
MOVES = 8  # ... this many pointer moves
FINAL = (TARGET[0] + MOVE[0], TARGET[1] + MOVE[1])
SELECTION = (32, 40, 64, 64)  # x, y, width, height: holds the handle and every target
STEPS = 80  # max-steps: steps on one set of targets before the live drag idles
ADDED = (48.5, 72.5)  # run 3: a pair added here with Ctrl+click, its target dragged by MOVE


@pytest.fixture(scope="module")
def daemon_address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve(tmp_path_factory.mktemp("dragd")) as address:
        yield address


def outside(data: bytes) -> list[bytes]:
    x0, y0, w, h = SELECTION
    return [data[(y * SIZE + x) * 4:(y * SIZE + x) * 4 + 4] for y in range(SIZE) for x in range(SIZE)
            if not (x0 <= x < x0 + w and y0 <= y < y0 + h)]


def test_the_live_dialog_follows_the_dragged_target_commits_on_ok_and_keeps_nothing_on_cancel(
        gimp_root: Path, gimp_home: Path, daemon_address: str) -> None:
    install_gimp_plugin(gimp_home / "profile")
    inside = "/" + str(gimp_home.relative_to(gimp_root))
    env = {"DRAGD_ADDRESS": daemon_address, "DRAGD_E2E_SEED": str(SEED), "DRAGD_E2E_HANDLE": json.dumps(HANDLE),
           "DRAGD_E2E_TARGET": json.dumps(TARGET), "DRAGD_E2E_MOVE": json.dumps(MOVE),
           "DRAGD_E2E_MOVES": str(MOVES), "DRAGD_E2E_SELECTION": json.dumps(SELECTION), "DRAGD_E2E_STEPS": str(STEPS),
           "DRAGD_E2E_ADDED": json.dumps(ADDED),
           "DRAGD_GIMP_LIVE_TRACE": f"{inside}/out/trace.jsonl"}
    done, seconds, report = run_gimp(gimp_root, gimp_home, BATCH, env)
    out = gimp_home / "out"
    assert done.returncode == 0, failure(done, report)
    print(f"GIMP run (start, new from model, live drag cancelled, committed, undone, a pair added, one removed, "
          f"zoom, a handle re-anchored, committed, quit): {seconds:.1f} s")
    source = (out / "source_before.rgba").read_bytes()

    # Cancel: the dialog went live, the pointer moved the target, the drag's progress reflected the last move
    # (its revision); then Escape ended it with nothing kept: no layer, no path, the source byte for byte.
    cancelled = report["cancelled"]
    assert cancelled["status"] == "cancel", f"{cancelled.get('error')}; pointer: {cancelled['helper_err']}"
    assert cancelled["helper_rc"] == 0 and "the drag reflects the move" in cancelled["helper_out"], cancelled
    assert report["after_cancel"] == report["before"]
    assert (out / "source_after_cancel.rgba").read_bytes() == source
    assert cancelled["trace"][-1]["event"] == "outcome" and cancelled["trace"][-1]["cancelled"] is True

    # Commit: the target was dropped where the pointer left it, the tracked handle and the picture followed while
    # it moved (progress and preview images reflected more than one of the updates on the way), the drag idled
    # with a preview, and OK made the result layer as a normal drag does.
    committed = report["committed"]
    assert committed["status"] == "success", f"{committed.get('error')}; pointer: {committed['helper_err']}"
    assert committed["helper_rc"] == 0, committed
    trace = committed["trace"]
    live = next(r for r in trace if r["event"] == "live")
    assert live["scale"] == 4.0 and live["pairs"][0]["target"] == list(TARGET)  # the path's pair, 4x
    steps = [r for r in trace if r["event"] in ("preview", "progress")]
    shown = sorted({r["revision_shown"] for r in steps})
    previews = [r for r in trace if r["event"] == "preview"]
    last = previews[-1]
    assert last["pairs"][0]["target"] == list(FINAL), last
    assert len([r for r in shown if r > 0]) >= 2, f"the drag did not follow the move: revisions shown {shown}"
    # The picture itself followed: preview images on the way (before idle) showed more than one of the updates.
    pictured = sorted({r["revision_shown"] for r in previews if not r["idle"] and r["revision_shown"] > 0})
    assert len(pictured) >= 2, f"the picture did not follow the move: previews showed revisions {pictured}"
    assert last["idle"] and last["revision_shown"] == last["revision_sent"], last
    span = last["time"] - live["time"]
    print(f"live dialog: {len(steps)} progress messages shown in {span:.1f} s from going live to idle, "
          f"{len(previews)} of them with a preview image; {last['revision_sent']} updates sent for {MOVES} pointer "
          f"moves; revisions reflected on the way {shown}, pictured on the way {pictured} (shared machine, a CPU "
          "daemon)")

    assert report["after_commit"]["layers"][0]["name"] == "DragGAN result 1"
    assert report["result"]["above_source"] is True
    assert (out / "source_after_commit.rgba").read_bytes() == source  # the source is never written
    binding = report["result"]["binding"]
    assert (binding["kind"], binding["seed"], binding["state"]) == ("generated", SEED, 1), binding
    tracked = {p["name"]: p["strokes"] for p in report["after_commit"]["paths"]}[report["result"]["tracked_path"]]
    (hx, tx), (hy, ty) = tracked[0][2::6], tracked[0][3::6]
    assert (tx, ty) == FINAL  # the dropped target, exactly (4 screen px per layer px)
    moved = math.dist((hx, hy), HANDLE)
    left = math.dist((hx, hy), FINAL)
    print(f"tracked handle: moved {moved:.1f} px, {left:.1f} px from the final target")
    # Where the tracker takes the handle is the engine's and the model's business: on the rough embedded model it
    # ended 7.2-7.8 px from the target in three runs, and once jumped 16 px sideways to (48.5, 70.5). Here: it
    # was tracked.
    assert moved > 0, (hx, hy)
    result = (out / "result.rgba").read_bytes()
    assert outside(result) == outside(source)  # outside the selection: the layer exactly
    assert result != source

    keep = Path(os.environ.get("DRAGD_GIMP_LIVE_KEEP", ""))  # a folder: keep the pictures to look at by eye
    if keep.name:
        keep.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(out / "trace.jsonl.png", keep / "live_dialog_idle.png")
        for name in ("source_before", "result"):
            rgba = np.frombuffer((out / f"{name}.rgba").read_bytes(), np.uint8).reshape(SIZE, SIZE, 4)
            PIL.Image.fromarray(rgba).save(keep / f"{name}.png")

    # One Ctrl+Z takes the whole committed drag back: the result layer and the tracked path together.
    assert report["undo_pressed"] is True
    assert report["after_undo"] == report["before"]

    # Edit: Ctrl+click added a pair (a new key: the daemon read its feature where it was clicked) and dragged its
    # target; a right click removed the path's own pair; a wheel notch zoomed in (4x -> 5x) and the handle was
    # dragged, which re-anchored it (another key); OK committed the one pair left.
    edited = report["edited"]
    assert edited["status"] == "success", f"{edited.get('error')}; pointer: {edited['helper_err']}"
    assert "right-clicked the first pair's target" in edited["helper_out"], edited
    keys = [[p["key"] for p in r["pairs"]] for r in edited["trace"] if r["event"] in ("preview", "progress")]
    assert [0, 1] in keys and [1] in keys and keys[-1] == [2], keys[:3] + keys[-3:]  # added, removed, re-anchored
    assert "zoomed to 5x and moved the handle 4 px right" in edited["helper_out"], edited
    final = edited["trace"][-2]  # the idle preview before the outcome
    assert final["idle"] and final["pairs"][0]["target"] == [ADDED[0] + MOVE[0], ADDED[1] + MOVE[1]], final
    assert final["scale"] == 5.0 and final["revision_shown"] == final["revision_sent"], final
    strokes = {p["name"]: p["strokes"] for p in report["after_edit"]["paths"]}[
        report["edited_result"]["tracked_path"]]
    assert len(strokes) == 1 and (strokes[0][-4], strokes[0][-3]) == (ADDED[0] + MOVE[0], ADDED[1] + MOVE[1])
    assert (strokes[0][2], strokes[0][3]) != ADDED  # its handle was tracked
    assert report["after_edit"]["layers"][0]["name"] == "DragGAN result 1"  # run 2's was undone
