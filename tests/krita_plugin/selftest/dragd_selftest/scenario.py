"""The self-test's steps, one after another, each polled every 100 ms until its condition holds (the docker
works asynchronously). Each step records what it saw in `report` (and raw pixels in files) for the pytest side."""

import os
import signal
import struct
import time
import traceback

from krita import Krita
from PyQt5.QtCore import QTimer

from . import (
    AGAIN,
    DEADLINE_S,
    DOC,
    HANDLE,
    LINES3,
    OUT,
    PHOTO,
    PINNED,
    PLAIN_STEPS,
    SEED,
    SELECTION,
    SHOT,
    STEPS,
    TARGET,
    daemon_pid,
    docker,
    draw_lines,
    finish,
    layer_bytes,
    layer_names,
    node_by_name,
    nodes,
    note,
    plugin,
    plugin_busy,
    report,
    save,
    screenshot,
    select_rect,
    started,
    tree,
    trigger,
    write_report,
)

POLL_MS = 100
STOP_LINE = [[60, 90], [70, 90]]  # the second drag, stopped after a few of its steps
LONG_STEPS = 300
AGAIN_STEPS = 10
IDENTITY_STEPS = 4


class Scenario:
    def __init__(self):
        self.document = None
        self.stage = "wait_docker"
        self.shot_taken = False
        self.mark = 0.0
        self.panel_from = 0
        self.timer = QTimer()
        self.timer.timeout.connect(self.tick)

    def start(self):
        self.timer.start(POLL_MS)

    def tick(self):
        if plugin_busy():
            return  # acts as a user does: never from inside the plugin's work (see plugin_busy)
        try:
            if time.monotonic() - started > DEADLINE_S:
                finish(f"deadline passed at stage {self.stage}")
            self.record_panel()
            getattr(self, self.stage)()
        except Exception:
            finish(traceback.format_exc())

    # ---- helpers -------------------------------------------------------------------------------------------

    def state(self):
        return docker().controller.state

    def record_panel(self):
        d = docker()
        if d is None:
            return
        s = d.controller.state
        entry = {"stage": self.stage, "connection": s.connection, "message": s.message, "error": s.error,
                 "session": s.session}
        last = report["panel"][-1] if report["panel"] else None
        if last is None or {k: v for k, v in last.items() if k != "stage"} != \
                {k: v for k, v in entry.items() if k != "stage"}:
            report["panel"].append(entry)
            write_report()

    def panel_since(self):
        """Panel entries recorded since the last `drag()` of this scenario."""
        return report["panel"][self.panel_from:]

    def drag(self, max_steps):
        docker().panel.max_steps.setValue(max_steps)
        self.panel_from = len(report["panel"])
        trigger("dragd_drag")

    def idle(self):
        # Connecting (a Drag waits for it, e.g. after a heartbeat timed out on a loaded machine) is not idle.
        return not self.state().busy and not docker().controller._connecting

    def lines(self):
        return plugin().KritaCanvas(self.document).point_lines()

    def snapshot(self, **extra):
        s = self.state()
        return {"layers": layer_names(self.document), "tree": tree(self.document.rootNode())[1],
                "message": s.message, "error": s.error, "session": s.session, "connection": s.connection,
                "active": self.document.activeNode().name(), **extra}

    def record_when_idle(self, key, next_stage):
        """Once the docker's job ended: what it shows (and said since the last drag) as report[key], then on."""
        if self.idle():
            report[key] = self.snapshot(panel=self.panel_since())
            self.go(next_stage)

    def generate_in_new_document(self, name, depth):
        width, height, dpi = DOC
        self.document = Krita.instance().createDocument(width, height, name, "RGBA", depth, "", dpi)
        Krita.instance().activeWindow().addView(self.document)
        trigger("dragd_new_from_model")

    def generated(self):
        """New from model finished in this document (its points layer is there)."""
        return self.idle() and node_by_name(self.document, "DragGAN points") is not None

    def go(self, stage):
        self.stage = stage
        note(f"stage {stage}")
        write_report()  # as far as it got, should Krita crash later

    # ---- a generated picture, dragged, undone, redone, stopped --------------------------------------------

    def wait_docker(self):
        d = docker()
        if d is None:
            return
        # For the screenshot (Xvfb has no window manager to maximise anything): the window on the left, the
        # DragGAN docker floating at full height on the right, only the layers docker kept beside the canvas.
        from PyQt5.QtWidgets import QApplication, QDockWidget

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
        width, height, dpi = DOC
        self.document = Krita.instance().createDocument(width, height, "e2e", "RGBA", "U8", "", dpi)
        Krita.instance().activeWindow().addView(self.document)
        note("document opened", size=[width, height], dpi=dpi)
        panel = docker().panel
        panel.seed.setValue(SEED)
        panel.max_steps.setValue(STEPS)
        trigger("dragd_new_from_model")  # connects (starting the daemon) by itself, then generates
        self.go("wait_generated")

    def wait_generated(self):
        s = self.state()
        if s.busy or not s.connected or not s.message.startswith("Made"):
            if s.error:
                finish(f"new from model failed: {s.error}")
            return
        connected = next(p["connection"] for p in report["panel"] if "Connected to dragd" in p["connection"])
        note("connected", connection=connected)
        label = f"DragGAN faces-128-cpu seed {SEED}"
        source = node_by_name(self.document, label)
        points = node_by_name(self.document, "DragGAN points")
        report["generated"] = {"label": label, "layers": layer_names(self.document),
                               "points_layer": points is not None and points.type(),
                               "active": self.document.activeNode().name(), "session": s.session}
        self.source = source
        self.source_before = layer_bytes(self.document, source)
        save("source_before.bgra", self.source_before)
        draw_lines(self.document, [[HANDLE, TARGET]])
        select_rect(self.document, SELECTION)
        self.go("wait_pairs")

    def wait_pairs(self):
        if not self.state().pairs:
            return  # the docker polls the points layer once a second
        report["pairs"] = list(self.state().pairs)
        report["named"] = self.state().session
        self.drag(STEPS)
        self.go("wait_dragged")

    def wait_dragged(self):
        s = self.state()
        if s.dragging and s.progress >= 0.5 and not self.shot_taken and SHOT:
            self.shot_taken = True
            preview = node_by_name(self.document, "DragGAN preview")
            report["during_drag"] = {"progress": s.progress, "preview_layer": preview is not None,
                                     "line": [n for _, n in self.lines()], "screenshot": screenshot()}
        if not self.idle():
            return
        report["after_drag"] = self.snapshot(line=[n for _, n in self.lines()])
        save("source_after.bgra", layer_bytes(self.document, self.source))
        result = node_by_name(self.document, "DragGAN result 1")
        if result is not None:
            save("result.bgra", layer_bytes(self.document, result))
        trigger("dragd_undo")
        self.go("wait_undone")

    def wait_undone(self):
        if not self.idle():
            return
        report["after_undo"] = self.snapshot()
        trigger("dragd_redo")
        self.mark = time.monotonic()
        self.go("wait_redone")

    def wait_redone(self):
        if not self.idle() or time.monotonic() - self.mark < 1.0:
            return  # Krita activates an added layer late on a loaded machine; the plugin then restores the active one
        report["after_redo"] = self.snapshot()
        result = node_by_name(self.document, "DragGAN result 1")
        if result is not None:
            save("result_redo.bgra", layer_bytes(self.document, result))
        draw_lines(self.document, [STOP_LINE])
        self.drag(LONG_STEPS)
        self.go("wait_to_stop")

    def wait_to_stop(self):
        s = self.state()
        if s.error:
            finish(f"the long drag failed: {s.error}")
        if s.dragging and s.progress * LONG_STEPS >= 3:
            report["stop_pressed_at"] = s.message
            trigger("dragd_stop")
            self.go("wait_stopped")

    def wait_stopped(self):
        if not self.idle():
            return
        report["after_stop"] = self.snapshot()
        save("source_end.bgra", layer_bytes(self.document, self.source))
        trigger("edit_undo")  # Krita's own undo (Ctrl+Z): the stopped drag's layer goes
        self.go("wait_krita_undo")

    # ---- Krita's undo, then Drag: from what is shown ------------------------------------------------------

    def wait_krita_undo(self):
        self.document.waitForDone()
        report["after_krita_undo"] = self.snapshot()
        draw_lines(self.document, [AGAIN])
        self.go("wait_again_pairs")

    def wait_again_pairs(self):
        if not self.state().pairs or "(70, 90)" in self.state().pairs[0]:
            return
        self.drag(AGAIN_STEPS)
        self.go("wait_again")

    def wait_again(self):
        if not self.idle():
            return
        report["after_again"] = self.snapshot(panel=self.panel_since())
        again = node_by_name(self.document, "DragGAN result 2")
        if again is not None:
            save("again.bgra", layer_bytes(self.document, again))
        # The docker's Undo, then Krita's (Ctrl+Z brings the layer back), then the docker's Redo.
        trigger("dragd_undo")
        report["mixed_docker_undo"] = self.snapshot()
        trigger("edit_undo")
        self.document.waitForDone()
        report["mixed_krita_undo"] = self.snapshot()
        trigger("dragd_redo")
        report["mixed_docker_redo"] = self.snapshot()
        trigger("deselect")
        self.document.waitForDone()
        draw_lines(self.document, LINES3)
        self.go("wait_identity_pairs")

    # ---- three lines, one of four nodes, keep their identity ------------------------------------------------

    def wait_identity_pairs(self):
        if len(self.state().pairs) != len(LINES3):
            return
        report["identity_before"] = [n for _, n in self.lines()]
        self.drag(IDENTITY_STEPS)
        self.go("wait_identity_1")

    def wait_identity_1(self):
        if not self.idle():
            return
        report["identity_1"] = self.snapshot(lines=self.lines())
        # Take the first line out and put it back (as a user's cut and paste does): Krita's shape order changes.
        points = node_by_name(self.document, "DragGAN points")
        first = points.shapes()[0]
        svg, name = first.toSvg(), first.name()
        first.remove()
        x_scale, y_scale = 72.0 / self.document.xRes(), 72.0 / self.document.yRes()
        w, h = self.document.width() * x_scale, self.document.height() * y_scale
        for shape in points.addShapesFromSvg(f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}pt" '
                                             f'height="{h}pt" viewBox="0 0 {w} {h}">{svg}</svg>') or []:
            shape.setName(name)
        report["identity_reordered"] = [n for _, n in self.lines()]
        self.drag(IDENTITY_STEPS)
        self.go("wait_identity_2")

    def wait_identity_2(self):
        if not self.idle():
            return
        report["identity_2"] = self.snapshot(lines=self.lines())
        # A vector layer (text, shapes) is not dragged silently.
        title = self.document.createVectorLayer("Title")
        points = node_by_name(self.document, "DragGAN points")
        self.document.rootNode().addChildNode(title, points)
        self.document.setActiveNode(title)
        self.go("wait_title_active")

    def wait_title_active(self):
        if self.document.activeNode().name() != "Title":
            return
        self.drag(STEPS)
        report["vector_layer"] = self.snapshot()
        node_by_name(self.document, "Title").remove()
        self.go("make_group")

    # ---- a user's own layer inside a group: opened, dragged, its result beside it -------------------------

    def make_group(self):
        document = self.document
        group = document.createGroupLayer("Group")
        points = node_by_name(document, "DragGAN points")
        root = document.rootNode()
        top = [n for n in root.childNodes() if n.type() != "selectionmask"]
        below_points = top[top.index(points) - 1] if points in top else None
        root.addChildNode(group, below_points)
        plain = document.createNode("plain", "paintlayer")
        group.addChildNode(plain, None)
        with open(PHOTO, "rb") as f:  # a real photo: the daemon's paste must keep its own pixels
            plain.setPixelData(f.read(), 0, 0, document.width(), document.height())
        document.waitForDone()
        self.plain_before = layer_bytes(document, plain)
        save("plain_before.bgra", self.plain_before)
        draw_lines(document, [[HANDLE, TARGET]])
        select_rect(document, SELECTION)
        document.setActiveNode(points)
        self.names_before = [n.name() for n in nodes(document.rootNode())]
        self.watch_previews()
        self.go("wait_plain_pairs")

    def watch_previews(self):
        """The preview may exist only between two of this test's polls (a short drag on a loaded machine, and
        polls never run inside the plugin's work): note where the plugin's preview is, right after it shows one."""
        adapter = plugin()
        show = adapter.KritaCanvas.show_preview

        def show_preview(canvas, pixels, above):
            show(canvas, pixels, above)
            preview = node_by_name(canvas.document, "DragGAN preview")
            if preview is not None and preview.parentNode().name() == "Group":
                self.plain_preview_seen = True

        adapter.KritaCanvas.show_preview = show_preview

    def wait_plain_pairs(self):
        s = self.state()
        if len(s.pairs) != 1 or "plain" not in s.session:
            return  # the docker re-reads the lines and the layer it will drag once a second
        report["plain_named"] = s.session
        self.drag(PLAIN_STEPS)
        self.go("wait_plain_dragged")

    def wait_plain_dragged(self):
        s = self.state()
        if s.dragging and node_by_name(self.document, "DragGAN preview") is not None:
            self.plain_preview_seen = True
        if not self.idle():
            return
        new = [n.name() for n in nodes(self.document.rootNode()) if n.name() not in self.names_before]
        report["after_plain_drag"] = self.snapshot(panel=self.panel_since(), new=new,
                                                   preview_seen=hasattr(self, "plain_preview_seen"))
        save("plain_after.bgra", layer_bytes(self.document, node_by_name(self.document, "plain")))
        if len(new) == 1:
            save("plain_result.bgra", layer_bytes(self.document, node_by_name(self.document, new[0])))
        trigger("dragd_undo")  # the plain layer's result goes; dragging plain again must not re-invert
        self.go("wait_plain_undone")

    def wait_plain_undone(self):
        if '"plain"' not in self.state().session:
            return  # the docker names the layer Drag will edit: plain again, once the result is gone
        draw_lines(self.document, [PINNED])  # this time a drag that moves nothing: the photo must stay
        self.go("wait_plain_pinned")

    def wait_plain_pinned(self):
        pairs = self.state().pairs
        if len(pairs) != 1 or pairs[0].split(": ")[1].split(" -> ")[0] != pairs[0].split(" -> ")[1]:
            return  # until the docker re-read the pinned line
        self.names_before = [n.name() for n in nodes(self.document.rootNode())]
        self.drag(PLAIN_STEPS)
        self.go("wait_plain_again")

    def wait_plain_again(self):
        if not self.idle():
            return
        new = [n.name() for n in nodes(self.document.rootNode()) if n.name() not in self.names_before]
        report["after_plain_again"] = self.snapshot(panel=self.panel_since(), new=new)
        if len(new) == 1:
            save("plain_still.bgra", layer_bytes(self.document, node_by_name(self.document, new[0])))
        self.go("start_nested")

    # ---- a generated layer two groups deep, with a transparency mask, opacity and a blend mode ------------

    def start_nested(self):
        self.generate_in_new_document("nested", "U8")
        self.go("wait_nested_generated")

    def wait_nested_generated(self):
        if not self.generated():
            return
        document = self.document
        self.nested_source = node_by_name(document, f"DragGAN faces-128-cpu seed {SEED}")
        # A transparency mask as a user makes one: select the part to keep, Layer > Add > Transparency Mask
        # (Krita fills it from the selection; libkis' createNode makes a mask without any content).
        select_rect(document, [document.width() // 2, 0, document.width() - document.width() // 2,
                               document.height()])
        document.setActiveNode(self.nested_source)
        self.go("add_nested_mask")

    def add_nested_mask(self):
        document, source = self.document, self.nested_source
        if document.activeNode().name() != source.name():
            document.setActiveNode(source)  # again, as a user clicks again (Krita activates from a queued signal)
            return
        trigger("add_new_transparency_mask")
        self.go("move_nested")

    def move_nested(self):
        document, source = self.document, self.nested_source
        if not [c for c in source.childNodes() if c.type() == "transparencymask"]:
            return  # Krita adds the mask a moment later
        trigger("deselect")
        # Two groups deep: a copy of the masked layer (libkis' remove drops a node's masks; a copy keeps them).
        outer, inner = document.createGroupLayer("Outer"), document.createGroupLayer("Inner")
        document.rootNode().addChildNode(outer, source)
        outer.addChildNode(inner, None)
        masked = source.duplicate()
        masked.setName("masked")
        inner.addChildNode(masked, None)
        source.remove()
        masked.setOpacity(200)
        masked.setBlendingMode("multiply")
        document.waitForDone()
        self.nested_source = masked
        save("nested_source.bgra", layer_bytes(document, masked))
        draw_lines(document, [[HANDLE, TARGET]])
        select_rect(document, SELECTION)
        document.setActiveNode(node_by_name(document, "DragGAN points"))
        self.go("wait_nested_pairs")

    def wait_nested_pairs(self):
        s = self.state()
        if len(s.pairs) != 1 or '"masked"' not in s.session:
            return  # the docker names the layer under the points layer, two groups down
        report["nested_named"] = s.session
        self.drag(PLAIN_STEPS)
        self.go("wait_nested")

    def wait_nested(self):
        if not self.idle():
            return
        document = self.document
        result = node_by_name(document, "DragGAN result 1")
        masks = [(c.type(), layer_bytes(document, c)) for c in result.childNodes()] if result else []
        source_masks = [(c.type(), layer_bytes(document, c)) for c in self.nested_source.childNodes()]
        report["after_nested"] = self.snapshot(
            panel=self.panel_since(), result=None if result is None else {
                "opacity": result.opacity(), "blend": result.blendingMode(), "masks": [kind for kind, _ in masks],
                "mask_kept": masks == source_masks,
                "mask_hides_left": [sorted(set(data[:document.width() // 2])) for _, data in source_masks]})
        save("nested_source_after.bgra", layer_bytes(document, self.nested_source))
        if result is not None:
            save("nested_result.bgra", layer_bytes(document, result))
        self.go("start_float")

    # ---- a float document with HDR values: opened, dragged, every value outside the edit kept -------------

    def start_float(self):
        from dragd_krita.dragd.krita_plugin import depth

        width, height, dpi = DOC
        document = Krita.instance().createDocument(width, height, "float", "RGBA", "F32", "", dpi)
        Krita.instance().activeWindow().addView(document)
        self.document = document
        linear = depth.is_linear(document.colorProfile())
        from dragd_krita.dragd.protocol.images import Image, swap_red_blue

        picture = Image.rgba(width, height, swap_red_blue(self.source_before))
        raw = bytearray(depth.from_8bit(picture, "F32", linear))
        hdr = struct.pack("<4f", 4.0, 2.5, 1.5, 1.0)
        for x in range(width):  # row 2: HDR values, far from the selection
            raw[(2 * width + x) * 16:(2 * width + x + 1) * 16] = hdr
        layer = document.createNode("hdr", "paintlayer")
        document.rootNode().addChildNode(layer, None)
        layer.setPixelData(bytes(raw), 0, 0, width, height)
        document.waitForDone()
        report["float_profile"] = document.colorProfile()
        save("float_before.f32", layer_bytes(document, layer))
        trigger("dragd_add_points_layer")
        draw_lines(document, [[HANDLE, TARGET]])
        select_rect(document, SELECTION)
        self.names_before = [n.name() for n in nodes(document.rootNode())]
        self.go("wait_float_pairs")

    def wait_float_pairs(self):
        s = self.state()
        if len(s.pairs) != 1 or '"hdr"' not in s.session:
            return
        self.drag(PLAIN_STEPS)
        self.go("wait_float")

    def wait_float(self):
        if not self.idle():
            return
        new = [n.name() for n in nodes(self.document.rootNode()) if n.name() not in self.names_before]
        report["after_float"] = self.snapshot(new=new)
        save("float_after.f32", layer_bytes(self.document, node_by_name(self.document, "hdr")))
        if len(new) == 1:
            save("float_result.f32", layer_bytes(self.document, node_by_name(self.document, new[0])))
        self.go("start_deep")

    # ---- a 16-bit document: New from model, a drag; outside the selection the 16-bit values stay ------------

    def start_deep(self):
        self.generate_in_new_document("deep", "U16")
        self.go("wait_deep_generated")

    def wait_deep_generated(self):
        if not self.generated():
            return
        self.deep_source = node_by_name(self.document, f"DragGAN faces-128-cpu seed {SEED}")
        report["deep_profile"] = self.document.colorProfile()
        save("deep_source.u16", layer_bytes(self.document, self.deep_source))
        draw_lines(self.document, [[HANDLE, TARGET]])
        select_rect(self.document, SELECTION)
        self.go("wait_deep_pairs")

    def wait_deep_pairs(self):
        if len(self.state().pairs) != 1:
            return
        self.drag(STEPS)
        self.go("wait_deep")

    def wait_deep(self):
        if not self.idle():
            return
        report["after_deep"] = self.snapshot()
        save("deep_source_after.u16", layer_bytes(self.document, self.deep_source))
        result = node_by_name(self.document, "DragGAN result 1")
        if result is not None:
            save("deep_result.u16", layer_bytes(self.document, result))
        self.go("start_kill")

    # ---- the daemon killed mid-drag: said within seconds; the next Drag starts one and goes on -----------

    def start_kill(self):
        trigger("deselect")
        draw_lines(self.document, [[HANDLE, TARGET]])
        self.go("wait_kill_pairs")

    def wait_kill_pairs(self):
        s = self.state()
        if list(s.pairs) != report["pairs"] or "DragGAN result 1" not in s.session:
            return  # until the docker re-read the line drawn again
        self.drag(LONG_STEPS)
        self.go("wait_to_kill")

    def wait_to_kill(self):
        s = self.state()
        if s.dragging and s.progress * LONG_STEPS >= 3:
            pid = daemon_pid()
            report["killed_pid"] = pid
            if pid is None:
                finish("no daemon process found to kill")
            os.kill(pid, signal.SIGKILL)
            self.mark = time.monotonic()
            self.go("wait_kill_noticed")

    def wait_kill_noticed(self):
        if not self.idle():
            return
        report["after_kill"] = self.snapshot(seconds=round(time.monotonic() - self.mark, 1))
        self.drag(STEPS)  # a new daemon, and the layer's state from the document
        self.go("wait_restarted")

    def wait_restarted(self):
        s = self.state()
        if s.busy or not s.message.startswith("Done") and not s.error:
            return
        report["after_restart"] = self.snapshot(panel=self.panel_since())
        self.go("start_reopen")

    # ---- saved as .kra and opened again: the layers' states come back with the file -----------------------

    def start_reopen(self):
        path = os.path.join(OUT, "deep.kra")
        report["saved"] = self.document.saveAs(path)
        self.document = Krita.instance().openDocument(path)
        Krita.instance().activeWindow().addView(self.document)
        self.document.setActiveNode(node_by_name(self.document, "DragGAN result 1"))
        draw_lines(self.document, [AGAIN])
        self.go("wait_reopen_pairs")

    def wait_reopen_pairs(self):
        s = self.state()
        if len(s.pairs) != 1 or "(50, 60)" not in s.pairs[0] or '"DragGAN result 1"' not in s.session:
            return
        report["reopen_named"] = s.session
        self.drag(AGAIN_STEPS)
        self.go("wait_reopened")

    def wait_reopened(self):
        self.record_when_idle("after_reopen", "start_close")

    # ---- a document closed mid-drag -----------------------------------------------------------------------

    def start_close(self):
        self.generate_in_new_document("closing", "U8")
        self.go("wait_close_generated")

    def wait_close_generated(self):
        if not self.generated():
            return
        draw_lines(self.document, [[HANDLE, TARGET]])
        self.go("wait_close_pairs")

    def wait_close_pairs(self):
        if len(self.state().pairs) != 1:
            return
        self.drag(LONG_STEPS)
        self.go("wait_to_close")

    def wait_to_close(self):
        s = self.state()
        if s.dragging and s.progress * LONG_STEPS >= 3:
            self.document.setModified(False)  # as a user answering "No" to Krita's "save it?" question
            trigger("file_close")  # File > Close, as a user closes it
            self.document = None
            self.mark = time.monotonic()
            self.go("wait_closed")

    def wait_closed(self):
        if not self.idle():
            return
        s = self.state()
        report["after_close"] = {"message": s.message, "error": s.error,
                                 "seconds": round(time.monotonic() - self.mark, 1)}
        # A greyscale document: explained, not greyed out.
        self.document = Krita.instance().createDocument(64, 64, "grey", "GRAYA", "U8", "", 72.0)
        Krita.instance().activeWindow().addView(self.document)
        self.go("wait_grey")

    def wait_grey(self):
        if Krita.instance().activeDocument() is None:
            return
        trigger("dragd_drag")
        s = self.state()
        report["grey"] = {"message": s.message, "error": s.error}
        note("done")
        finish()
