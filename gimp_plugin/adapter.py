"""Every call into GIMP 3 (Gimp, Gegl, GimpUi, Gtk) that the dragd plug-in makes lives in this module.

The rest of the plug-in (`drag.py`) is plain Python that talks to `Document` and `Feedback` objects; this module
provides the GIMP versions of both, registers the two procedures, shows the dialogs and turns the outcome into a
procedure return value. Nothing here decides anything about dragging.

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
import sys
import threading
from array import array
from typing import TYPE_CHECKING

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("Gegl", "0.4")
from gi.repository import Gegl, Gimp, GLib, GObject  # noqa: E402 - gi.require_version must come first

if TYPE_CHECKING:  # the protocol package imports zmq: only import it at run time, after the dependency check
    from ..protocol.binding import Binding
    from ..protocol.blend import Edit
    from ..protocol.images import Image

DRAG_PROCEDURE = "dragd-drag"
NEW_PROCEDURE = "dragd-new-from-model"
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


# ---- procedures ---------------------------------------------------------------------------------------------


def _error(procedure: Gimp.Procedure, text: str) -> Gimp.ValueArray:
    """The failed-procedure reply: GIMP shows `text` to the user (a batch caller gets it as the error)."""
    return procedure.new_return_values(Gimp.PDBStatusType.EXECUTION_ERROR, GLib.Error(text))


def _cancelled(procedure: Gimp.Procedure) -> Gimp.ValueArray:
    return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, GLib.Error())


def _common_options(procedure: Gimp.Procedure) -> None:
    flags = GObject.ParamFlags.READWRITE
    procedure.add_string_argument("model", "_Model", "Model name; empty: the layer's own model, else the "
                                  "daemon's default", "", flags)
    procedure.add_string_argument("address", "Daemon _address", "ZeroMQ address of dragd; empty: $DRAGD_ADDRESS, "
                                  "else the address in the plug-in's settings file (GIMP profile/dragd.ini), "
                                  "else tcp://127.0.0.1:5557", "", flags)


def _settings_file() -> str:
    from .settings import settings_path

    return str(settings_path(Gimp.directory()))


def _drag_run(procedure, run_mode, image, drawables, config, data):  # noqa: ANN001 - GIMP's callback signature
    try:
        return _drag(procedure, run_mode, image, drawables, config)
    except Exception as exc:  # noqa: BLE001 - the last line of defence: a message, never a traceback
        return _error(procedure, f"DragGAN drag failed unexpectedly: {exc!r}")


def _drag(procedure, run_mode, image, drawables, config):  # noqa: ANN001
    from .options import DragSettings, missing_dependencies

    missing = missing_dependencies()
    if missing:
        return _error(procedure, missing)
    if len(drawables) != 1:
        return _error(procedure, f"DragGAN drag works on one layer, and {len(drawables)} are selected: select "
                                 "exactly one layer.")
    unsupported = unsupported_drawable(drawables[0])
    if unsupported:
        return _error(procedure, unsupported)
    if run_mode == Gimp.RunMode.INTERACTIVE and not _options_dialog(procedure, config, "DragGAN drag", [
            "model", "step-size", "max-steps", "latent-space", "mask-strength"]):
        return _cancelled(procedure)
    settings = DragSettings(
        model=config.get_property("model"), step_size=config.get_property("step-size"),
        max_steps=config.get_property("max-steps"), latent_space=config.get_property("latent-space"),
        mask_strength=config.get_property("mask-strength"), address=config.get_property("address"),
        settings_file=_settings_file(),
    )
    from . import drag

    document = GimpDocument(image, drawables[0])
    if run_mode == Gimp.RunMode.INTERACTIVE:
        outcome = _run_with_live_preview(lambda feedback, cancel: drag.drag_layer(
            document, settings, feedback, cancel, preview_every=drag.PREVIEW_EVERY))
    else:
        feedback = GimpFeedback()
        try:
            outcome = drag.drag_layer(document, settings, feedback, threading.Event())
        finally:
            feedback.done()
    if outcome.cancelled:
        return _cancelled(procedure)
    if outcome.error:
        return _error(procedure, outcome.error)
    assert outcome.edit is not None and outcome.binding is not None, "a finished drag has a result"
    layer, path = document.add_result(outcome.layer_name, outcome.edit, outcome.binding, outcome.path_name,
                                      outcome.strokes)
    return _success(GObject.Value(Gimp.Layer, layer), GObject.Value(Gimp.Path, path))


def _success(*values: GObject.Value) -> Gimp.ValueArray:
    """The successful reply, with the procedure's declared return values in order."""
    status = GObject.Value(Gimp.PDBStatusType, Gimp.PDBStatusType.SUCCESS)
    return Gimp.ValueArray.new_from_values([status, *values])


