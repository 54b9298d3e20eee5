"""Runs INSIDE GIMP 3 (gimp-3.0 --batch-interpreter=python-fu-eval, under Xvfb) for test_gimp_documents.py.

Ordinary documents, each dragged through the installed plug-in's procedure as a script would:
- "tree": a 16-bit image; a generated layer moved into a group, offset, at 60 % opacity in Multiply mode, with a
  layer mask hiding its left half, its 16-bit values given detail below one 8-bit level; a feathered selection;
- "hdr": a 32-bit float linear image; a plain layer with HDR values (above 1.0) inside and outside the selection;
- "grey" and "indexed": a generated layer in a greyscale image, and in an indexed one;
- refusals: a text layer, a layer group, max-steps 5000, truncation 5, a garbage daemon address;
- "replaced": a result dragged twice, then the result whose session state the second drag replaced;
- "settings": "DragGAN settings..." called by a script;
- "xcf": the tree image saved as .xcf, loaded again, and its result layer dragged on a second daemon that never
  saw it (as after a restart): the layer's binding parasite must bring its state back without re-inverting.
It writes what it saw to $DRAGD_E2E_OUT (report.json, raw pixel bytes) and raises at the end when an expected
success failed, so the batch command exits non-zero. The test asserts.
"""

import json
import os
import struct

from gi.repository import Gegl, Gimp, Gio

OUT = os.environ["DRAGD_E2E_OUT"]
ADDRESS = os.environ["DRAGD_ADDRESS"]
ADDRESS_B = os.environ["DRAGD_ADDRESS_B"]  # a second daemon: the "restarted" one
SEED = int(os.environ["DRAGD_E2E_SEED"])
STEPS = int(os.environ["DRAGD_E2E_STEPS"])
SIZE = 128
HANDLE, TARGET = (64.5, 80.5), (64.5, 64.5)  # layer coordinates (corner origin)
SELECTION = (32, 40, 64, 64)  # layer coordinates: x, y, width, height
OFFSETS = (20, 10)  # where the "tree" layer lies in its image

report = {"calls": []}
failed = []


def call(name, expect_error=False, **arguments):
    procedure = Gimp.get_pdb().lookup_procedure(name)
    config = procedure.create_config()
    for key, value in arguments.items():
        if key == "drawables":
            config.set_core_object_array(key, value)
        else:
            config.set_property(key, value)
    values = procedure.run(config)
    status = values.index(0)
    entry = {"name": name, "status": status.value_nick}
    if status != Gimp.PDBStatusType.SUCCESS:
        entry["error"] = values.index(1) if values.length() > 1 else ""
        if not expect_error:
            failed.append(f"{name}: {status.value_nick}: {entry['error']}")
    report["calls"].append(entry)
    return values if status == Gimp.PDBStatusType.SUCCESS else entry


def read(drawable, fmt, rect=None):
    x, y, w, h = rect or (0, 0, drawable.get_width(), drawable.get_height())
    return bytes(drawable.get_buffer().get(Gegl.Rectangle.new(x, y, w, h), 1.0, fmt, Gegl.AbyssPolicy.NONE))


def write(drawable, fmt, data, rect=None):
    x, y, w, h = rect or (0, 0, drawable.get_width(), drawable.get_height())
    buffer = drawable.get_buffer()
    buffer.set(Gegl.Rectangle.new(x, y, w, h), fmt, data)
    buffer.flush()


