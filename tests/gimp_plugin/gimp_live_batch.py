"""Runs INSIDE GIMP 3 (gimp-3.0 --batch-interpreter=python-fu-eval, under Xvfb) for test_gimp_live_dialog.py.

Drives the installed plug-in's interactive "DragGAN drag..." twice on a generated 128x128 layer, with the real
pointer and keyboard of the X server (xdotool, XTEST events: GTK takes them as a user's):
1. Return accepts the options dialog; in the live dialog the target is pressed, moved in steps and dropped;
   once the drag's progress reflects the last move, Escape cancels. Nothing may be kept.
2. The same, then Return (OK) commits: the result layer, its tracked path and binding are recorded, then
   Ctrl+Z is pressed once in the image window (the whole drag must go at once).
3. Ctrl+click on an empty spot adds a pair whose target the same press drags; a right click on the path's target
   removes the path's pair; once idle, a wheel notch zooms in and the pair's handle is dragged 4 px right (it is
   re-anchored there); Return commits the one pair left.
Where to press comes from the dialog's own trace ($DRAGD_GIMP_LIVE_TRACE: the targets' screen positions, the
revisions sent and shown). Writes report.json and raw RGBA bytes to $DRAGD_E2E_OUT; the test asserts.
"""

import json
import os
import subprocess
import sys
import time

from gi.repository import Gimp

sys.path.insert(0, os.environ["HOME"])  # run_gimp puts gimp_batch_helpers.py there
from gimp_batch_helpers import binding_of, describe, press_undo_once, rgba, save  # noqa: E402

OUT = os.environ["DRAGD_E2E_OUT"]
ADDRESS = os.environ["DRAGD_ADDRESS"]
SEED = int(os.environ["DRAGD_E2E_SEED"])
HANDLE = tuple(json.loads(os.environ["DRAGD_E2E_HANDLE"]))  # GIMP image coordinates (corner origin)
TARGET = tuple(json.loads(os.environ["DRAGD_E2E_TARGET"]))
MOVE = tuple(json.loads(os.environ["DRAGD_E2E_MOVE"]))  # layer pixels the target is dragged by
MOVES = int(os.environ["DRAGD_E2E_MOVES"])  # in this many pointer moves
SELECTION = tuple(json.loads(os.environ["DRAGD_E2E_SELECTION"]))
MAX_STEPS = int(os.environ["DRAGD_E2E_STEPS"])
ADDED = json.loads(os.environ["DRAGD_E2E_ADDED"])  # run 3: the handle of the pair added in the dialog
TRACE = os.environ["DRAGD_GIMP_LIVE_TRACE"]  # set for GIMP (the plug-in inherits it): the dialog appends there

report = {"calls": []}
failed = []

