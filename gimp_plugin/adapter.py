"""The dragd plug-in's calls into GIMP 3 on images and layers (Gimp, Gegl); the procedures, their dialogs and
return values are in `procedures.py`.

The rest of the plug-in (`drag.py`) is plain Python that talks to `Document` and `Feedback` objects; this module
provides the GIMP versions of both and writes results. Nothing here decides anything about dragging.

GIMP facts this module relies on (seen in GIMP 3.0.4):
- pixels are read as "R'G'B'A u8" through the drawable's GeglBuffer, whatever the image's mode and precision
  (GEGL converts greyscale, indexed, 16-bit and float, clipping HDR values); the selection as "Y u8", soft;
- a result is a copy of the source layer (`Gimp.Layer.copy`: its mask, offsets, opacity, blend mode,
  precision and type come along) inserted above it in the same group, and only the pixels the drag changed
  are rewritten, as "R'G'B'A float" (GEGL converts back to the layer's own format: an indexed layer maps to
  its palette, a greyscale one to grey);
- path anchors are in image coordinates with the origin at the top-left corner of the top-left pixel;
- a plug-in procedure runs in a fresh process each time, so anything that must outlive a call (the daemon
  state of a layer) is kept in a parasite on the layer, which the .xcf saves.
"""

from __future__ import annotations

import dataclasses
from array import array
from typing import TYPE_CHECKING

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("Gegl", "0.4")
from gi.repository import Gegl, Gimp  # noqa: E402 - gi.require_version must come first

if TYPE_CHECKING:  # the protocol package imports zmq: only import it at run time, after the dependency check
    from ..protocol.binding import Binding
    from ..protocol.blend import Edit
    from ..protocol.images import Image

BINDING_PARASITE = "dragd-binding"  # protocol.binding's JSON: the daemon state a layer shows
RGBA_FORMAT = "R'G'B'A u8"
FLOAT_FORMAT = "R'G'B'A float"  # straight, non-linear: what protocol.blend adds a drag's change to
MASK_FORMAT = "Y u8"


# ---- the document: one image and the layer the user works on ------------------------------------------------


class GimpDocument:
    """The image and layer a procedure runs on, seen through the small interface `drag.Document` names."""

    def __init__(self, image: Gimp.Image, layer: Gimp.Drawable) -> None:
        self.image = image
        self.layer = layer

    @property
    def width(self) -> int:
        return self.layer.get_width()

    @property
    def height(self) -> int:
        return self.layer.get_height()

    @property
    def offsets(self) -> tuple[int, int]:
        _, x, y = self.layer.get_offsets()
        return x, y

    def pixels(self) -> Image:
        """The layer's pixels as straight RGBA bytes (layers without alpha read as opaque)."""
        from ..protocol.images import Image

        rect = Gegl.Rectangle.new(0, 0, self.width, self.height)
        data = self.layer.get_buffer().get(rect, 1.0, RGBA_FORMAT, Gegl.AbyssPolicy.CLAMP)
        return Image.rgba(self.width, self.height, bytes(data))

    def selection(self) -> Image | None:
        """The selection over the layer's area as an L mask the layer's size; None when nothing is selected."""
        from ..protocol.images import Image

        if Gimp.Selection.is_empty(self.image):
            return None
        x, y = self.offsets
        rect = Gegl.Rectangle.new(x, y, self.width, self.height)
        buffer = self.image.get_selection().get_buffer()
        data = buffer.get(rect, 1.0, MASK_FORMAT, Gegl.AbyssPolicy.NONE)  # outside the image: not selected
        return Image.mask(self.width, self.height, bytes(data))

    def paths(self) -> list[tuple[str, bool, list[list[tuple[float, float]]]]]:
        """Every path of the image: (name, selected?, the anchors of each stroke in image coordinates)."""
        selected = {p.get_id() for p in self.image.get_selected_paths()}
        found = []
        for path in self.image.get_paths():
            strokes = []
            for stroke_id in path.get_strokes():
                _, points, _closed = path.stroke_get_points(stroke_id)
                # Bezier control points come in threes: in-handle, anchor, out-handle; keep the anchors.
                strokes.append([(points[i + 2], points[i + 3]) for i in range(0, len(points) - 5, 6)])
            found.append((path.get_name(), path.get_id() in selected, strokes))
        return found

    def layer_names(self) -> list[str]:
        """Every layer's name in the image, inside groups too."""
        names, todo = [], list(self.image.get_layers())
        while todo:
            layer = todo.pop()
            names.append(layer.get_name())
            if layer.is_group():
                todo.extend(layer.get_children())
        return names

    def binding(self) -> bytes | None:
        parasite = self.layer.get_parasite(BINDING_PARASITE)
        return None if parasite is None else bytes(parasite.get_data())

    def add_result(self, name: str, edit: Edit, binding: Binding, path_name: str,
                   strokes: list[list[tuple[float, float]]]) -> tuple[Gimp.Layer, Gimp.Path]:
        """Adds, in ONE undo group, a copy of the source layer with `edit` applied, right above the source in
        its group, and a path of `strokes` (image coordinates). The source layer is only read, never written."""
        self.image.undo_group_start()
        try:
            layer = self.layer.copy()
            layer.set_name(name)
            write_edit(layer, edit)
            self.image.insert_layer(layer, self.layer.get_parent(), self.image.get_item_position(self.layer))
            attach_binding(layer, binding)
            path = Gimp.Path.new(self.image, path_name)
            self.image.insert_path(path, None, 0)
            for stroke in strokes:
                points: list[float] = []
                for x, y in stroke:
                    points += [x, y, x, y, x, y]  # corner anchors: both handles on the anchor
                path.stroke_new_from_points(Gimp.PathStrokeType.BEZIER, points, False)
            path.set_visible(True)
            self.image.set_selected_layers([layer])
        finally:
            self.image.undo_group_end()
        Gimp.displays_flush()
        return layer, path


