"""Every Krita API call of the plugin, in one place: documents, layers, pixels, the selection, vector shapes,
settings, the docker and the actions. The rest of the plugin is plain Python (controller.py) that unit tests
drive with a fake of `KritaWorkspace` / `KritaCanvas`; the real-Krita end-to-end test exercises this module.

Pixels cross here, converted once: Krita's 8-bit RGBA layers are BGRA in memory, the protocol's images RGBA.
Only imported inside Krita (it imports `krita`).
"""

from __future__ import annotations

import uuid
import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING

from krita import DockWidget, DockWidgetFactory, DockWidgetFactoryBase, Extension, Krita
from PyQt5.QtCore import QByteArray, QTimer
from PyQt5.QtWidgets import QScrollArea

from . import geometry
from .dependencies import missing_dependencies
from .errors import CanvasError
from .panel import DragPanel

if TYPE_CHECKING:
    from ..protocol.binding import Binding
    from ..protocol.images import Image
    from .controller import DragController, LayerId

DOCKER_ID = "dragd_docker"
SETTINGS_GROUP = "dragd"  # the [dragd] group of kritarc: address, daemon_command (the installer writes them)
POINTS_LAYER_NAME = "DragGAN points"  # == controller.POINTS_LAYER_NAME (the controller imports protocol)
PREVIEW_LAYER_NAME = "DragGAN preview"
BINDINGS_ANNOTATION = "dragd-bindings"  # the document annotation holding protocol.binding's map (saved in .kra)
LINE_NAME_PREFIX = "dragd line "  # drag lines are told apart by their shape name, which the plugin gives them
POLL_POINTS_MS = 1000
HEARTBEAT_MS = 15000  # the daemon frees the sessions of a client silent for a minute (dragd serve default)

# Menu actions (Tools > Scripts > DragGAN); ids match krita_plugin/actions/dragd_krita.action.
ACTIONS = {
    "dragd_new_from_model": "DragGAN: New from model",
    "dragd_add_points_layer": "DragGAN: Add points layer",
    "dragd_drag": "DragGAN: Drag",
    "dragd_stop": "DragGAN: Stop drag",
    "dragd_undo": "DragGAN: Undo drag",
    "dragd_redo": "DragGAN: Redo drag",
    "dragd_reconnect": "DragGAN: Reconnect to the daemon",
}


# ---- documents -----------------------------------------------------------------------------------------------


class KritaWorkspace:
    """controller.Workspace: the Krita application."""

    def __init__(self, krita: Krita) -> None:
        self.krita = krita

    def active_canvas(self) -> KritaCanvas | None:
        document = self.krita.activeDocument()
        return KritaCanvas(document) if document is not None else None

    def new_canvas(self, width: int, height: int, name: str) -> KritaCanvas:
        # 72 dpi: one point is one pixel, so Krita's rulers and the drag lines agree.
        document = self.krita.createDocument(width, height, name, "RGBA", "U8", "", 72.0)
        window = self.krita.activeWindow()
        if window is not None:
            window.addView(document)
        return KritaCanvas(document)

    def setting(self, name: str, default: str = "") -> str:
        return self.krita.readSetting(SETTINGS_GROUP, name, default)


