"""The DragGAN docker and the menu actions: Krita's widgets around the panel and its controller.

`register()` (called by the plugin's entry package) adds the docker factory and the actions (Tools > Scripts >
DragGAN); each action drives the docker of the active window, as its buttons do.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

from krita import DockWidget, DockWidgetFactory, DockWidgetFactoryBase, Extension, Krita
from PyQt5.QtCore import QTimer
from PyQt5.QtWidgets import QScrollArea

from .adapter import KritaWorkspace
from .dependencies import missing_dependencies
from .gate import UI
from .panel import DragPanel

if TYPE_CHECKING:
    from .controller import DragController

DOCKER_ID = "dragd_docker"
POLL_MS = 1000  # lines, the layer Drag would edit, a document closed mid-drag
HEARTBEAT_MS = 15000  # the daemon frees the sessions of a client silent for a minute (dragd serve default)

# Menu actions (Tools > Scripts > DragGAN); ids match krita_plugin/actions/dragd_krita.action.
ACTIONS = {
    "dragd_new_from_model": "DragGAN: New from model",
    "dragd_add_points_layer": "DragGAN: Add points layer",
    "dragd_drag": "DragGAN: Drag",
    "dragd_stop": "DragGAN: Stop drag",
    "dragd_live": "DragGAN: Live drag on/off",
    "dragd_commit": "DragGAN: Commit the live drag",
    "dragd_undo": "DragGAN: Undo drag",
    "dragd_redo": "DragGAN: Redo drag",
    "dragd_reconnect": "DragGAN: Reconnect to the daemon",
}


# ---- the docker and the actions --------------------------------------------------------------------------------

_dockers: weakref.WeakSet[DragGANDocker] = weakref.WeakSet()


class DragGANDocker(DockWidget):
    """The "DragGAN" docker: the panel, its controller, and the timers that poll points and keep the session."""

    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle("DragGAN")
        self.panel = DragPanel()
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.panel)
        self.setWidget(scroll)
        self.controller: DragController | None = None
        _dockers.add(self)
        problem = missing_dependencies()
        if problem:
            self.panel.show_unavailable(problem)
            return
        from .controller import DragController
        from .live import TICK_MS
        from .runner import QtRunner

        self.controller = DragController(KritaWorkspace(Krita.instance()), self.panel, QtRunner())
        self.panel.attach(self.controller)
        self._poll_timer = QTimer(self)
        self._poll_timer.timeout.connect(lambda: UI.run_unless_busy(self.controller.poll))
        self._poll_timer.start(POLL_MS)
        self._live_timer = QTimer(self)  # reads the lines while Live is on (Krita has no signal for a shape edit)
        self._live_timer.timeout.connect(lambda: UI.run_unless_busy(self.controller.live.tick))
        self._live_timer.start(TICK_MS)
        self._heartbeat_timer = QTimer(self)
        self._heartbeat_timer.timeout.connect(self.controller.heartbeat)
        self._heartbeat_timer.start(HEARTBEAT_MS)
        self.destroyed.connect(self.controller.close)
        QTimer.singleShot(0, self.controller.connect)

    def canvasChanged(self, canvas: object) -> None:  # noqa: N802 - Krita's name
        if self.controller is not None:
            UI.run(self.controller.refresh_points)


def docker_for_active_window() -> DragGANDocker | None:
    """The DragGAN docker of the window in front (each Krita window has its own)."""
    window = Krita.instance().activeWindow()
    front = window.qwindow() if window is not None else None
    candidates = [d for d in list(_dockers) if d.controller is not None]
    for docker in candidates:
        if front is not None and docker.window() is front:
            return docker
    return candidates[0] if candidates else None


class DragGANExtension(Extension):
    """The menu actions; each drives the docker of the active window, as its buttons do."""

    def setup(self) -> None:
        pass

    def createActions(self, window: object) -> None:  # noqa: N802 - Krita's name
        handlers = {
            "dragd_new_from_model": lambda c, p: c.new_from_model(p.generate_request()),
            "dragd_add_points_layer": lambda c, p: c.add_points_layer(),
            "dragd_drag": lambda c, p: c.drag(p.drag_options(), p.inversion_options()),  # as the Drag button
            "dragd_stop": lambda c, p: c.stop(),
            "dragd_live": lambda c, p: c.live.commit() if c.live.active else c.live.start(p.drag_options(),
                                                                                            p.inversion_options()),
            "dragd_commit": lambda c, p: c.live.commit(),
            "dragd_undo": lambda c, p: c.undo(),
            "dragd_redo": lambda c, p: c.redo(),
            "dragd_reconnect": lambda c, p: c.connect(),
        }
        for action_id, text in ACTIONS.items():
            action = window.createAction(action_id, text, "tools/scripts/dragd")
            action.triggered.connect(lambda _checked=False, h=handlers[action_id]: _run_on_docker(h))


def _run_on_docker(handler: object) -> None:
    docker = docker_for_active_window()
    if docker is None or docker.controller is None:
        return  # no docker (closed, or it explains a missing dependency)
    UI.run(lambda: handler(docker.controller, docker.panel))


def register() -> None:
    """Called once by the plugin's entry package when Krita loads it."""
    krita = Krita.instance()
    krita.addExtension(DragGANExtension(krita))
    krita.addDockWidgetFactory(DockWidgetFactory(DOCKER_ID, DockWidgetFactoryBase.DockRight, DragGANDocker))