# The pointer and the keys, from a second process while the procedure runs (it blocks this one). It reads the
# dialog's trace for where the target is on screen and when a preview has caught up with the move.
POINTER = r'''
import json, os, subprocess, sys, time
trace, move, moves, finish = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
skip = int(sys.argv[5])  # the lines of earlier runs
added = json.loads(sys.argv[6])  # edit: where (layer coordinates) a new pair's handle is Ctrl+clicked
def x(*args):
    subprocess.run(["xdotool", *map(str, args)], check=True, timeout=30)
def records():
    if not os.path.exists(trace):
        return []
    with open(trace) as f:
        return [json.loads(line) for line in f.read().splitlines()[skip:] if line.strip()]
def seen(test, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = [r for r in records() if test(r)]
        if found:
            return found[-1]
        time.sleep(0.1)
    return None
def wait_for(test, seconds, what):
    found = seen(test, seconds)
    if found is None:
        sys.exit(f"timed out waiting for {what}")
    return found
def press(key, title):
    w = subprocess.run(["xdotool", "search", "--sync", "--onlyvisible", "--name", f"^{title}$"],
                       capture_output=True, text=True, timeout=60).stdout.split()[-1]
    x("windowfocus", "--sync", w)
    x("key", "--clearmodifiers", key)
    print(f"pressed {key} in {title}", flush=True)
press("Return", "DragGAN drag")
# A key sent as the options dialog maps can be lost (seen once in CI: the procedure then waits for ever): while
# that dialog is still on screen and the live one has not started, press again.
live = seen(lambda r: r["event"] == "live", 15)
for _ in range(20):
    if live is not None:
        break
    if subprocess.run(["xdotool", "search", "--onlyvisible", "--name", "^DragGAN drag$"], capture_output=True,
                      text=True, timeout=30).stdout.split():
        press("Return", "DragGAN drag")
    live = seen(lambda r: r["event"] == "live", 15)
if live is None:
    sys.exit("timed out waiting for the live dialog")
sx, sy = live["pairs"][0]["target_screen"]
scale = live["scale"]
if finish == "edit":  # Ctrl+click an empty spot: a new pair, whose target the same press drags
    sx = live["origin"][0] + live["offset"][0] + scale * added[0]
    sy = live["origin"][1] + live["offset"][1] + scale * added[1]
    x("mousemove", "--sync", round(sx), round(sy))
    x("keydown", "ctrl")
    x("mousedown", "1")
    x("keyup", "ctrl")
else:
    x("mousemove", "--sync", round(sx), round(sy))
    x("mousedown", "1")
for k in range(1, moves + 1):
    x("mousemove", "--sync", round(sx + move[0] * scale * k / moves), round(sy + move[1] * scale * k / moves))
    time.sleep(0.25)  # slow enough that previews show the way, not only the end
x("mouseup", "1")
print(f"dragged the target from {sx:.1f},{sy:.1f} by {move} layer px in {moves} moves", flush=True)
wait_for(lambda r: r["event"] in ("preview", "progress") and r["revision_sent"] >= 1
         and r["revision_shown"] >= r["revision_sent"], 300, "the drag to reflect the last move")
print("the drag reflects the move", flush=True)
if finish == "edit":  # a right click on the path's own target removes that pair
    tx, ty = live["pairs"][0]["target_screen"]
    x("mousemove", "--sync", round(tx), round(ty))
    x("click", "3")
    print("right-clicked the first pair's target", flush=True)
    wait_for(lambda r: r["event"] in ("preview", "progress") and [p["key"] for p in r["pairs"]] == [1], 60,
             "the first pair to go")
    # Once idle (the handle still): one wheel notch zooms in about the pointer; then the red handle of the pair
    # left is dragged 4 px right, which re-anchors it (a new key, 2).
    wait_for(lambda r: r["event"] == "preview" and r["idle"] and len(r["pairs"]) == 1, 300, "idle on one pair")
    x("click", "4")
    zoomed = wait_for(lambda r: r["event"] == "view" and r["scale"] > scale, 60, "the zoom")
    hx, hy = zoomed["pairs"][0]["handle_screen"]
    x("mousemove", "--sync", round(hx), round(hy))
    x("mousedown", "1")
    x("mousemove", "--sync", round(hx + 2 * zoomed["scale"]), round(hy))
    x("mousemove", "--sync", round(hx + 4 * zoomed["scale"]), round(hy))
    x("mouseup", "1")
    print(f"zoomed to {zoomed['scale']:g}x and moved the handle 4 px right", flush=True)
    wait_for(lambda r: r["event"] == "preview" and r["idle"] and [p["key"] for p in r["pairs"]] == [2]
             and r["revision_shown"] >= r["revision_sent"], 300, "idle on the re-anchored pair")
if finish in ("commit", "edit"):
    wait_for(lambda r: r["event"] == "preview" and r["idle"] and r["revision_shown"] >= r["revision_sent"]
             and len(r["pairs"]) == 1, 300, "the drag to idle on the final target")
    print("idle on the final target", flush=True)
    press("Return", "DragGAN drag: live")
else:
    press("Escape", "DragGAN drag: live")
'''


