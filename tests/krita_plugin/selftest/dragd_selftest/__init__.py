"""A second Krita plugin, installed only by the end-to-end test, that acts as the user of the DragGAN docker.

When Krita's window appears it opens a document, presses the docker's actions (New from model, Drag, Undo,
Redo) through Krita's own action registry, draws a drag line on "DragGAN points" and selects a rectangle with
Krita's API (as a user would with the tools), takes a screenshot while the drag runs, and writes everything it
saw to $DRAGD_SELFTEST_OUT (report.json plus raw pixels), then ends Krita with os._exit (quitting Krita
cleanly segfaults headless). The pytest side (test_krita_e2e.py) judges the report.
"""

import json
import os
import time
import traceback

from krita import Extension, Krita
from PyQt5.QtCore import QTimer
from PyQt5.QtWidgets import QApplication

OUT = os.environ.get("DRAGD_SELFTEST_OUT", "")
SHOT = os.environ.get("DRAGD_SELFTEST_SHOT", "")
SEED = int(os.environ.get("DRAGD_SELFTEST_SEED", "7"))
STEPS = int(os.environ.get("DRAGD_SELFTEST_STEPS", "30"))
DOC = json.loads(os.environ.get("DRAGD_SELFTEST_DOC", "[160, 144, 96.0]"))  # width, height, dpi
HANDLE = json.loads(os.environ.get("DRAGD_SELFTEST_HANDLE", "[64, 80]"))  # protocol pixels (centre origin)
TARGET = json.loads(os.environ.get("DRAGD_SELFTEST_TARGET", "[64, 64]"))
SELECTION = json.loads(os.environ.get("DRAGD_SELFTEST_SELECTION", "[32, 40, 64, 64]"))
STOP_HANDLE, STOP_TARGET = [60, 90], [70, 90]  # the second drag, stopped after a few of its steps
STOP_MAX_STEPS = 300
DEADLINE_S = float(os.environ.get("DRAGD_SELFTEST_DEADLINE", "240"))
POLL_MS = 100

report = {"steps": [], "errors": [], "panel": []}


def note(step, **details):
    report["steps"].append({"step": step, "t": round(time.monotonic() - started, 2), **details})


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


def docker():
    dockers = [d for d in list(plugin()._dockers) if d.controller is not None]
    return dockers[0] if dockers else None


def node_by_name(document, name):
    return next((n for n in document.topLevelNodes() if n.name() == name), None)


def layer_names(document):
    """The document's top-level layers, bottom to top (not the selection's mask node)."""
    return [n.name() for n in document.topLevelNodes() if n.type() != "selectionmask"]


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


def svg_line(document, start_px, end_px):
    """A line as the line tool draws it: document pixels (corner origin) -> points, Krita's shape unit."""
    x_scale, y_scale = 72.0 / document.xRes(), 72.0 / document.yRes()
    w, h = document.width() * x_scale, document.height() * y_scale
    (x0, y0), (x1, y1) = start_px, end_px
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}pt" height="{h}pt" viewBox="0 0 {w} {h}">'
            f'<path d="M{x0 * x_scale} {y0 * y_scale} L{x1 * x_scale} {y1 * y_scale}" stroke="#00a0ff" '
            'stroke-width="1" fill="none"/></svg>')


