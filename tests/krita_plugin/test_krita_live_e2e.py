"""The Live toggle end to end in a real Krita (issue 14): a short run of its own (selftest/live_scenario.py).

A generated layer, one line HANDLE -> the first target, a selection; Live on; the line's target node is moved in
steps (the shape edited in place, as the shape tool does). After each move the preview layer must show a new
picture of a state that reflects the move (its revision), and the tracked handle must end on the last target.
Live off must write the state shown as one result layer, exactly as a normal drag's (source untouched, outside
the selection byte for byte the source, bound to the session's new state), which one Krita undo takes out
again; Live then Stop must write nothing. The screenshot taken while live is written to
docs/krita-docker-live.png when that file is missing or DRAGD_UPDATE_SCREENSHOTS=1.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import pytest
from dragd.krita_plugin.live import ENDED
from test_krita_e2e import (  # noqa: F401 - krita_home and address are fixtures
    DOC,
    MODEL_SIZE,
    REPO,
    SELECTION,
    address,
    finished_report,
    frame_rgba,
    krita_home,
    pixels_at,
    run_krita,
)

pytestmark = [pytest.mark.editor, pytest.mark.slow]

SCREENSHOT = REPO / "docs" / "krita-docker-live.png"
TARGETS = ((64, 76), (64, 72), (64, 68), (64, 64))  # the first when Live goes on, then each move: 4 px up
LIVE_STEPS = 80  # the panel's max steps: bounds the steps spent on one set of targets
FOLLOW_PX = 2.0  # the tracked handle ends within this of the last target (the daemon's stop distance is 1 px)


def test_live_drag_in_real_krita(krita_home: Path, address: str, tmp_path: Path) -> None:  # noqa: F811
    out = tmp_path / "out"
    out.mkdir()
    extra = {"DRAGD_SELFTEST_SCENARIO": "live", "DRAGD_SELFTEST_TARGET": json.dumps(TARGETS[0]),
             "DRAGD_SELFTEST_LIVE_TARGETS": json.dumps(TARGETS[1:]), "DRAGD_SELFTEST_LIVE_STEPS": str(LIVE_STEPS),
             "DRAGD_SELFTEST_DEADLINE": "400"}
    done, seconds = run_krita(krita_home, address, out, extra, timeout_s=440)
    report = finished_report(out, done, seconds)
    width, height = int(DOC[0]), int(DOC[1])
    label = report["generated"]["label"]
    before = report["layers_before_live"]
    source = (out / "source_before.bgra").read_bytes()

    # Live: after every move of the target node, the preview reflects it (its revision), the tracked handle
    # reached the new target, and the picture changed again.
    steps = report["live"]
    print("live: " + "; ".join(f"move {s['move']} -> {s['target']}: handle {s['tracked']}, revision "
                                f"{s['revision']}, {s['previews']} previews, {s['seconds']} s" for s in steps))
    assert [s["target"] for s in steps] == [list(t) for t in TARGETS], steps
    line_name = steps[0].get("moved_shape")
    assert line_name and all(s.get("moved_shape", line_name) == line_name for s in steps), "the line lost its name"
    latency = [step["first_preview_s"] for step in steps[1:]]
    print(f"from a moved target node to the first preview of it in the layer: {latency} s; to the update handed "
          f"to the job: {[step['sent_s'] for step in steps[1:]]} s")
    assert all(seconds is not None for seconds in latency), steps
    print(f"the docker's side of each frame (the job hands it over -> drawn, and the drawing): {report['frames']}")
    lags = [math.dist(step["tracked"], step["target"]) for step in steps]
    print(f"largest lag of the tracked handle after a move: {max(lags):.2f} px; last {lags[-1]:.2f} px")
    for move, step in enumerate(steps):
        assert step["revision"] >= move and "idle" in step["message"], step
    # On the way DragGAN's point tracking may wander a few pixels on this 128 px model (up to 7 px seen here, and a
    # step of targets then takes the whole step limit); tracking quality is benchmarks/live.py's to measure. The
    # docker's part: the handle went up with the targets and ended on the last one.
    assert steps[-1]["tracked"][1] <= steps[0]["tracked"][1] - 8, f"the handle did not follow the targets: {steps}"
    assert lags[-1] <= FOLLOW_PX, f"the handle did not reach the last target: {steps[-1]}"
    previews = [frame_rgba((out / f"live_{move}.bgra").read_bytes(), width) for move in range(len(steps))]
    square = frame_rgba(source, width)
    for move, preview in enumerate(previews):
        inside = pixels_at(preview, MODEL_SIZE, MODEL_SIZE, True, SELECTION)
        earlier = square if move == 0 else previews[move - 1]
        assert inside != pixels_at(earlier, MODEL_SIZE, MODEL_SIZE, True, SELECTION), \
            f"the preview did not change after move {move}"
    assert steps[-1]["previews"] > steps[0]["previews"]

    # The docker's controls while live (Live went on from the menu action) and after its toggle was clicked off.
    assert report["panel_while_live"] == {"live_checked": True, "live_text": "Live: on", "stop_text": "Cancel",
                                          "commit_enabled": True, "drag_enabled": False}, report["panel_while_live"]
    assert report["panel_after_live"] == {"live_checked": False, "live_text": "Live", "stop_text": "Stop",
                                          "commit_enabled": False, "drag_enabled": True}, report["panel_after_live"]

    # Live off: one result layer right above the source, as a normal drag's; the preview gone; the source untouched;
    # inside the selection the state the last preview showed, outside it the source byte for byte.
    after = report["after_commit"]
    assert after["error"] == "" and "live drag committed" in after["message"], after
    wanted = before[:before.index(label) + 1] + ["DragGAN result 1"] + before[before.index(label) + 1:]
    assert after["layers"] == wanted, after
    assert "DragGAN preview" not in json.dumps(after["tree"])
    assert (out / "live_source_after.bgra").read_bytes() == source, "the source layer changed"
    result = (out / "live_result.bgra").read_bytes()
    assert pixels_at(frame_rgba(result, width), MODEL_SIZE, MODEL_SIZE, True, SELECTION) == \
        pixels_at(previews[-1], MODEL_SIZE, MODEL_SIZE, True, SELECTION), "the result is not the state shown"
    assert pixels_at(result, width, height, False, SELECTION) == pixels_at(source, width, height, False, SELECTION), \
        "pixels outside the selection changed"
    assert report["result_binding"] == {"state": 1, "kind": "generated"}, report["result_binding"]
    (line,) = after["line"]
    assert line[0] == pytest.approx([c + 0.5 for c in steps[-1]["tracked"]], abs=0.01), "handle not where tracked"
    assert line[-1] == pytest.approx([TARGETS[-1][0] + 0.5, TARGETS[-1][1] + 0.5], abs=0.01), "the target moved"

    # One Krita undo takes the whole live drag out: the layers are as before Live, the source as it was.
    undone = report["after_live_undo"]
    assert undone["layers"] == before, undone
    assert (out / "live_source_undone.bgra").read_bytes() == source

    # Live from the toggle, one move followed, then Stop (Cancel): nothing written, no preview left.
    assert report["cancel_followed"]["revision"] >= 1, report["cancel_followed"]  # the move was shown
    assert "DragGAN preview" in json.dumps(report["before_cancel"]["tree"])
    cancelled = report["after_cancel"]
    assert cancelled["error"] == "" and cancelled["message"] == ENDED, cancelled
    assert cancelled["layers"] == before and "DragGAN preview" not in json.dumps(cancelled["tree"]), cancelled
    assert (out / "live_source_end.bgra").read_bytes() == source

    assert report.get("live_screenshot") is True and (out / "screenshot.png").stat().st_size > 10_000
    if os.environ.get("DRAGD_UPDATE_SCREENSHOTS") == "1" or not SCREENSHOT.exists():
        SCREENSHOT.parent.mkdir(exist_ok=True)
        shutil.copyfile(out / "screenshot.png", SCREENSHOT)
    print(f"Krita live run: {seconds:.1f} s")
