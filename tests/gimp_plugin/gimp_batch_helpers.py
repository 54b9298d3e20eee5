"""Helpers the batch scripts share INSIDE GIMP 3 (gimp_e2e_batch.py, gimp_live_batch.py): `run_gimp` copies this
file beside the batch script, into the run's home, which the scripts put on their import path."""

import json
import os
import subprocess
import time

from gi.repository import Gegl, Gimp


def rgba(drawable):
    """A drawable's pixels as 8-bit RGBA bytes."""
    rect = Gegl.Rectangle.new(0, 0, drawable.get_width(), drawable.get_height())
    return bytes(drawable.get_buffer().get(rect, 1.0, "R'G'B'A u8", Gegl.AbyssPolicy.CLAMP))


def save(name, data):
    """Writes `data` to the run's output folder ($DRAGD_E2E_OUT), for the test to read."""
    with open(os.path.join(os.environ["DRAGD_E2E_OUT"], name), "wb") as f:
        f.write(data)


def describe(image):
    """The image's layers (name, size, offsets) and paths (name, control points of each stroke)."""
    return {
        "layers": [{"name": layer.get_name(), "size": [layer.get_width(), layer.get_height()],
                    "offsets": list(layer.get_offsets()[1:])} for layer in image.get_layers()],
        "paths": [{"name": path.get_name(),
                   "strokes": [list(path.stroke_get_points(s)[1]) for s in path.get_strokes()]}
                  for path in image.get_paths()],
    }


def binding_of(layer):
    parasite = layer.get_parasite("dragd-binding")
    return json.loads(bytes(parasite.get_data())) if parasite else None


def press_undo_once(image):
    """Shows `image` in a window, sends it one Ctrl+Z (xdotool), waits for the layer count to change (at most
    10 s). GIMP has no undo procedure: this is the user's own undo. {"pressed": bool, "error": text}."""
    Gimp.Display.new(image)
    Gimp.displays_flush()
    layers = len(image.get_layers())
    found = subprocess.run(["xdotool", "search", "--sync", "--onlyvisible", "--name", "Untitled"],
                           capture_output=True, text=True, timeout=30)
    windows = found.stdout.split()
    if not windows:
        return {"pressed": False, "error": f"undo: no GIMP image window found ({found.stderr.strip()})"}
    for command in (["windowfocus", "--sync", windows[-1]], ["key", "--clearmodifiers", "ctrl+z"]):
        done = subprocess.run(["xdotool", *command], capture_output=True, text=True, timeout=30)
        if done.returncode != 0:
            return {"pressed": False, "error": f"undo: xdotool {' '.join(command)} failed: {done.stderr.strip()}"}
    deadline = time.monotonic() + 10
    while len(image.get_layers()) == layers and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)  # a second undo step, if the plug-in had made one, must not be mistaken for this one
    return {"pressed": True, "windows": windows}