def _new_run(procedure, config, data):  # noqa: ANN001 - GIMP's callback signature
    try:
        return _new(procedure, config)
    except Exception as exc:  # noqa: BLE001 - the last line of defence: a message, never a traceback
        return _error(procedure, f"DragGAN new from model failed unexpectedly: {exc!r}")


def _new(procedure, config):  # noqa: ANN001
    from .options import GenerateSettings, missing_dependencies

    run_mode = config.get_property("run-mode")
    missing = missing_dependencies()
    if missing:
        return _error(procedure, missing)
    if run_mode == Gimp.RunMode.INTERACTIVE and not _options_dialog(
            procedure, config, "DragGAN new from model", ["model", "seed", "truncation"]):
        return _cancelled(procedure)
    settings = GenerateSettings(model=config.get_property("model"), seed=config.get_property("seed"),
                              truncation=config.get_property("truncation"),
                              address=config.get_property("address"), settings_file=_settings_file())
    from . import drag

    feedback = GimpFeedback()
    try:
        outcome = drag.generate_layer(settings, feedback)
    finally:
        feedback.done()
    if outcome.error:
        return _error(procedure, outcome.error)
    image, layer = new_image_with_layer(outcome.layer_name, outcome.pixels, outcome.binding,
                                        config.get_property("image"))
    if run_mode == Gimp.RunMode.INTERACTIVE and config.get_property("image") is None:
        Gimp.Display.new(image)
    return _success(GObject.Value(Gimp.Image, image), GObject.Value(Gimp.Layer, layer))


def _options_dialog(procedure: Gimp.Procedure, config: Gimp.ProcedureConfig, title: str,
                    fields: list[str]) -> bool:
    """GIMP's generated dialog for `fields`; False when the user cancels."""
    gi.require_version("GimpUi", "3.0")
    from gi.repository import GimpUi

    from .options import SLIDER_RANGES

    GimpUi.init(sys.argv[0])
    dialog = GimpUi.ProcedureDialog.new(procedure, config, title)
    for name in fields:
        if name in SLIDER_RANGES:  # the arguments accept any number (so a script's is checked, not clamped);
            scale = dialog.get_spin_scale(name, 1.0)  # the slider spans the protocol's range
            scale.set_scale_limits(*SLIDER_RANGES[name])
    dialog.fill(fields)
    accepted = dialog.run()
    dialog.destroy()
    return bool(accepted)


