"""The docker's Live toggle in a real Krita (issue 14), a short run of its own (DRAGD_SELFTEST_SCENARIO=live).

The base scenario's first stages make a document, press New from model, draw one line HANDLE -> TARGET and select;
then Live goes on. The line's target node is moved in steps as Krita's shape tool moves it (the same shape, edited
in place), and after each move the scenario waits until the docker shows a preview that reflects the move and
says the drag is idle, and keeps that preview's pixels. Live off commits (the result layer), then Krita's own undo
runs once. Then Live again, one move, and Stop: nothing may be written. The pytest side judges it
(test_krita_live_e2e.py).
"""

import json
import math
import os
import time

from . import (
    HANDLE,
    SHOT,
    TARGET,
    docker,
    draw_lines,
    finish,
    layer_bytes,
    layer_names,
    node_by_name,
    note,
    plugin,
    report,
    save,
    screenshot,
    trigger,
)
from .scenario import Scenario

LIVE_TARGETS = json.loads(os.environ.get("DRAGD_SELFTEST_LIVE_TARGETS", "[[64, 72], [64, 68], [64, 64]]"))
LIVE_STEPS = int(os.environ.get("DRAGD_SELFTEST_LIVE_STEPS", "80"))  # the panel's max steps: per set of targets


def corner(point):
    return point[0] + 0.5, point[1] + 0.5


def move_target(document, point):
    """Move the end node of the one drag line to `point` (protocol pixel centre), keeping its start: the shape
    itself is edited (its transform), as the shape tool edits a line in place; its name (the line's key) stays.
    The transform takes the line onto the new one and keeps lengths across it, so the stroke keeps its width."""
    from PyQt5.QtGui import QTransform

    layer = node_by_name(document, "DragGAN points")
    (shape,) = [s for s in layer.shapes() if s.type() == "KoPathShape"]
    ((_, nodes),) = plugin().KritaCanvas(document).point_lines()
    sx, sy = 72.0 / document.xRes(), 72.0 / document.yRes()  # pixels -> points, Krita's shape unit
    hx, hy = nodes[0][0] * sx, nodes[0][1] * sy
    ux, uy = nodes[-1][0] * sx - hx, nodes[-1][1] * sy - hy  # the line now, from its handle
    qx, qy = corner(point)
    vx, vy = qx * sx - hx, qy * sy - hy  # the line wanted
    # A (column vectors) maps u -> v and the unit normal of u -> the unit normal of v: A = [v n_v] [u n_u]^-1.
    lu, lv = math.hypot(ux, uy), math.hypot(vx, vy)
    nux, nuy, nvx, nvy = -uy / lu, ux / lu, -vy / lv, vx / lv
    det = ux * nuy - nux * uy
    inverse = ((nuy / det, -nux / det), (-uy / det, ux / det))
    a11 = vx * inverse[0][0] + nvx * inverse[1][0]
    a12 = vx * inverse[0][1] + nvx * inverse[1][1]
    a21 = vy * inverse[0][0] + nvy * inverse[1][0]
    a22 = vy * inverse[0][1] + nvy * inverse[1][1]
    # QTransform maps row vectors: x' = m11 x + m21 y + dx, y' = m12 x + m22 y + dy; the handle stays put.
    about_handle = QTransform(a11, a21, a12, a22, hx - (a11 * hx + a12 * hy), hy - (a21 * hx + a22 * hy))
    name = shape.name()
    shape.setTransformation(shape.transformation() * about_handle)
    shape.update()
    return name


