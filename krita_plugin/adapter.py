"""Every Krita API call of the plugin, in one place: documents, layers, pixels, the selection, vector shapes,
settings, the docker and the actions. The rest of the plugin is plain Python (controller.py) that unit tests
drive with a fake of `KritaWorkspace` / `KritaCanvas`; the real-Krita end-to-end test exercises this module.

Pixels cross here, converted once: Krita's 8-bit RGBA layers are BGRA in memory, the protocol's images RGBA.
Only imported inside Krita (it imports `krita`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

from krita import Krita
from PyQt5.QtCore import QByteArray, QTimer

from . import depth as depth_of
from . import geometry
from .errors import CanvasError
from .gate import UI

if TYPE_CHECKING:
    from ..protocol.binding import Binding
    from ..protocol.images import Image
    from .ports import LayerId

SETTINGS_GROUP = "dragd"  # the [dragd] group of kritarc: address, daemon_command (the installer writes them)
POINTS_LAYER_NAME = "DragGAN points"  # == controller.POINTS_LAYER_NAME (the controller imports protocol)
PREVIEW_LAYER_NAME = "DragGAN preview"
BINDINGS_ANNOTATION = "dragd-bindings"  # the document annotation holding protocol.binding's map (saved in .kra)
LINE_NAME_PREFIX = "dragd line "  # drag lines are told apart by their shape name, which the plugin gives them
RESTORE_ACTIVE_MS = (0, 150, 600)  # after adding a layer, when the layer the user was on is made active again

# ---- documents -----------------------------------------------------------------------------------------------


class KritaWorkspace:
    """controller.Workspace: the Krita application."""

    def __init__(self, krita: Krita) -> None:
        self.krita = krita

    def active_canvas(self) -> KritaCanvas | None:
        document = self.krita.activeDocument()
        if document is None or document.rootNode() is None:  # none, or one being closed
            return None
        return KritaCanvas(document)

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
        """False once the user closed the document. A closed document stays in Krita's list of documents for a
        while (it is deleted later), and writing to it then crashes Krita; its views go at once, so a document
        counts as open while a view shows it."""
        for window in Krita.instance().windows():
            for view in window.views():
                document = view.document()
                root = document.rootNode() if document is not None else None
                if root is not None and _node_id(root) == self._key:
                    return True
        return False

    def size(self) -> tuple[int, int]:
        return self.document.width(), self.document.height()

    def problem(self) -> str:
        """Why the plugin cannot drag in this document; empty when it can (RGBA at any depth)."""
        model, depth = self.document.colorModel(), self.document.colorDepth()
        if not depth_of.supported(model, depth):
            return (f"DragGAN drags RGB pictures, and this document is {model} {depth}. Convert it with Image > "
                    "Convert Image Color Space to RGB/Alpha (8-bit, 16-bit or float all work), drag, and convert "
                    "back if you need to.")
        return ""

    def _depth(self) -> tuple[str, bool]:
        """The document's channel depth and whether its profile is linear light."""
        return self.document.colorDepth(), depth_of.is_linear(self.document.colorProfile())

    def _write(self, node: object, pixels: Image) -> None:
        """8-bit RGBA pixels (top-left aligned) into a node at the document's depth."""
        from ..protocol.images import swap_red_blue

        depth, linear = self._depth()
        data = swap_red_blue(pixels.tight().data) if depth == "U8" else depth_of.from_8bit(pixels, depth, linear)
        node.setPixelData(data, 0, 0, pixels.width, pixels.height)

    # ---- layers ------------------------------------------------------------------------------------------

    def _nodes(self) -> Iterator[object]:
        root = self.document.rootNode()  # None once Krita deleted the closed document
        stack = list(reversed(root.childNodes())) if root is not None else []
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
        """The layer as the model sees it: 8-bit sRGB RGBA, document-sized (converted from its own depth)."""
        from ..protocol.images import Image, swap_red_blue

        self._check()
        node = self._node(layer)
        if node is None:
            raise CanvasError("That layer is gone from the document.")
        width, height = self.size()
        raw = bytes(node.pixelData(0, 0, width, height))
        depth, linear = self._depth()
        if depth == "U8":
            return Image.rgba(width, height, swap_red_blue(raw))
        return depth_of.to_8bit(raw, width, height, depth, linear)

    def selection(self) -> Image | None:
        from ..protocol.images import Image

        selection = self.document.selection()
        if selection is None or selection.width() <= 0 or selection.height() <= 0:
            return None
        width, height = self.size()
        return Image.mask(width, height, bytes(selection.pixelData(0, 0, width, height)))

    def add_layer(self, name: str, pixels: Image, above: LayerId | None, source: LayerId | None = None,
                  edit: object = None) -> LayerId:
        """A new paint layer holding `pixels` (8-bit, placed at the top-left corner): right above `above` (in
        its group), or, with None, below the points layer (else at the top). With `source` it is a copy of that
        layer (its masks, opacity and blend mode: what a transparency mask hid stays hidden) holding the new
        pixels. In a 16-bit or float document with `source` and `edit` (protocol.blend.Edit), the layer is the
        source at its own precision with the edit's change added, so pixels the drag did not change keep the
        source's exact values."""
        self._check()
        depth, linear = self._depth()
        origin = self._node(source) if source is not None else None
        node = self._new_node(name, above, origin)
        if depth != "U8" and origin is not None and edit is not None:
            width, height = self.size()
            raw = bytes(origin.pixelData(0, 0, width, height))
            node.setPixelData(depth_of.apply_edit(raw, width, depth, linear, edit), 0, 0, width, height)
        else:
            self._write(node, pixels)
        self.document.refreshProjection()
        return _node_id(node)

    def copy_layer(self, layer: LayerId) -> object | None:
        """A copy of the layer outside the document (pixels at their precision, masks, opacity, blend mode), for
        `add_copy`."""
        node = self._node(layer)
        return node.duplicate() if node is not None else None

    def add_copy(self, name: str, copy: object | None, above: LayerId | None) -> LayerId:
        node = self._new_node(name, above, copy)
        self.document.refreshProjection()
        return _node_id(node)

    def _new_node(self, name: str, above: LayerId | None, like: object | None = None) -> object:
        """A paint layer right above `above` (in its group), or, with None, below the points layer: empty, or a
        copy of `like` (a node), which keeps its masks, opacity, blend mode and pixels, as a result must."""
        active = self.document.activeNode()
        if like is not None:
            node = like.duplicate()
            node.setName(name)
        else:
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
            self._restore_active(active, node)  # the user keeps drawing lines; one who selected it goes on up
        return node

    def remove_layer(self, layer: LayerId) -> None:
        node = self._node(layer)
        if node is not None:
            node.remove()
            self.document.waitForDone()  # the layer tree shows the removal before anything reads it again
            self.document.refreshProjection()

    def show_preview(self, pixels: Image, above: LayerId) -> None:
        node = self._named(PREVIEW_LAYER_NAME, "paintlayer")
        if node is None:
            active = self.document.activeNode()
            node = self.document.createNode(PREVIEW_LAYER_NAME, "paintlayer")
            anchor = self._node(above)
            parent = anchor.parentNode() if anchor is not None else self.document.rootNode()
            parent.addChildNode(node, anchor)
            self._restore_active(active, node)
        self._write(node, pixels)
        self.document.refreshProjection()

    def remove_preview(self) -> None:
        """Every preview layer, wherever in the tree (a drag inside a group puts it there)."""
        nodes = [n for n in self._nodes() if n.name() == PREVIEW_LAYER_NAME and n.type() == "paintlayer"]
        for node in nodes:
            node.remove()
        if nodes:
            self.document.refreshProjection()

    def _restore_active(self, node: object | None, added: object | None = None) -> None:
        """Krita makes a new layer (`added`) the active one; the user keeps working where they were (on the lines).
        Krita activates the new layer from a queued signal, which on a loaded machine can come after the event
        loop's next turn: so this activates again a little later while the new layer is still the active one
        (never overriding a layer the user picked meanwhile)."""
        if node is None:
            return
        layer, new = _node_id(node), _node_id(added) if added is not None else None
        for delay in RESTORE_ACTIVE_MS:
            QTimer.singleShot(delay, lambda first=delay == 0: UI.run(lambda: self._activate(layer, new, first)))

    def _activate(self, layer: LayerId, added: LayerId | None = None, first: bool = True) -> None:
        """Make the layer the active one, if it is still there and the active window shows this document; after
        the first time only while Krita still shows `added` as the active layer."""
        node = self._node(layer)
        if node is None or not self._shown():
            return
        active = self.document.activeNode()
        active_id = _node_id(active) if active is not None else None
        if active_id != layer and (first or (added is not None and active_id == added)):
            self.document.setActiveNode(node)

    def _shown(self) -> bool:
        """Whether the active window's active view shows this document. Krita 5.1's Document.setActiveNode hands
        the node to the active view's layer manager whatever the node's document: a node of another document (one
        the user switched away from, or one being closed) trips Krita's asserts ("shape" in kis_node_manager.cpp,
        "dummy" in kis_dummies_facade_base.cpp) and then crashes it. So an activation elsewhere is dropped."""
        window = Krita.instance().activeWindow()
        view = window.activeView() if window is not None else None
        document = view.document() if view is not None else None
        root = document.rootNode() if document is not None else None
        return root is not None and _node_id(root) == self._key

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
        # Later, like _restore_active: activated at once, a just-added layer is not yet known to Krita's layer
        # manager (SAFE ASSERT "shape", kis_node_manager.cpp:165, seen in every real-Krita run before).
        self._restore_active(layer)

    def _line_shapes(self) -> list[tuple[str, object, str, list[geometry.Point]]]:
        """(line id, shape, its SVG, its nodes in pixels) for every path of two or more nodes on the points
        layer. A line's id is its shape's name; lines without one (just drawn) are given a fresh one, so a line
        keeps its identity whatever Krita does to the order of the shapes."""
        layer = self.points_layer()
        if layer is None:
            return []
        x_res, y_res = self.document.xRes(), self.document.yRes()
        paths = [(shape, shape.name(), shape.toSvg()) for shape in layer.shapes() if shape.type() == "KoPathShape"]
        stale = _stale_shapes(paths, _replaced.setdefault(self._key, {}))
        lines, seen = [], set()
        for index, (shape, name, svg) in enumerate(paths):
            if index in stale:
                continue  # a shape move_handles removed, still listed beside its replacement: not a line
            try:
                nodes = geometry.shape_nodes_in_pixels(svg, x_res, y_res)
            except geometry.SvgError:
                continue  # not a line we can read: not a drag line
            if len(nodes) < 2:
                continue
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
            if tuple(handles[name]) == tuple(nodes[0]):
                continue  # not moved: nothing to redraw
            replacement = geometry.line_svg([tuple(handles[name]), *nodes[1:]], width, height, x_res, y_res,
                                            geometry.shape_style(svg))
            z = shape.zIndex()
            shape.remove()  # Krita may list the removed shape a moment longer: _line_shapes then skips it
            removed = _replaced.setdefault(self._key, {}).setdefault(name, [])
            removed[:] = [*removed[-7:], svg]
            for added in layer.addShapesFromSvg(replacement) or []:
                added.setName(name)
                added.setZIndex(z)


# ---- small helpers -------------------------------------------------------------------------------------------

_bindings_cache: dict[str, tuple[bytes, dict]] = {}  # document key -> (annotation bytes, their bindings)
_replaced: dict[str, dict[str, list[str]]] = {}  # document key -> line name -> SVGs of its last removed shapes


def _stale_shapes(paths: list[tuple[object, str, str]], replaced: dict[str, list[str]]) -> set[int]:
    """Indexes of `paths` ((shape, name, SVG)) that are shapes move_handles removed but Krita still lists: a
    shape sharing its name with others and holding an SVG removed under that name. Of a name whose shapes all
    look removed, the last listed (the newest) is kept."""
    stale = set()
    for name in {name for _, name, _ in paths}:
        same = [i for i, (_, n, _) in enumerate(paths) if n == name]
        if len(same) < 2:
            continue
        old = [i for i in same if paths[i][2] in replaced.get(name, [])]
        stale.update(old if len(old) < len(same) else old[:-1])
    return stale


def _node_id(node: object) -> str:
    return node.uniqueId().toString()