def _run_with_live_preview(work):  # noqa: ANN001, ANN202 - work(feedback, cancel) -> drag.DragOutcome
    """Runs `work` on a thread while a dialog shows its progress and live previews.

    The dialog's Cancel sets the event `work` watches (the drag stops within a step and keeps nothing). GIMP
    calls and widgets are touched only here on the main thread; the worker posts to it with GLib.idle_add.
    """
    gi.require_version("GimpUi", "3.0")
    gi.require_version("Gtk", "3.0")
    gi.require_version("GdkPixbuf", "2.0")
    from gi.repository import GdkPixbuf, GimpUi, Gtk

    from .drag import DragOutcome

    GimpUi.init(sys.argv[0])
    dialog = GimpUi.Dialog(title="DragGAN drag: running", role="dragd-drag-progress")
    dialog.add_button("_Cancel", Gtk.ResponseType.CANCEL)
    box = dialog.get_content_area()
    box.set_spacing(8)
    picture = Gtk.Image()
    bar = Gtk.ProgressBar(show_text=True)
    box.pack_start(picture, True, True, 0)
    box.pack_start(bar, False, False, 0)
    dialog.show_all()
    gimp_bar = GimpFeedback()
    cancel = threading.Event()
    finished: list[DragOutcome] = []

    def show_progress(fraction: float, text: str) -> bool:
        bar.set_fraction(min(max(fraction, 0.0), 1.0))
        bar.set_text(text)
        gimp_bar.progress(fraction, text)
        return False  # run once

    def show_preview(pixels: Image) -> bool:
        data = GLib.Bytes.new(pixels.tight().data)
        pixbuf = GdkPixbuf.Pixbuf.new_from_bytes(data, GdkPixbuf.Colorspace.RGB, True, 8, pixels.width,
                                                 pixels.height, pixels.width * 4)
        scale = min(1.0, 384 / max(pixels.width, pixels.height))
        if scale < 1.0:
            pixbuf = pixbuf.scale_simple(max(1, round(pixels.width * scale)),
                                         max(1, round(pixels.height * scale)), GdkPixbuf.InterpType.BILINEAR)
        picture.set_from_pixbuf(pixbuf)
        return False

    class ThreadFeedback:
        def progress(self, fraction: float, text: str) -> None:
            GLib.idle_add(show_progress, fraction, text)

        def preview(self, pixels: Image) -> None:
            GLib.idle_add(show_preview, pixels)

    def worker() -> None:
        try:
            finished.append(work(ThreadFeedback(), cancel))
        except Exception as exc:  # noqa: BLE001 - reported as a message by the caller
            finished.append(DragOutcome(error=f"DragGAN drag failed unexpectedly: {exc!r}"))
        GLib.idle_add(dialog.response, Gtk.ResponseType.OK)

    thread = threading.Thread(target=worker, name="dragd-drag", daemon=True)
    thread.start()
    response = dialog.run()
    if response != Gtk.ResponseType.OK:
        cancel.set()
    dialog.destroy()
    thread.join(timeout=30)
    gimp_bar.done()
    if cancel.is_set() or not finished:
        return DragOutcome(cancelled=True)
    return finished[0]