def save(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def binding_of(layer):
    parasite = layer.get_parasite("dragd-binding")
    return json.loads(bytes(parasite.get_data())) if parasite else None


def points(image, offsets=(0, 0)):
    path = Gimp.Path.new(image, "points")
    image.insert_path(path, None, 0)
    handle = (HANDLE[0] + offsets[0], HANDLE[1] + offsets[1])
    target = (TARGET[0] + offsets[0], TARGET[1] + offsets[1])
    path.stroke_new_from_points(Gimp.PathStrokeType.BEZIER, [*handle] * 3 + [*target] * 3, False)
    image.set_selected_paths([path])
    return path


def select(image, offsets=(0, 0), feather=0.0):
    x, y, w, h = SELECTION
    image.select_rectangle(Gimp.ChannelOps.REPLACE, x + offsets[0], y + offsets[1], w, h)
    if feather:
        Gimp.Selection.feather(image, feather)
    return read(image.get_selection(), "Y u8", (offsets[0], offsets[1], SIZE, SIZE))  # over the layer


def drag(image, layer, address=ADDRESS, expect_error=False, **extra):
    return call("dragd-drag", expect_error=expect_error, **{
        "run-mode": Gimp.RunMode.NONINTERACTIVE, "image": image, "drawables": [layer], "address": address,
        "max-steps": STEPS, **extra})


def generated_in(image):
    values = call("dragd-new-from-model", **{"run-mode": Gimp.RunMode.NONINTERACTIVE, "image": image,
                                            "seed": SEED, "address": ADDRESS})
    return values.index(2) if not isinstance(values, dict) else None


def describe(layer):
    parent = layer.get_parent()
    mask = layer.get_mask()
    image = layer.get_image()
    return {"name": layer.get_name(), "parent": parent.get_name() if parent else None,
            "position": image.get_item_position(layer), "offsets": list(layer.get_offsets()[1:]),
            "opacity": layer.get_opacity(), "mode": layer.get_mode().value_nick, "bpp": layer.get_bpp(),
            "gray": layer.is_gray(), "indexed": layer.is_indexed(), "has_mask": mask is not None,
            "binding": binding_of(layer)}


def tree_case():
    image = Gimp.Image.new_with_precision(SIZE + 40, SIZE + 30, Gimp.ImageBaseType.RGB,
                                          Gimp.Precision.U16_NON_LINEAR)
    layer = generated_in(image)
    if layer is None:
        return None
    group = Gimp.GroupLayer.new(image, "group")
    image.insert_layer(group, None, 0)
    image.reorder_item(layer, group, 0)
    below = Gimp.Layer.new(image, "below", 8, 8, Gimp.ImageType.RGBA_IMAGE, 100.0, Gimp.LayerMode.NORMAL)
    image.insert_layer(below, group, 1)
    layer.set_offsets(*OFFSETS)
    layer.set_opacity(60.0)
    layer.set_mode(Gimp.LayerMode.MULTIPLY)
    mask = layer.create_mask(Gimp.AddMaskType.WHITE)
    layer.add_mask(mask)
    write(mask, "Y u8", (bytes(SIZE // 2) + b"\xff" * (SIZE // 2)) * SIZE)
    # 16-bit detail below one 8-bit level (+0..+100 of 65535): the layer's 8-bit pixels, and so its binding's
    # digest, stay the same, but a result written as 8 bits would lose it.
    values = list(struct.unpack(f"{SIZE * SIZE * 4}H", read(layer, "R'G'B'A u16")))
    detailed = [min(65535, v + (i * 7) % 101) if i % 4 != 3 else v for i, v in enumerate(values)]
    write(layer, "R'G'B'A u16", struct.pack(f"{len(detailed)}H", *detailed))
    points(image, OFFSETS)
    save("tree_selection.l", select(image, OFFSETS, feather=12.0))
    save("tree_source_before.u16", read(layer, "R'G'B'A u16"))
    save("tree_mask.l", read(mask, "Y u8"))
    values = drag(image, layer)
    save("tree_source_after.u16", read(layer, "R'G'B'A u16"))
    report["tree"] = {"source": describe(layer)}
    if isinstance(values, dict):
        return None
    result = values.index(1)
    report["tree"]["result"] = describe(result)
    report["tree"]["above_source"] = image.get_item_position(result) + 1 == image.get_item_position(layer)
    save("tree_result.u16", read(result, "R'G'B'A u16"))
    save("tree_result_mask.l", read(result.get_mask(), "Y u8") if result.get_mask() else b"")
    return image, result


def hdr_case(face_u8):
    image = Gimp.Image.new_with_precision(SIZE, SIZE, Gimp.ImageBaseType.RGB, Gimp.Precision.FLOAT_LINEAR)
    layer = Gimp.Layer.new(image, "hdr", SIZE, SIZE, Gimp.ImageType.RGBA_IMAGE, 100.0, Gimp.LayerMode.NORMAL)
    image.insert_layer(layer, None, 0)
    write(layer, "R'G'B'A u8", face_u8)
    write(layer, "RGBA float", struct.pack("4f", 4.0, 4.0, 4.0, 1.0) * 64, (0, 0, 8, 8))  # outside the selection
    write(layer, "RGBA float", struct.pack("4f", 3.0, 3.0, 3.0, 1.0) * 16, (36, 44, 4, 4))  # inside, a corner
    points(image)
    save("hdr_selection.l", select(image))
    save("hdr_source_before.f32", read(layer, "RGBA float"))
    values = drag(image, layer)
    save("hdr_source_after.f32", read(layer, "RGBA float"))
    if isinstance(values, dict):
        return
    result = values.index(1)
    report["hdr"] = {"result": describe(result)}
    save("hdr_result.f32", read(result, "RGBA float"))


def mode_case(name, image):
    """A generated layer in a greyscale or indexed image, dragged with a hard selection."""
    layer = generated_in(image)
    if layer is None:
        return
    points(image)
    save(f"{name}_selection.l", select(image))
    save(f"{name}_source_before.rgba", read(layer, "R'G'B'A u8"))
    values = drag(image, layer)
    save(f"{name}_source_after.rgba", read(layer, "R'G'B'A u8"))
    report[name] = {"source": describe(layer)}
    if isinstance(values, dict):
        return
    result = values.index(1)
    report[name]["result"] = describe(result)
    save(f"{name}_result.rgba", read(result, "R'G'B'A u8"))


def refusals(image, group_layer):
    text = Gimp.TextLayer.new(image, "hello", Gimp.context_get_font(), 24.0, Gimp.Unit.pixel())
    image.insert_layer(text, None, 0)
    plain = Gimp.Layer.new(image, "plain", SIZE, SIZE, Gimp.ImageType.RGBA_IMAGE, 100.0, Gimp.LayerMode.NORMAL)
    image.insert_layer(plain, None, 0)
    plain.set_offsets(*OFFSETS)  # under the points, so that only what is tested can fail
    Gimp.Selection.none(image)
    report["refusals"] = {
        "text": drag(image, text, expect_error=True),
        "group": drag(image, group_layer, expect_error=True),
        "max_steps": drag(image, plain, expect_error=True, **{"max-steps": 5000}),
        "address": drag(image, plain, expect_error=True, address="garbage"),
        "truncation": call("dragd-new-from-model", expect_error=True, **{
            "run-mode": Gimp.RunMode.NONINTERACTIVE, "seed": 1, "truncation": 5.0, "address": ADDRESS}),
    }


def replaced_case():
    """GIMP's own undo mixed with drags: result 1 dragged twice (the second drag replaces the session state
    that result 2 shows), then result 2 dragged: it must start from what it shows, restored from its latent."""
    values = call("dragd-new-from-model", **{"run-mode": Gimp.RunMode.NONINTERACTIVE, "seed": SEED,
                                            "address": ADDRESS})
    if isinstance(values, dict):
        return
    image, layer = values.index(1), values.index(2)
    path = points(image)
    select(image)
    results = []
    # (which layer, max steps): result 1's second drag stops earlier, so it makes another state than result 2's
    for which, steps in ((None, STEPS), (0, STEPS), (0, STEPS // 2), (1, STEPS)):
        image.set_selected_paths([path])
        values = drag(image, layer if which is None else results[which], **{"max-steps": steps})
        if isinstance(values, dict):
            return
        results.append(values.index(1))
    report["replaced"] = {"results": [describe(r) for r in results]}
    for number, result in enumerate(results, start=1):
        save(f"replaced_{number}.rgba", read(result, "R'G'B'A u8"))


def xcf_case(image, result):
    path = os.path.join(OUT, "tree.xcf")
    Gimp.file_save(Gimp.RunMode.NONINTERACTIVE, image, Gio.File.new_for_path(path), None)
    loaded = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(path))
    group = [layer for layer in loaded.get_layers() if layer.get_name() == "group"][0]
    again = [layer for layer in group.get_children() if layer.get_name() == result.get_name()][0]
    points(loaded, OFFSETS)
    select(loaded, OFFSETS, feather=12.0)
    save("xcf_before.u16", read(again, "R'G'B'A u16"))
    values = drag(loaded, again, address=ADDRESS_B)
    if isinstance(values, dict):
        return
    report["xcf"] = {"reloaded": describe(again), "result": describe(values.index(1))}
    save("xcf_result.u16", read(values.index(1), "R'G'B'A u16"))


def settings_case():
    """"DragGAN settings..." as a script calls it: a good address and command are written, a bad one refused."""
    def status(values):
        return values if isinstance(values, dict) else {"status": "success"}

    arguments = {"run-mode": Gimp.RunMode.NONINTERACTIVE, "address": "tcp://127.0.0.1:5999",
                 "daemon-command": "'/opt/my dragd/dragd' serve --address {address}"}
    report["settings"] = {"good": status(call("dragd-settings", **arguments))}
    report["settings"]["bad"] = call("dragd-settings", expect_error=True, **{**arguments, "address": "nonsense"})
    with open(os.path.join(Gimp.directory(), "dragd.ini")) as f:
        report["settings"]["file"] = f.read()


try:
    made = tree_case()
    if made is not None:
        face = read(made[1], "R'G'B'A u8")  # a face the model can invert, for the plain HDR layer
        hdr_case(face)
        mode_case("grey", Gimp.Image.new(SIZE, SIZE, Gimp.ImageBaseType.GRAY))
        indexed = Gimp.Image.new(SIZE, SIZE, Gimp.ImageBaseType.RGB)
        base = Gimp.Layer.new(indexed, "palette source", SIZE, SIZE, Gimp.ImageType.RGBA_IMAGE, 100.0,
                              Gimp.LayerMode.NORMAL)
        indexed.insert_layer(base, None, 0)
        write(base, "R'G'B'A u8", face)
        indexed.convert_indexed(Gimp.ConvertDitherType.NONE, Gimp.ConvertPaletteType.GENERATE, 64, False, False,
                                "")
        base.set_visible(False)
        mode_case("indexed", indexed)
        replaced_case()
        refusals(made[0], made[1].get_parent())
        xcf_case(*made)
        settings_case()
finally:
    with open(os.path.join(OUT, "report.json"), "w") as f:
        json.dump(report, f, indent=1, default=str)

if failed:
    raise RuntimeError("; ".join(failed))