def unsupported_drawable(drawable: Gimp.Drawable) -> str | None:
    """Why DragGAN cannot drag this drawable, in words with the fix; None when it can."""
    if isinstance(drawable, Gimp.LayerMask):
        return ("The layer mask is active, not the layer: click the layer's thumbnail in the Layers dialog (left "
                "of the mask's), then drag again. The result keeps the mask.")
    if not isinstance(drawable, Gimp.Layer):
        return "DragGAN drags a layer; a channel or path cannot be dragged. Select a layer."
    if drawable.is_group():
        return ("This is a layer group. DragGAN drags the pixels of one layer: select a layer inside the group, "
                "or make one of the group's look with Layer > New from Visible.")
    if drawable.is_text_layer():
        return ("This is a text layer: its pixels are drawn from its text, so a drag would be lost the moment the "
                "text is edited. Duplicate it, turn the copy into pixels (Layer > Discard Text Information), "
                "then drag the copy.")
    if drawable.is_floating_sel():
        return "This is a floating selection: anchor it (Layer > Anchor Layer) or make it a new layer, then drag."
    return None


def write_edit(layer: Gimp.Layer, edit: Edit) -> None:
    """Adds `edit`'s change to the pixels it touches, at the layer's own precision; every other pixel is
    left exactly as it is (protocol.blend)."""
    buffer = layer.get_buffer()
    for run in edit.runs():
        rect = Gegl.Rectangle.new(run.x, run.y, run.width, 1)
        old = array("f", bytes(buffer.get(rect, 1.0, FLOAT_FORMAT, Gegl.AbyssPolicy.NONE)))
        buffer.set(rect, FLOAT_FORMAT, array("f", run.applied(old)).tobytes())
    buffer.flush()
    layer.update(edit.x, edit.y, edit.width, edit.height)


def rgba_u8(drawable: Gimp.Drawable) -> bytes:
    rect = Gegl.Rectangle.new(0, 0, drawable.get_width(), drawable.get_height())
    return bytes(drawable.get_buffer().get(rect, 1.0, RGBA_FORMAT, Gegl.AbyssPolicy.CLAMP))


def attach_binding(layer: Gimp.Layer, binding: Binding) -> None:
    """Stores `binding` on the layer (saved with the .xcf), its digest taken of the pixels the layer now holds
    (for an indexed or greyscale layer, what GIMP made of the written colours)."""
    from ..protocol.binding import encode, pixels_digest

    digest = pixels_digest(rgba_u8(layer), layer.get_width(), layer.get_height(), "RGBA U8")
    data = encode(dataclasses.replace(binding, pixels=digest))
    layer.attach_parasite(Gimp.Parasite.new(BINDING_PARASITE, Gimp.PARASITE_PERSISTENT, data))


def new_layer(image: Gimp.Image, name: str, pixels: Image, binding: Binding | None) -> Gimp.Layer:
    """A new layer (not yet inserted) of the image's own mode and precision holding `pixels`."""
    kind = {Gimp.ImageBaseType.GRAY: Gimp.ImageType.GRAYA_IMAGE,
            Gimp.ImageBaseType.INDEXED: Gimp.ImageType.INDEXEDA_IMAGE}.get(image.get_base_type(),
                                                                           Gimp.ImageType.RGBA_IMAGE)
    layer = Gimp.Layer.new(image, name, pixels.width, pixels.height, kind, 100.0, Gimp.LayerMode.NORMAL)
    buffer = layer.get_buffer()
    buffer.set(Gegl.Rectangle.new(0, 0, pixels.width, pixels.height), RGBA_FORMAT, pixels.tight().data)
    buffer.flush()
    layer.update(0, 0, pixels.width, pixels.height)
    if binding is not None:
        attach_binding(layer, binding)
    return layer


def new_image_with_layer(name: str, pixels: Image, binding: Binding | None,
                         image: Gimp.Image | None) -> tuple[Gimp.Image, Gimp.Layer]:
    """Adds `pixels` as a new top layer of `image`, or of a new RGB image of its size when `image` is None."""
    created = image is None
    if image is None:
        image = Gimp.Image.new(pixels.width, pixels.height, Gimp.ImageBaseType.RGB)
    else:
        image.undo_group_start()
    try:
        layer = new_layer(image, name, pixels, binding)
        image.insert_layer(layer, None, 0)
    finally:
        if not created:
            image.undo_group_end()
    if created:
        image.clean_all()  # a fresh image is not "modified"
    Gimp.displays_flush()
    return image, layer


# ---- feedback: GIMP's progress bar and messages -------------------------------------------------------------


class GimpFeedback:
    """`drag.Feedback` on GIMP's own progress bar. Call only from the plug-in's main thread."""

    def __init__(self) -> None:
        self._started = False

    def progress(self, fraction: float, text: str) -> None:
        if not self._started:
            Gimp.progress_init(text)
            self._started = True
        else:
            Gimp.progress_set_text(text)
        Gimp.progress_update(min(max(fraction, 0.0), 1.0))

    def preview(self, pixels: Image) -> None:  # the progress bar has nowhere to show a picture
        pass

    def done(self) -> None:
        if self._started:
            Gimp.progress_end()


def show_message(text: str) -> None:
    Gimp.message(text)