class Scenario:
    """One step after another, each polled until its condition holds (the docker works asynchronously)."""

    def __init__(self):
        self.document = None
        self.stage = "wait_docker"
        self.source_before = None
        self.shot_taken = False
        self.timer = QTimer()
        self.timer.timeout.connect(self.tick)

    def start(self):
        self.timer.start(POLL_MS)

    def tick(self):
        try:
            if time.monotonic() - started > DEADLINE_S:
                finish(f"deadline passed at stage {self.stage}")
            getattr(self, self.stage)()
        except Exception:
            finish(traceback.format_exc())

    def state(self):
        return docker().controller.state

    def record_panel(self):
        s = self.state()
        entry = {"stage": self.stage, "connection": s.connection, "message": s.message, "error": s.error}
        if not report["panel"] or {k: v for k, v in report["panel"][-1].items() if k != "stage"} != \
                {k: v for k, v in entry.items() if k != "stage"}:
            report["panel"].append(entry)

    # ---- stages ------------------------------------------------------------------------------------------

    def wait_docker(self):
        d = docker()
        if d is None:
            return
        # For the screenshot (Xvfb has no window manager to maximise anything): the window on the left, the
        # DragGAN docker floating at full height on the right, only the layers docker kept beside the canvas.
        from PyQt5.QtWidgets import QDockWidget

        window = Krita.instance().activeWindow().qwindow()
        screen = QApplication.primaryScreen().geometry()
        docker_width = 420
        window.setGeometry(0, 0, screen.width() - docker_width, screen.height())
        for other in window.findChildren(QDockWidget):
            if other is not d and other.objectName() not in ("KisLayerBox", "ToolBox"):
                other.hide()
        d.setFloating(True)
        d.show()
        d.setGeometry(screen.width() - docker_width, 0, docker_width, screen.height())
        d.raise_()
        note("docker found", visible=d.isVisible())
        width, height, dpi = DOC
        self.document = Krita.instance().createDocument(width, height, "e2e", "RGBA", "U8", "", dpi)
        Krita.instance().activeWindow().addView(self.document)
        note("document opened", size=[width, height], dpi=dpi)
        self.stage = "wait_connected"

    def wait_connected(self):
        self.record_panel()
        s = self.state()
        if s.error:
            finish(f"connecting failed: {s.error}")
        if not s.connected:
            return
        note("connected", connection=s.connection, models=[m.name for m in s.models])
        panel = docker().panel
        panel.seed.setValue(SEED)
        panel.max_steps.setValue(STEPS)
        trigger("dragd_new_from_model")
        self.stage = "wait_generated"

    def wait_generated(self):
        self.record_panel()
        s = self.state()
        if s.busy:
            return
        if s.error:
            finish(f"new from model failed: {s.error}")
        session = docker().controller.current
        source = node_by_name(self.document, session.label)
        points = node_by_name(self.document, "DragGAN points")
        report["generated"] = {"label": session.label, "layers": layer_names(self.document),
                               "points_layer": points is not None and points.type(),
                               "active": self.document.activeNode().name()}
        self.source_before = layer_bytes(self.document, source)
        save("source_before.bgra", self.source_before)
        # The user draws a line on the points layer and selects the region that may move.
        handle = [HANDLE[0] + 0.5, HANDLE[1] + 0.5]  # protocol pixel centres -> Krita's corner origin
        target = [TARGET[0] + 0.5, TARGET[1] + 0.5]
        points.addShapesFromSvg(svg_line(self.document, handle, target))
        from krita import Selection

        selection = Selection()
        selection.select(*SELECTION, 255)
        self.document.setSelection(selection)
        self.stage = "wait_pairs"

    def wait_pairs(self):
        s = self.state()
        if not s.pairs:
            return  # the docker polls the points layer once a second
        report["pairs"] = list(s.pairs)
        trigger("dragd_drag")
        note("drag triggered")
        self.stage = "wait_dragged"

    def wait_dragged(self):
        self.record_panel()
        s = self.state()
        if s.dragging and s.progress >= 0.5 and not self.shot_taken and SHOT:
            self.shot_taken = True
            preview = node_by_name(self.document, "DragGAN preview")
            line = plugin().KritaCanvas(self.document).point_lines()
            report["during_drag"] = {"progress": s.progress, "preview_layer": preview is not None,
                                     "active": self.document.activeNode().name(),
                                     "line": line, "screenshot": screenshot()}
            note("screenshot", progress=s.progress)
        if s.busy:
            return
        if s.error:
            finish(f"drag failed: {s.error}")
        source = node_by_name(self.document, docker().controller.current.label)
        result = node_by_name(self.document, "DragGAN result 1")
        report["after_drag"] = {
            "layers": layer_names(self.document), "message": s.message,
            "line": plugin().KritaCanvas(self.document).point_lines(), "can_undo": s.can_undo,
            "progress": s.progress, "active": self.document.activeNode().name(),
        }
        save("source_after.bgra", layer_bytes(self.document, source))
        if result is not None:
            save("result.bgra", layer_bytes(self.document, result))
        trigger("dragd_undo")
        self.stage = "wait_undone"

    def wait_undone(self):
        s = self.state()
        if s.busy:
            return
        report["after_undo"] = {"layers": layer_names(self.document), "error": s.error,
                                "active": self.document.activeNode().name(),
                                "can_redo": s.can_redo}
        trigger("dragd_redo")
        self.stage = "wait_redone"

    def wait_redone(self):
        s = self.state()
        if s.busy:
            return
        result = node_by_name(self.document, "DragGAN result 1")
        report["after_redo"] = {"layers": layer_names(self.document), "error": s.error,
                                "active": self.document.activeNode().name()}
        if result is not None:
            save("result_redo.bgra", layer_bytes(self.document, result))
        # A long drag with a new line, stopped by the Stop action after a few steps.
        points = node_by_name(self.document, "DragGAN points")
        for shape in points.shapes():
            shape.remove()
        handle = [STOP_HANDLE[0] + 0.5, STOP_HANDLE[1] + 0.5]
        target = [STOP_TARGET[0] + 0.5, STOP_TARGET[1] + 0.5]
        points.addShapesFromSvg(svg_line(self.document, handle, target))
        docker().panel.max_steps.setValue(STOP_MAX_STEPS)
        trigger("dragd_drag")
        self.stage = "wait_to_stop"

    def wait_to_stop(self):
        s = self.state()
        if s.error:
            finish(f"the long drag failed: {s.error}")
        if s.dragging and s.progress * STOP_MAX_STEPS >= 3:
            report["stop_pressed_at"] = s.message
            trigger("dragd_stop")
            self.stage = "wait_stopped"

    def wait_stopped(self):
        s = self.state()
        if s.busy:
            return
        report["after_stop"] = {"layers": layer_names(self.document), "message": s.message, "error": s.error}
        source = node_by_name(self.document, docker().controller.current.label)
        save("source_end.bgra", layer_bytes(self.document, source))
        trigger("edit_undo")  # Krita's own undo (Ctrl+Z)
        self.stage = "wait_krita_undo"

    def wait_krita_undo(self):
        self.document.waitForDone()
        report["after_krita_undo"] = {"layers": layer_names(self.document)}
        # A paint layer of the user's own (the generated picture painted in, no DragGAN session behind it):
        # Drag opens it through the daemon's GAN inversion first, then drags.
        plain = self.document.createNode("plain", "paintlayer")
        self.document.rootNode().addChildNode(plain, None)
        plain.setPixelData(self.source_before, 0, 0, self.document.width(), self.document.height())
        self.document.setActiveNode(plain)
        self.document.waitForDone()
        self.plain_before = layer_bytes(self.document, plain)
        save("plain_before.bgra", self.plain_before)
        points = node_by_name(self.document, "DragGAN points")
        for shape in points.shapes():
            shape.remove()
        points.addShapesFromSvg(svg_line(self.document, [HANDLE[0] + 0.5, HANDLE[1] + 0.5],
                                         [TARGET[0] + 0.5, TARGET[1] + 0.5]))
        from krita import Selection

        selection = Selection()
        selection.select(*SELECTION, 255)
        self.document.setSelection(selection)
        self.layers_before_plain = layer_names(self.document)
        docker().panel.max_steps.setValue(STEPS)
        self.stage = "wait_plain_pairs"

    def wait_plain_pairs(self):
        s = self.state()
        if not s.pairs or "(70, 90)" in s.pairs[0]:
            return  # the docker re-reads the points layer once a second
        self.document.setActiveNode(node_by_name(self.document, "plain"))
        trigger("dragd_drag")
        note("plain drag triggered")
        self.stage = "wait_plain_dragged"

    def wait_plain_dragged(self):
        self.record_panel()
        s = self.state()
        if s.busy:
            return
        new = [name for name in layer_names(self.document) if name not in self.layers_before_plain]
        report["after_plain_drag"] = {"layers": layer_names(self.document), "new": new, "message": s.message,
                                      "error": s.error, "session": s.session}
        save("plain_after.bgra", layer_bytes(self.document, node_by_name(self.document, "plain")))
        if len(new) == 1:
            save("plain_result.bgra", layer_bytes(self.document, node_by_name(self.document, new[0])))
        note("done")
        finish()


started = time.monotonic()
scenario = Scenario()


class SelfTest(Extension):
    def setup(self):
        notifier = Krita.instance().notifier()
        notifier.windowCreated.connect(lambda: QTimer.singleShot(500, scenario.start))

    def createActions(self, window):
        pass


Krita.instance().addExtension(SelfTest(Krita.instance()))
