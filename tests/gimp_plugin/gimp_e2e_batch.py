"""Runs INSIDE GIMP 3 (gimp-3.0 --batch-interpreter=python-fu-eval, under Xvfb) for test_gimp_e2e.py.

Drives the installed dragd plug-in through GIMP's procedure database exactly as a script would: "DragGAN new from
model" (a new 128x128 image), a path with one stroke (handle -> target), a rectangle selection, "DragGAN drag".
Then it shows the image in a window and presses Ctrl+Z there once (xdotool): GIMP has no undo procedure, so
this is the user's own undo. Last, it runs the drag interactively: Return accepts the options dialog, Escape
cancels the live drag dialog, and nothing may be kept (test_gimp_live_dialog.py drags in that dialog).
It writes what it saw to $DRAGD_E2E_OUT (report.json and raw RGBA bytes of the layers) and raises at the end
when a step failed, so the batch command exits non-zero. The test asserts.
Finally a layer of the user's own (a photo, $DRAGD_E2E_PHOTO, without the plug-in's binding) is dragged: the
plug-in opens it through the daemon's GAN inversion; then the result layer is dragged again, which resumes its
session from this new plug-in process by the id in the result's binding (a parasite); last the photo layer is
opened again and dragged along a line whose handle is on its target (a drag that moves nothing).
"""

import json
import os
import subprocess
import sys
import time

from gi.repository import Gegl, Gimp

sys.path.insert(0, os.environ["HOME"])  # run_gimp puts gimp_batch_helpers.py there
from gimp_batch_helpers import binding_of, describe, press_undo_once, rgba, save  # noqa: E402

OUT = os.environ["DRAGD_E2E_OUT"]
ADDRESS = os.environ["DRAGD_ADDRESS"]
SEED = int(os.environ["DRAGD_E2E_SEED"])
HANDLE = tuple(json.loads(os.environ["DRAGD_E2E_HANDLE"]))  # GIMP image coordinates (corner origin)
TARGET = tuple(json.loads(os.environ["DRAGD_E2E_TARGET"]))
SELECTION = tuple(json.loads(os.environ["DRAGD_E2E_SELECTION"]))  # x, y, width, height
MAX_STEPS = int(os.environ["DRAGD_E2E_STEPS"])
PHOTO = os.environ["DRAGD_E2E_PHOTO"]  # raw RGBA bytes of a photo, the image's size
PINNED = [tuple(p) for p in json.loads(os.environ["DRAGD_E2E_PINNED"])]  # a line whose handle is on its target

report = {"calls": []}
failed = []


def call(name, **arguments):
    procedure = Gimp.get_pdb().lookup_procedure(name)
    if procedure is None:
        failed.append(f"{name}: no such procedure (the plug-in did not register)")
        report["calls"].append({"name": name, "status": "missing"})
        return None
    config = procedure.create_config()
    for key, value in arguments.items():
        if key == "drawables":
            config.set_core_object_array(key, value)
        else:
            config.set_property(key, value)
    values = procedure.run(config)
    status = values.index(0)
    entry = {"name": name, "status": status.value_nick}
    if status != Gimp.PDBStatusType.SUCCESS:
        entry["error"] = values.index(1) if values.length() > 1 else ""
        failed.append(f"{name}: {status.value_nick}: {entry['error']}")
    report["calls"].append(entry)
    return values if status == Gimp.PDBStatusType.SUCCESS else None


def plain_layer(image, pixels):
    """A new layer holding `pixels`, with no dragd binding: to the plug-in, a user's own layer."""
    layer = Gimp.Layer.new(image, "plain", image.get_width(), image.get_height(), Gimp.ImageType.RGBA_IMAGE,
                           100.0, Gimp.LayerMode.NORMAL)
    image.insert_layer(layer, None, 0)
    buffer = layer.get_buffer()
    buffer.set(Gegl.Rectangle.new(0, 0, image.get_width(), image.get_height()), "R'G'B'A u8", pixels)
    buffer.flush()
    return layer


