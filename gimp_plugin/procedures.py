"""The plug-in's GIMP procedures: "DragGAN drag...", "DragGAN new from model..." and "DragGAN settings...";
their registration, options dialogs and return values. The live-drag dialog is `live_dialog.py`, the GIMP calls
on images and layers are in `adapter.py`; what a procedure decides is in `drag.py`.

Number arguments accept any value GIMP can hold, so that a script's out-of-range value reaches the plug-in and
is refused with an error that names the range (`options`), instead of GIMP replacing it with the default.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable

import gi

gi.require_version("Gimp", "3.0")
from gi.repository import Gimp, GLib, GObject  # noqa: E402 - gi.require_version must come first

from .adapter import GimpDocument, GimpFeedback, new_image_with_layer, unsupported_drawable  # noqa: E402

DRAG_PROCEDURE = "dragd-drag"
NEW_PROCEDURE = "dragd-new-from-model"
SETTINGS_PROCEDURE = "dragd-settings"


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
    def current() -> DragSettings:
        return DragSettings(
            model=config.get_property("model"), step_size=config.get_property("step-size"),
            max_steps=config.get_property("max-steps"), latent_space=config.get_property("latent-space"),
            mask_strength=config.get_property("mask-strength"), paste=config.get_property("paste"),
            address=config.get_property("address"), settings_file=_settings_file(),
        )

    if run_mode == Gimp.RunMode.INTERACTIVE and not _options_dialog(
            procedure, config, "DragGAN drag",
            ["model", "step-size", "max-steps", "latent-space", "mask-strength", "paste"],
            lambda: current().problem()):
        return _cancelled(procedure)
    settings = current()
    from . import drag

    document = GimpDocument(image, drawables[0])
    if run_mode == Gimp.RunMode.INTERACTIVE:
        from .live_dialog import run_live_drag

        outcome = run_live_drag(document, settings)  # the live preview: OK commits, Cancel keeps nothing
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

    def current() -> GenerateSettings:
        return GenerateSettings(model=config.get_property("model"), seed=config.get_property("seed"),
                                truncation=config.get_property("truncation"),
                                address=config.get_property("address"), settings_file=_settings_file())

    if run_mode == Gimp.RunMode.INTERACTIVE and not _options_dialog(
            procedure, config, "DragGAN new from model", ["model", "seed", "truncation"],
            lambda: current().problem()):
        return _cancelled(procedure)
    settings = current()
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


def _settings_run(procedure, config, data):  # noqa: ANN001 - GIMP's callback signature
    try:
        return _settings(procedure, config)
    except Exception as exc:  # noqa: BLE001 - the last line of defence: a message, never a traceback
        return _error(procedure, f"DragGAN settings failed unexpectedly: {exc!r}")


def _settings(procedure, config):  # noqa: ANN001
    """Shows (interactive) or takes (scripts) the daemon address and start command, and writes them to the
    settings file; an empty value keeps what the file has."""
    from ..protocol.texts import address_problem
    from .settings import SettingsError, read_settings, settings_path, write_settings

    path = settings_path(Gimp.directory())
    try:
        current = read_settings(path, env={})
    except SettingsError as exc:
        return _error(procedure, str(exc))
    run_mode = config.get_property("run-mode")
    if run_mode == Gimp.RunMode.INTERACTIVE:
        config.set_property("address", current.address)
        config.set_property("daemon-command", current.command)
        if not _options_dialog(procedure, config, f"DragGAN settings ({path})", ["address", "daemon-command"]):
            return _cancelled(procedure)
    address = config.get_property("address").strip() or current.address
    command = config.get_property("daemon-command").strip() or current.command
    problem = address_problem(address) if address else None
    if problem:
        return _error(procedure, f"The daemon address {address!r} cannot be used: {problem}. Nothing was saved.")
    if "{address}" not in command:
        return _error(procedure, f"The daemon command {command!r} has no {{address}}: the plug-in fills in the "
                                 "address there (e.g. dragd serve --address {address}). Nothing was saved.")
    try:
        write_settings(path, address, command)
        read_settings(path, env={})  # the command must split into words
    except (SettingsError, OSError) as exc:
        write_settings(path, current.address, current.command)
        return _error(procedure, f"{exc} Nothing was saved.")
    return _success()


def _options_dialog(procedure: Gimp.Procedure, config: Gimp.ProcedureConfig, title: str,
                    fields: list[str], problem: Callable[[], str | None] = lambda: None) -> bool:
    """GIMP's generated dialog for `fields`, shown again (after a message) while `problem()` finds one in what
    the user typed; False when the user cancels."""
    gi.require_version("GimpUi", "3.0")
    from gi.repository import GimpUi

    from .options import SLIDER_RANGES

    GimpUi.init(sys.argv[0])
    while True:
        dialog = GimpUi.ProcedureDialog.new(procedure, config, title)
        for name in fields:
            if name in SLIDER_RANGES:  # the arguments accept any number (so a script's is checked, not clamped);
                scale = dialog.get_spin_scale(name, 1.0)  # the slider spans the protocol's range
                scale.set_scale_limits(*SLIDER_RANGES[name])
        dialog.fill(fields)
        accepted = dialog.run()
        dialog.destroy()
        text = problem() if accepted else None
        if not text:
            return bool(accepted)
        Gimp.message(text)


class DragdPlugIn(Gimp.PlugIn):
    """Registers "DragGAN drag..." and "DragGAN settings..." (Filters > Distorts), and "DragGAN new from model..."
    (File > Create)."""

    def do_set_i18n(self, name: str) -> bool:
        return False

    def do_query_procedures(self) -> list[str]:
        return [DRAG_PROCEDURE, NEW_PROCEDURE, SETTINGS_PROCEDURE]

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
                "handles come back as a new path. Run interactively, a live preview shows the layer with its points: "
                "drag a target and the image follows; OK keeps the result, Cancel nothing.", name)
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
            # A string, not a choice: GIMP would silently replace an unknown choice with the default, and a
            # script's typo must be an error (options.DragSettings.problem names the modes).
            procedure.add_string_argument("paste", "Photo _paste", "How a drag of a layer dragd did not make (a "
                                          "photo, opened by GAN inversion) comes back: \"carry\" moves the "
                                          "photo's own pixels along the edit, keeping its detail; "
                                          "\"reconstruction\" pastes the generator's picture (for comparison)",
                                          DEFAULTS_DRAG.paste, flags)
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
        elif name == SETTINGS_PROCEDURE:
            procedure = Gimp.Procedure.new(self, name, Gimp.PDBProcType.PLUGIN, _settings_run, None)
            procedure.set_menu_label("DragGAN _settings...")
            procedure.add_menu_path("<Image>/Filters/Distorts")
            procedure.set_documentation(
                "Where the DragGAN daemon listens, and how to start one",
                "Writes the plug-in's settings file (dragd.ini in GIMP's profile folder). Empty: keep the value.",
                name)
            procedure.add_enum_argument("run-mode", "Run mode", "The run mode", Gimp.RunMode,
                                        Gimp.RunMode.NONINTERACTIVE, flags)
            procedure.add_string_argument("address", "Daemon _address", "ZeroMQ address, e.g. tcp://127.0.0.1:5557",
                                          "", flags)
            procedure.add_string_argument("daemon-command", "Daemon _command", "How to start a daemon on this "
                                          "computer when none answers; {address} is filled in", "", flags)
        else:
            return None
        procedure.set_attribution("dragd", "MIT", "2026")
        return procedure


def main(argv: list[str]) -> None:
    Gimp.main(DragdPlugIn.__gtype__, argv)