def interactive_drag(image, source, finish, added=None):
    """The interactive procedure, with the pointer script acting as the artist. `finish`: "cancel", "commit",
    or "edit" (a pair added at `added` with Ctrl+click and its target dragged, the first pair removed with a
    right click, then commit)."""
    skip = trace_lines()
    helper = subprocess.Popen(["python3", "-c", POINTER, TRACE, json.dumps(MOVE), str(MOVES), finish, str(skip),
                               json.dumps(added)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    started = time.monotonic()
    procedure = Gimp.get_pdb().lookup_procedure("dragd-drag")
    config = procedure.create_config()
    config.set_property("run-mode", Gimp.RunMode.INTERACTIVE)
    config.set_property("image", image)
    config.set_core_object_array("drawables", [source])
    config.set_property("address", ADDRESS)
    config.set_property("max-steps", MAX_STEPS)  # per set of targets: then it idles
    values = procedure.run(config)
    status = values.index(0)
    seconds = time.monotonic() - started
    try:
        ended = status in (Gimp.PDBStatusType.SUCCESS, Gimp.PDBStatusType.CANCEL)
        out, err = helper.communicate(timeout=120 if ended else 1)  # a failed call: the pointer waits in vain
    except subprocess.TimeoutExpired:
        helper.kill()
        out, err = helper.communicate()
    entry = {"status": status.value_nick, "seconds": seconds, "helper_rc": helper.returncode,
             "helper_out": out[-2000:], "helper_err": err[-2000:]}
    if status == Gimp.PDBStatusType.SUCCESS:
        entry["result"], entry["tracked"] = values.index(1), values.index(2)
    elif values.length() > 1:
        entry["error"] = str(values.index(1))
    if os.path.exists(TRACE):
        with open(TRACE) as f:
            entry["trace"] = [json.loads(line) for line in f.read().splitlines()[skip:] if line.strip()]
    return entry


def trace_lines():
    if not os.path.exists(TRACE):
        return 0
    with open(TRACE) as f:
        return len(f.read().splitlines())


try:
    procedure = Gimp.get_pdb().lookup_procedure("dragd-new-from-model")
    config = procedure.create_config()
    for key, value in {"run-mode": Gimp.RunMode.NONINTERACTIVE, "seed": SEED, "address": ADDRESS}.items():
        config.set_property(key, value)
    values = procedure.run(config)
    if values.index(0) != Gimp.PDBStatusType.SUCCESS:
        raise RuntimeError(f"new from model failed: {values.index(1)}")
    image, source = values.index(1), values.index(2)
    save("source_before.rgba", rgba(source))
    path = Gimp.Path.new(image, "points")
    image.insert_path(path, None, 0)
    path.stroke_new_from_points(Gimp.PathStrokeType.BEZIER, [*HANDLE] * 3 + [*TARGET] * 3, False)
    image.select_rectangle(Gimp.ChannelOps.REPLACE, *SELECTION)
    report["before"] = describe(image)

    cancelled = interactive_drag(image, source, "cancel")
    report["cancelled"] = cancelled
    report["after_cancel"] = describe(image)
    save("source_after_cancel.rgba", rgba(source))

    image.set_selected_paths([path])
    committed = interactive_drag(image, source, "commit")
    result, tracked = committed.pop("result", None), committed.pop("tracked", None)
    report["committed"] = committed
    report["after_commit"] = describe(image)
    save("source_after_commit.rgba", rgba(source))
    if result is not None:
        report["result"] = {"name": result.get_name(), "binding": binding_of(result),
                            "above_source": image.get_item_position(result) < image.get_item_position(source),
                            "tracked_path": tracked.get_name()}
        save("result.rgba", rgba(result))
        undo = press_undo_once(image)
        report["undo_pressed"] = undo["pressed"]
        if "error" in undo:
            failed.append(undo["error"])
        report["after_undo"] = describe(image)

        image.set_selected_paths([path])
        edited = interactive_drag(image, source, "edit", ADDED)
        result, tracked = edited.pop("result", None), edited.pop("tracked", None)
        report["edited"] = edited
        report["after_edit"] = describe(image)
        if result is not None:
            report["edited_result"] = {"name": result.get_name(), "binding": binding_of(result),
                                       "tracked_path": tracked.get_name()}
finally:
    with open(os.path.join(OUT, "report.json"), "w") as f:
        json.dump(report, f, indent=1)

if failed:
    raise RuntimeError("; ".join(failed))