class KritaCanvas:
    """controller.Canvas: one open document. Layers are named by their uniqueId (text)."""

    def __init__(self, document: object) -> None:
        self.document = document
        self._key = _node_id(document.rootNode())

    def key(self) -> str:
        return self._key

    def is_open(self) -> bool:
        """False once the user closed the document (its Python wrapper then answers with None)."""
        for document in Krita.instance().documents():
            root = document.rootNode()
            if root is not None and _node_id(root) == self._key:
                return True
        return False

    def size(self) -> tuple[int, int]:
        return self.document.width(), self.document.height()

    def problem(self) -> str:
        """Why the plugin cannot write layers into this document; empty when it can."""
        model, depth = self.document.colorModel(), self.document.colorDepth()
        if (model, depth) != ("RGBA", "U8"):
            return (f"DragGAN works on 8-bit RGBA documents, and this one is {model} {depth}. Convert it with "
                    "Image > Convert Image Color Space (RGB/Alpha, 8-bit integer), or use a new document.")
        return ""

    # ---- layers ------------------------------------------------------------------------------------------

    def _nodes(self) -> Iterator[object]:
        stack = list(reversed(self.document.rootNode().childNodes()))
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node.childNodes()))

    def _node(self, layer: LayerId) -> object | None:
        return next((node for node in self._nodes() if _node_id(node) == layer), None)

    def _named(self, name: str, node_type: str) -> object | None:
        """The first node of that name and type anywhere in the tree (the user may move it into a group)."""
        return next((n for n in self._nodes() if n.name() == name and n.type() == node_type), None)

    def active_layer(self) -> tuple[LayerId, str, str] | None:
        node = self.document.activeNode()
        return (_node_id(node), node.name(), node.type()) if node is not None else None

    def layer_below_points(self) -> tuple[LayerId, str, str] | None:
        """The layer right below the points layer among its siblings (the topmost layer inside it when that
        is a group), skipping the preview and masks: the picture the lines are drawn on."""
        points = self.points_layer()
        if points is None:
            return None
        siblings = points.parentNode().childNodes()
        below = [n for n in siblings[:siblings.index(points)] if n.name() != PREVIEW_LAYER_NAME
                 and not n.type().endswith("mask")]
        node = below[-1] if below else None
        while node is not None and node.type() == "grouplayer":
            inside = [n for n in node.childNodes() if not n.type().endswith("mask")]
            node = inside[-1] if inside else None
        return (_node_id(node), node.name(), node.type()) if node is not None else None

    def layer_under(self, layer: LayerId) -> LayerId | None:
        node = self._node(layer)
        if node is None:
            return None
        siblings = node.parentNode().childNodes()
        ids = [_node_id(n) for n in siblings]
        below = [n for n in siblings[:ids.index(layer)] if not n.type().endswith("mask")]
        return _node_id(below[-1]) if below else None

    def layer_name(self, layer: LayerId) -> str | None:
        node = self._node(layer)
        return None if node is None else node.name()

    # ---- bindings (protocol.binding), kept in one document annotation ------------------------------------

    def bindings(self) -> dict[LayerId, Binding]:
        from ..protocol.binding import BindingError, decode_bindings

        data = bytes(self.document.annotation(BINDINGS_ANNOTATION))
        if not data:
            return {}
        cached = _bindings_cache.get(self._key)
        if cached is not None and cached[0] == data:
            return dict(cached[1])
        try:
            found = decode_bindings(data)
        except BindingError:
            found = {}
        _bindings_cache[self._key] = (data, found)
        return dict(found)

    def set_binding(self, layer: LayerId, binding: Binding | None) -> None:
        from ..protocol.binding import encode_bindings

        bindings = self.bindings()
        bindings.pop(layer, None)  # re-inserted last: the newest survive the cap
        if binding is not None:
            bindings[layer] = binding
        self.document.setAnnotation(BINDINGS_ANNOTATION, "dragd: the DragGAN state of layers",
                                    QByteArray(encode_bindings(bindings)))

    def layer_digest(self, layer: LayerId) -> str:
        from ..protocol.binding import pixels_digest

        node = self._node(layer)
        if node is None:
            return ""
        width, height = self.size()
        data = bytes(node.pixelData(0, 0, width, height))
        return pixels_digest(data, width, height, f"{node.colorModel()} {node.colorDepth()}")

    def layer_exists(self, layer: LayerId) -> bool:
        return self._node(layer) is not None

    def layer_names(self) -> list[str]:
        return [node.name() for node in self._nodes()]

    def layer_pixels(self, layer: LayerId) -> Image:
        from ..protocol.images import Image, swap_red_blue

        self._check()
        node = self._node(layer)
        if node is None:
            raise CanvasError("That layer is gone from the document.")
        width, height = self.size()
        return Image.rgba(width, height, swap_red_blue(bytes(node.pixelData(0, 0, width, height))))

    def selection(self) -> Image | None:
        from ..protocol.images import Image

        selection = self.document.selection()
        if selection is None or selection.width() <= 0 or selection.height() <= 0:
            return None
        width, height = self.size()
        return Image.mask(width, height, bytes(selection.pixelData(0, 0, width, height)))

    def add_layer(self, name: str, pixels: Image, above: LayerId | None, source: LayerId | None = None,
                  edit: object = None) -> LayerId:
        """A new paint layer holding `pixels` (placed at the top-left corner): right above `above` (in its
        group), or, with None, below the points layer (else at the top)."""
        from ..protocol.images import swap_red_blue

        self._check()
        node = self._new_node(name, above)
        node.setPixelData(swap_red_blue(pixels.tight().data), 0, 0, pixels.width, pixels.height)
        self.document.refreshProjection()
        return _node_id(node)

    def copy_layer(self, layer: LayerId) -> bytes:
        """The layer's pixels at its own precision (document-sized), for `add_copy`."""
        node = self._node(layer)
        width, height = self.size()
        return bytes(node.pixelData(0, 0, width, height)) if node is not None else b""

    def add_copy(self, name: str, copy: bytes, above: LayerId | None) -> LayerId:
        node = self._new_node(name, above)
        width, height = self.size()
        node.setPixelData(copy, 0, 0, width, height)
        self.document.refreshProjection()
        return _node_id(node)

    def _new_node(self, name: str, above: LayerId | None) -> object:
        """An empty paint layer right above `above` (in its group), or, with None, below the points layer."""
        active = self.document.activeNode()
        node = self.document.createNode(name, "paintlayer")
        anchor = self._node(above) if above is not None else None
        if anchor is not None:
            anchor.parentNode().addChildNode(node, anchor)
        else:
            root = self.document.rootNode()
            children = root.childNodes()
            ids = [_node_id(child) for child in children]
            points = self.points_layer()
            at = ids.index(_node_id(points)) if points is not None and _node_id(points) in ids else len(children)
            root.addChildNode(node, children[at - 1] if at > 0 else None)
        if active is None or above is None or _node_id(active) != above:
            self._restore_active(active)  # the user keeps drawing lines; one who selected the layer goes on up
        return node

    def remove_layer(self, layer: LayerId) -> None:
        node = self._node(layer)
        if node is not None:
            node.remove()
            self.document.refreshProjection()

    def show_preview(self, pixels: Image, above: LayerId) -> None:
        from ..protocol.images import swap_red_blue

        node = self._named(PREVIEW_LAYER_NAME, "paintlayer")
        if node is None:
            active = self.document.activeNode()
            node = self.document.createNode(PREVIEW_LAYER_NAME, "paintlayer")
            anchor = self._node(above)
            parent = anchor.parentNode() if anchor is not None else self.document.rootNode()
            parent.addChildNode(node, anchor)
            self._restore_active(active)
        node.setPixelData(swap_red_blue(pixels.tight().data), 0, 0, pixels.width, pixels.height)
        self.document.refreshProjection()

    def remove_preview(self) -> None:
        """Every preview layer, wherever in the tree (a drag inside a group puts it there)."""
        nodes = [n for n in self._nodes() if n.name() == PREVIEW_LAYER_NAME and n.type() == "paintlayer"]
        for node in nodes:
            node.remove()
        if nodes:
            self.document.refreshProjection()

    def _restore_active(self, node: object | None) -> None:
        """Krita makes a new layer the active one; the user keeps working where they were (on the lines).
        Krita activates the new layer from a queued signal, so this waits for the event loop to deliver it."""
        if node is None:
            return
        layer = _node_id(node)

        def restore() -> None:
            if self._node(layer) is not None:
                self.document.setActiveNode(node)

        QTimer.singleShot(0, restore)

    def _check(self) -> None:
        problem = self.problem()
        if problem:
            raise CanvasError(problem)

    # ---- the drag lines ----------------------------------------------------------------------------------

    def points_layer(self) -> object | None:
        return self._named(POINTS_LAYER_NAME, "vectorlayer")

    def has_points_layer(self) -> bool:
        return self.points_layer() is not None

    def ensure_points_layer(self) -> None:
        layer = self.points_layer()
        if layer is None:
            layer = self.document.createVectorLayer(POINTS_LAYER_NAME)
            children = self.document.rootNode().childNodes()
            self.document.rootNode().addChildNode(layer, children[-1] if children else None)
        self.document.setActiveNode(layer)

    def _line_shapes(self) -> list[tuple[str, object, str, list[geometry.Point]]]:
        """(line id, shape, its SVG, its nodes in pixels) for every path of two or more nodes on the points
        layer. A line's id is its shape's name; lines without one (just drawn) are given a fresh one, so a line
        keeps its identity whatever Krita does to the order of the shapes."""
        layer = self.points_layer()
        if layer is None:
            return []
        x_res, y_res = self.document.xRes(), self.document.yRes()
        lines, seen = [], set()
        for shape in layer.shapes():
            if shape.type() != "KoPathShape":
                continue
            svg = shape.toSvg()
            try:
                nodes = geometry.shape_nodes_in_pixels(svg, x_res, y_res)
            except geometry.SvgError:
                continue  # not a line we can read: not a drag line
            if len(nodes) < 2:
                continue
            name = shape.name()
            if not name.startswith(LINE_NAME_PREFIX) or name in seen:  # new, or a copy of another line
                name = f"{LINE_NAME_PREFIX}{uuid.uuid4().hex[:12]}"
                shape.setName(name)
            seen.add(name)
            lines.append((name, shape, svg, nodes))
        return lines

    def point_lines(self) -> list[tuple[str, list[geometry.Point]]]:
        return [(name, nodes) for name, _, _, nodes in self._line_shapes()]

    def move_handles(self, handles: dict[str, geometry.Point]) -> None:
        """Redraw the named drag lines with their first node at the new handle position (the target stays);
        each redrawn line keeps its name, so the next update finds it. Lines not named are left alone."""
        layer = self.points_layer()
        if layer is None:
            return
        width, height = self.size()
        x_res, y_res = self.document.xRes(), self.document.yRes()
        for name, shape, svg, nodes in self._line_shapes():
            if name not in handles:
                continue
            replacement = geometry.line_svg([tuple(handles[name]), *nodes[1:]], width, height, x_res, y_res,
                                            geometry.shape_style(svg))
            z = shape.zIndex()
            shape.remove()
            for added in layer.addShapesFromSvg(replacement) or []:
                added.setName(name)
                added.setZIndex(z)


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
        from .runner import QtRunner

        self.controller = DragController(KritaWorkspace(Krita.instance()), self.panel, QtRunner())
        self.panel.attach(self.controller)
        self._points_timer = QTimer(self)
        self._points_timer.timeout.connect(self.controller.poll)
        self._points_timer.start(POLL_POINTS_MS)
        self._heartbeat_timer = QTimer(self)
        self._heartbeat_timer.timeout.connect(self.controller.heartbeat)
        self._heartbeat_timer.start(HEARTBEAT_MS)
        self.destroyed.connect(self.controller.close)
        QTimer.singleShot(0, self.controller.connect)

    def canvasChanged(self, canvas: object) -> None:  # noqa: N802 - Krita's name
        if self.controller is not None:
            self.controller.refresh_points()


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
            "dragd_drag": lambda c, p: c.drag(p.drag_options()),
            "dragd_stop": lambda c, p: c.stop(),
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
    handler(docker.controller, docker.panel)


def register() -> None:
    """Called once by the plugin's entry package when Krita loads it."""
    krita = Krita.instance()
    krita.addExtension(DragGANExtension(krita))
    krita.addDockWidgetFactory(DockWidgetFactory(DOCKER_ID, DockWidgetFactoryBase.DockRight, DragGANDocker))


# ---- small helpers -------------------------------------------------------------------------------------------

_bindings_cache: dict[str, tuple[bytes, dict]] = {}  # document key -> (annotation bytes, their bindings)


def _node_id(node: object) -> str:
    return node.uniqueId().toString()