class DragdPlugIn(Gimp.PlugIn):
    """Registers "DragGAN drag..." (Filters > Distorts) and "DragGAN new from model..." (File > Create)."""

    def do_set_i18n(self, name: str) -> bool:
        return False

    def do_query_procedures(self) -> list[str]:
        return [DRAG_PROCEDURE, NEW_PROCEDURE]

    def do_create_procedure(self, name: str) -> Gimp.Procedure | None:
        from ..protocol.limits import DEFAULT_LIMITS, MASK_STRENGTH_MAX, STEP_SIZE_MAX, TRUNCATION_MAX
        from .options import DEFAULTS_DRAG, DEFAULTS_GENERATE, FLOAT_MAX, INT_MAX, INT_MIN, MODEL_DEFAULT

        flags = GObject.ParamFlags.READWRITE
        if name == DRAG_PROCEDURE:
            procedure = Gimp.ImageProcedure.new(self, name, Gimp.PDBProcType.PLUGIN, _drag_run, None)
            procedure.set_image_types("*")  # greyscale and indexed too: GEGL converts in and back
            procedure.set_sensitivity_mask(Gimp.ProcedureSensitivityMask.DRAWABLE)
            procedure.set_menu_label("DragGAN _drag...")
            procedure.add_menu_path("<Image>/Filters/Distorts")
            procedure.set_documentation(
                "Drag points of an image with DragGAN",
                "Every stroke of the active path is one handle -> target pair (first anchor: handle, last "
                "anchor: target). The selection is the region allowed to move. A layer not made by DragGAN is "
                "first inverted into the model (the selection's bounding box; nothing outside the selection "
                "grown by a small feather changes). The result is a new layer above the source; the tracked "
                "handles come back as a new path.", name)
            _common_options(procedure)
            # Every number argument takes any value GIMP can hold, so that a script's out-of-range value reaches
            # the plug-in, which refuses it with an error naming the range (options.DragSettings.problem),
            # instead of GIMP silently replacing it with the default. The dialog's sliders span the protocol's
            # ranges (options.SLIDER_RANGES).
            procedure.add_double_argument("step-size", "Step si_ze", "Optimiser learning rate, in (0, "
                                          f"{STEP_SIZE_MAX:g}]; 0: the model's default", -FLOAT_MAX, FLOAT_MAX,
                                          DEFAULTS_DRAG.step_size, flags)
            procedure.add_int_argument("max-steps", "Max s_teps", "Stop after this many steps (1 to the "
                                       f"daemon's limit, {DEFAULT_LIMITS.max_steps} by default)", INT_MIN,
                                       INT_MAX, DEFAULTS_DRAG.max_steps, flags)
            spaces = Gimp.Choice.new()
            spaces.add("w+", 0, "W+ (one latent per layer)", "")
            spaces.add("w", 1, "W (one latent)", "")
            procedure.add_choice_argument("latent-space", "Latent s_pace", "Which latent the drag optimises",
                                          spaces, DEFAULTS_DRAG.latent_space, flags)
            procedure.add_double_argument("mask-strength", "Mask stren_gth", "How firmly the area outside the "
                                          f"selection is held in place, 0 to {MASK_STRENGTH_MAX:g}; "
                                          f"{MODEL_DEFAULT:g}: the model's own default", -FLOAT_MAX, FLOAT_MAX,
                                          DEFAULTS_DRAG.mask_strength, flags)
            procedure.add_layer_return_value("result", "Result", "The new result layer", False, flags)
            procedure.add_path_return_value("tracked", "Tracked points", "Where the handles ended", False, flags)
        elif name == NEW_PROCEDURE:
            procedure = Gimp.Procedure.new(self, name, Gimp.PDBProcType.PLUGIN, _new_run, None)
            procedure.set_menu_label("DragGAN _new from model...")
            procedure.add_menu_path("<Image>/File/Create")
            procedure.set_documentation(
                "A new image (or a new layer of IMAGE) generated by a DragGAN model",
                "The layer remembers its model and seed, so \"DragGAN drag\" can work on it.", name)
            procedure.add_enum_argument("run-mode", "Run mode", "The run mode", Gimp.RunMode,
                                        Gimp.RunMode.NONINTERACTIVE, flags)
            procedure.add_image_argument("image", "Image", "Add the layer to this image; none: a new image",
                                         True, flags)
            _common_options(procedure)
            procedure.add_int_argument("seed", "Se_ed", "Random seed of the latent (from 0)", INT_MIN, INT_MAX,
                                       DEFAULTS_GENERATE.seed, flags)
            procedure.add_double_argument("truncation", "_Truncation", f"0 to {TRUNCATION_MAX:g}; 1: full variety, "
                                          "lower: closer to the average", -FLOAT_MAX, FLOAT_MAX,
                                          DEFAULTS_GENERATE.truncation, flags)
            procedure.add_image_return_value("image", "Image", "The image holding the new layer", False, flags)
            procedure.add_layer_return_value("layer", "Layer", "The generated layer", False, flags)
        else:
            return None
        procedure.set_attribution("dragd", "MIT", "2026")
        return procedure


def main(argv: list[str]) -> None:
    Gimp.main(DragdPlugIn.__gtype__, argv)
