"""A second Krita plugin, installed only by the end-to-end test, that acts as the user of the DragGAN docker.

When Krita's window appears it runs `scenario.Scenario`: it opens documents, presses the docker's actions
(New from model, Drag, Undo, Redo, Stop) and Krita's own (Edit > Undo) through Krita's action registry, draws
drag lines on "DragGAN points" and selects with Krita's API (as a user would with the tools), takes a screenshot
while a drag runs, and writes everything it saw to $DRAGD_SELFTEST_OUT (report.json plus raw pixels), then ends
Krita with os._exit (quitting Krita cleanly segfaults headless). The pytest side (test_krita_e2e.py) judges it.
This file holds the helpers; scenario.py the steps.
"""

import json
import os
import sys
import time

from krita import Extension, Krita
from PyQt5.QtCore import QTimer
from PyQt5.QtWidgets import QApplication

OUT = os.environ.get("DRAGD_SELFTEST_OUT", "")
SHOT = os.environ.get("DRAGD_SELFTEST_SHOT", "")
ADDRESS = os.environ.get("DRAGD_ADDRESS", "")
SEED = int(os.environ.get("DRAGD_SELFTEST_SEED", "7"))
STEPS = int(os.environ.get("DRAGD_SELFTEST_STEPS", "30"))
PLAIN_STEPS = int(os.environ.get("DRAGD_SELFTEST_PLAIN_STEPS", "6"))
DOC = json.loads(os.environ.get("DRAGD_SELFTEST_DOC", "[160, 144, 96.0]"))  # width, height, dpi
HANDLE = json.loads(os.environ.get("DRAGD_SELFTEST_HANDLE", "[64, 80]"))  # protocol pixels (centre origin)
TARGET = json.loads(os.environ.get("DRAGD_SELFTEST_TARGET", "[64, 64]"))
AGAIN = json.loads(os.environ.get("DRAGD_SELFTEST_AGAIN", "[[50, 60], [56, 60]]"))  # after Krita's undo
LINES3 = json.loads(os.environ.get("DRAGD_SELFTEST_LINES3", "[]"))  # three lines, one of four nodes
SELECTION = json.loads(os.environ.get("DRAGD_SELFTEST_SELECTION", "[32, 40, 64, 64]"))
DEADLINE_S = float(os.environ.get("DRAGD_SELFTEST_DEADLINE", "500"))
PHOTO = os.environ.get("DRAGD_SELFTEST_PHOTO", "")  # a photo as raw BGRA bytes, the document's size
PINNED = json.loads(os.environ.get("DRAGD_SELFTEST_PINNED", "[]"))  # a line whose handle is on its target

report = {"steps": [], "errors": [], "panel": []}
started = time.monotonic()


def note(step, **details):
    report["steps"].append({"step": step, "t": round(time.monotonic() - started, 2), **details})
    print(f"dragd selftest: {step}", file=sys.stderr, flush=True)  # between Krita's own lines (SAFE ASSERTs)


def write_report():
    with open(os.path.join(OUT, "report.json"), "w") as f:
        json.dump(report, f, indent=1)


def finish(error=None):
    if error:
        report["errors"].append(error)
    try:
        write_report()
    finally:
        os._exit(0)


def plugin():
    """The installed plugin's adapter module (what Krita loaded from pykrita/dragd_krita)."""
    from dragd_krita.dragd.krita_plugin import adapter

    return adapter


def plugin_busy():
    """True while the installed plugin's UI work runs: this tick came from inside Krita's busy wait (a nested
    event loop that runs timers), where a user's clicks are not delivered either (ExcludeUserInputEvents)."""
    from dragd_krita.dragd.krita_plugin.gate import UI

    return UI.busy


def docker():
    from dragd_krita.dragd.krita_plugin import docker as docker_module

    dockers = [d for d in list(docker_module._dockers) if d.controller is not None]
    return dockers[0] if dockers else None


def nodes(parent):
    """Every node under `parent`, depth first, bottom to top."""
    for node in parent.childNodes():
        yield node
        yield from nodes(node)


def node_by_name(document, name):
    return next((n for n in nodes(document.rootNode()) if n.name() == name), None)


def layer_names(document):
    """The document's top-level layers, bottom to top (not the selection's mask node)."""
    return [n.name() for n in document.topLevelNodes() if n.type() != "selectionmask"]


def tree(node):
    """[name, [children...]] for groups, name otherwise, masks left out."""
    kids = [tree(child) for child in node.childNodes() if not child.type().endswith("mask")]
    return [node.name(), kids] if node.type() == "grouplayer" else node.name()


def layer_bytes(document, node):
    document.waitForDone()
    return bytes(node.pixelData(0, 0, document.width(), document.height()))


def save(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def trigger(action_id):
    action = Krita.instance().action(action_id)
    if action is None:
        raise RuntimeError(f"Krita has no action {action_id}")
    action.trigger()


def screenshot():
    """The whole X screen (the docker next to the canvas); falls back to grabbing the window."""
    window = Krita.instance().activeWindow().qwindow()
    pixmap = QApplication.primaryScreen().grabWindow(0)
    if pixmap.isNull():
        pixmap = window.grab()
    return pixmap.save(SHOT, "PNG")


def svg_path(document, points_px, colour="#00a0ff"):
    """A polyline as the path tool draws it: document pixels (corner origin) -> points, Krita's shape unit."""
    x_scale, y_scale = 72.0 / document.xRes(), 72.0 / document.yRes()
    w, h = document.width() * x_scale, document.height() * y_scale
    d = "M" + " L".join(f"{x * x_scale} {y * y_scale}" for x, y in points_px)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}pt" height="{h}pt" viewBox="0 0 {w} {h}">'
            f'<path d="{d}" stroke="{colour}" stroke-width="1" fill="none"/></svg>')


def corner(point):
    """Protocol pixel centres -> Krita's corner origin."""
    return [point[0] + 0.5, point[1] + 0.5]


def draw_lines(document, lines):
    """Replace every shape on the points layer with these lines (protocol pixel centres)."""
    points = node_by_name(document, "DragGAN points")
    for shape in points.shapes():
        shape.remove()
    for line in lines:
        points.addShapesFromSvg(svg_path(document, [corner(p) for p in line]))


def select_rect(document, rect):
    from krita import Selection

    selection = Selection()
    selection.select(*rect, 255)
    document.setSelection(selection)


def daemon_pid():
    """The pid of the daemon serving ADDRESS (the one the plugin started), from /proc."""
    needle = ADDRESS.encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        if needle in cmdline and b"serve" in cmdline:
            return int(entry)
    return None


class SelfTest(Extension):
    def setup(self):
        if os.environ.get("DRAGD_SELFTEST_SCENARIO") == "live":  # the Live toggle's own short run
            from .live_scenario import LiveScenario as Scenario
        else:
            from .scenario import Scenario

        self.scenario = Scenario()
        notifier = Krita.instance().notifier()
        notifier.windowCreated.connect(lambda: QTimer.singleShot(500, self.scenario.start))

    def createActions(self, window):
        pass


Krita.instance().addExtension(SelfTest(Krita.instance()))