class LiveScenario(Scenario):
    """wait_docker, wait_generated: the base scenario's (a generated layer, the line, the selection)."""

    def wait_pairs(self):
        if not self.state().pairs:
            return
        report["pairs"] = list(self.state().pairs)
        report["layers_before_live"] = layer_names(self.document)
        docker().panel.max_steps.setValue(LIVE_STEPS)
        self.moves, self.targets, self.mark = 0, [list(TARGET)], time.monotonic()
        report["live"] = []
        self.panel_from = len(report["panel"])
        trigger("dragd_live")
        self.timing = time_frames(docker().controller.live)
        self.go("wait_following")

    def followed(self):
        """The docker shows an idle preview reflecting every move so far (None while it does not)."""
        s = self.state()
        if s.error and not s.live:
            finish(f"the live drag failed: {s.error}")
        live = docker().controller.live
        preview = node_by_name(self.document, "DragGAN preview")
        if not (s.live and live.idle and live.shown_revision >= self.moves and preview is not None):
            return None
        first = live.first_shown.get(self.moves)  # the first preview of this move's revision, when it was shown
        sent = live.sent_at[self.moves - 1] if 0 < self.moves <= len(live.sent_at) else None
        return {"move": self.moves, "target": self.targets[-1], "revision": live.shown_revision,
                "tracked": list(live.shown_points[0]), "previews": live.previews, "message": s.message,
                "seconds": round(time.monotonic() - self.mark, 2),
                "first_preview_s": None if first is None else round(first - self.mark, 3),
                "sent_s": None if sent is None else round(sent - self.mark, 3)}, preview

    def move(self, target):
        name = move_target(self.document, target)
        self.moves += 1
        self.targets.append(list(target))
        self.mark = time.monotonic()
        return name

    def wait_following(self):
        seen = self.followed()
        if seen is None:
            return
        entry, preview = seen
        report["live"].append(entry)
        save(f"live_{self.moves}.bgra", layer_bytes(self.document, preview))
        if self.moves < len(LIVE_TARGETS):
            name = self.move(LIVE_TARGETS[self.moves])
            report["live"][-1]["moved_shape"] = name
            return
        if SHOT:
            report["live_screenshot"] = screenshot()
        report["panel_while_live"] = widgets()
        report["frames"] = self.timing()
        docker().panel.live.click()  # the toggle off, as the user clicks it: keeps the picture as a result layer
        self.go("wait_committed")

    def wait_committed(self):
        if not self.idle():
            return
        report["after_commit"] = self.snapshot(panel=self.panel_since(), line=[n for _, n in self.lines()])
        report["panel_after_live"] = widgets()
        result = node_by_name(self.document, "DragGAN result 1")
        save("live_source_after.bgra", layer_bytes(self.document, self.source))
        if result is not None:
            save("live_result.bgra", layer_bytes(self.document, result))
            binding = plugin().KritaCanvas(self.document).bindings().get(result.uniqueId().toString())
            report["result_binding"] = binding and {"state": binding.state, "kind": binding.kind}
        trigger("edit_undo")  # Krita's own undo, once: the whole live drag goes
        self.go("wait_live_undone")

    def wait_live_undone(self):
        self.document.waitForDone()
        report["after_live_undo"] = self.snapshot()
        save("live_source_undone.bgra", layer_bytes(self.document, self.source))
        draw_lines(self.document, [[list(HANDLE), list(TARGET)]])
        self.go("wait_cancel_pairs")

    # ---- Live again, one move, then Stop: nothing written --------------------------------------------------

    def wait_cancel_pairs(self):
        if list(self.state().pairs) != report["pairs"]:
            return  # until the docker re-read the line drawn again
        self.moves, self.targets = 0, [list(TARGET)]
        self.panel_from = len(report["panel"])
        docker().panel.live.click()  # this time Live goes on from the docker's toggle
        self.go("wait_cancel_following")

    def wait_cancel_following(self):
        seen = self.followed()
        if seen is None:
            return
        if self.moves == 0:
            self.move(LIVE_TARGETS[0])
            return
        report["cancel_followed"] = seen[0]
        report["before_cancel"] = self.snapshot()
        docker().panel.stop.click()  # it reads Cancel while live
        self.go("wait_cancelled")

    def wait_cancelled(self):
        if not self.idle():
            return
        report["after_cancel"] = self.snapshot(panel=self.panel_since())
        save("live_source_end.bgra", layer_bytes(self.document, self.source))
        note("done")
        finish()


def widgets():
    """What the docker's Live controls show."""
    panel = docker().panel
    return {"live_checked": panel.live.isChecked(), "live_text": panel.live.text(), "stop_text": panel.stop.text(),
            "commit_enabled": panel.commit.isEnabled(), "drag_enabled": panel.drag.isEnabled()}


def time_frames(live):
    """Wraps the running live drag's hand-over points to time each frame on the docker's side: from the job
    handing it over (its thread) to the UI thread drawing it, and the drawing itself. Returns a summary function."""
    handed, drawn = [], []
    channel, show = live.channel, live._show_progress

    def reported():
        handed.append(time.monotonic())
        type(channel).reported(channel)

    def show_progress(canvas, start, item):
        began = time.monotonic()
        show(canvas, start, item)
        drawn.append((began, time.monotonic()))

    channel.reported, live._show_progress = reported, show_progress

    def summary():
        # the last frame handed over may still be on its way to the UI thread
        waits = sorted(1000 * (began - at) for at, (began, _) in zip(handed, drawn, strict=False))
        draws = sorted(1000 * (end - began) for began, end in drawn)
        middle = len(waits) // 2
        return {"frames": len(drawn), "queue_ms_median": round(waits[middle], 1), "queue_ms_max": round(waits[-1], 1),
                "draw_ms_median": round(draws[middle], 1), "draw_ms_max": round(draws[-1], 1)}

    return summary