def drag_plain_layer_then_its_result(image, pixels, points):
    """The photo opened and dragged, its result dragged again; then the photo dragged along a pinned line."""
    plain = plain_layer(image, pixels)
    save("plain_before.rgba", rgba(plain))
    image.set_selected_paths([points])
    values = call("dragd-drag", **{"run-mode": Gimp.RunMode.NONINTERACTIVE, "image": image, "drawables": [plain],
                                   "address": ADDRESS, "max-steps": MAX_STEPS})
    save("plain_after.rgba", rgba(plain))
    if values is None:
        return
    opened = values.index(1)
    report["opened"] = {"name": opened.get_name(), "binding": binding_of(opened)}
    save("opened.rgba", rgba(opened))
    image.set_selected_paths([points])  # the drag added a tracked path; the points are still in "points"
    values = call("dragd-drag", **{"run-mode": Gimp.RunMode.NONINTERACTIVE, "image": image,
                                   "drawables": [opened], "address": ADDRESS, "max-steps": MAX_STEPS})
    save("opened_after.rgba", rgba(opened))
    if values is not None:
        again = values.index(1)
        report["redragged"] = {"name": again.get_name(), "binding": binding_of(again)}
        save("redragged.rgba", rgba(again))
    pinned = Gimp.Path.new(image, "pinned")
    image.insert_path(pinned, None, 0)
    pinned.stroke_new_from_points(Gimp.PathStrokeType.BEZIER, [c for point in PINNED for c in [*point] * 3], False)
    image.set_selected_paths([pinned])
    values = call("dragd-drag", **{"run-mode": Gimp.RunMode.NONINTERACTIVE, "image": image, "drawables": [plain],
                                   "address": ADDRESS, "max-steps": MAX_STEPS, "paste": "carry"})
    if values is not None:
        still = values.index(1)
        report["still"] = {"name": still.get_name(), "binding": binding_of(still)}
        save("still.rgba", rgba(still))


def drag_interactively_then_cancel(image, source):
    """The interactive drag: a helper presses Return in the options dialog, then Escape once the drag runs."""
    # `key` without a window goes through XTEST to the focused window (GTK ignores XSendEvent's synthetic keys).
    keys = """
        press() {  # press KEY in the newest visible window titled exactly TITLE, waiting for it to appear
            w=$(xdotool search --sync --onlyvisible --name "^$2\\$" | tail -n 1)
            xdotool windowfocus --sync "$w" && xdotool key --clearmodifiers "$1" && echo "pressed $1 in $2"
        }
        press Return 'DragGAN drag' && xdotool search --sync --onlyvisible --name '^DragGAN drag: live$' \\
            >/dev/null && sleep 2 && press Escape 'DragGAN drag: live'
    """
    helper = subprocess.Popen(["timeout", "60", "sh", "-c", keys], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    started = time.monotonic()
    procedure = Gimp.get_pdb().lookup_procedure("dragd-drag")
    config = procedure.create_config()
    config.set_property("run-mode", Gimp.RunMode.INTERACTIVE)
    config.set_property("image", image)
    config.set_core_object_array("drawables", [source])
    config.set_property("address", ADDRESS)
    config.set_property("max-steps", 2000)  # far more than two seconds' worth: only Escape ends it
    status = procedure.run(config).index(0).value_nick
    seconds = time.monotonic() - started
    out, err = helper.communicate(timeout=60)
    return {"status": status, "seconds": seconds, "helper_rc": helper.returncode, "helper_out": out[-500:],
            "helper_err": err[-500:]}


try:
    values = call("dragd-new-from-model", **{"run-mode": Gimp.RunMode.NONINTERACTIVE, "seed": SEED,
                                            "address": ADDRESS})
    if values is not None:
        image, source = values.index(1), values.index(2)
        report["generated"] = describe(image)
        report["binding"] = binding_of(source)
        save("source_before.rgba", rgba(source))

        path = Gimp.Path.new(image, "points")
        image.insert_path(path, None, 0)
        path.stroke_new_from_points(Gimp.PathStrokeType.BEZIER, [*HANDLE] * 3 + [*TARGET] * 3, False)
        image.select_rectangle(Gimp.ChannelOps.REPLACE, *SELECTION)
        save("selection.l", bytes(image.get_selection().get_buffer().get(
            Gegl.Rectangle.new(0, 0, image.get_width(), image.get_height()), 1.0, "Y u8", Gegl.AbyssPolicy.NONE)))

        values = call("dragd-drag", **{"run-mode": Gimp.RunMode.NONINTERACTIVE, "image": image,
                                       "drawables": [source], "address": ADDRESS, "max-steps": MAX_STEPS})
        report["after_drag"] = describe(image)
        save("source_after.rgba", rgba(source))
        if values is not None:
            result, tracked = values.index(1), values.index(2)
            report["result_layer"] = result.get_name()
            report["tracked_path"] = tracked.get_name()
            report["result_above_source"] = image.get_item_position(result) < image.get_item_position(source)
            save("result.rgba", rgba(result))
            report["undo"] = press_undo_once(image)
            if "error" in report["undo"]:
                failed.append(report["undo"]["error"])
            report["after_undo"] = describe(image)
            save("source_after_undo.rgba", rgba(source))
            report["interactive"] = drag_interactively_then_cancel(image, source)
            report["after_cancel"] = describe(image)
            save("source_after_cancel.rgba", rgba(source))
            with open(PHOTO, "rb") as f:
                drag_plain_layer_then_its_result(image, f.read(), path)
finally:
    with open(os.path.join(OUT, "report.json"), "w") as f:
        json.dump(report, f, indent=1)

if failed:
    raise RuntimeError("; ".join(failed))
