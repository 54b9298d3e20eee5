"""The GIMP plug-in's logic (gimp_plugin/drag.py) against a fake GIMP document and a fake daemon."""

from __future__ import annotations

import re
import threading

import pytest
from conftest import free_tcp_address
from dragd.gimp_plugin import drag
from dragd.gimp_plugin.options import DragSettings, GenerateSettings
from dragd.gimp_plugin.session import layer_digest
from dragd.protocol.binding import decode, encode
from dragd.protocol.errors import DragdError, DragdTimeout, ErrorCode
from dragd.protocol.images import Image
from gimp_fakes import GENERATED, FakeDaemon, FakeDocument, RecordingFeedback, bind, gradient, latent_of

ONE_STROKE = [("Points", True, [[(3.5, 4.5), (5.0, 5.0), (9.5, 2.5)]])]  # handle, a middle anchor, target


def run(document: FakeDocument, daemon: FakeDaemon, settings: DragSettings | None = None,
        cancel: threading.Event | None = None, preview_every: int = 0) -> tuple[drag.DragOutcome,
                                                                                RecordingFeedback]:
    feedback = RecordingFeedback()
    outcome = drag.drag_layer(document, settings or DragSettings(), feedback, cancel or threading.Event(),
                              connect=lambda address: daemon, preview_every=preview_every)
    return outcome, feedback


# ---- points ------------------------------------------------------------------------------------------------------


def sent_pairs(daemon: FakeDaemon) -> list[tuple[tuple[float, float], tuple[float, float]]]:
    drags = [args for kind, args in daemon.calls if kind == "drag"]
    return [(p.handle, p.target) for p in drags[-1][1]]


def test_each_stroke_is_one_pair_from_its_first_to_its_last_anchor_in_pixel_centre_coordinates():
    paths = [("p", True, [[(3.5, 4.5), (5.0, 5.0), (9.5, 2.5)], [(0.5, 0.5), (1.5, 0.5)]])]
    daemon = FakeDaemon()
    run(FakeDocument(path_list=paths, layer_binding=GENERATED), daemon)
    assert sent_pairs(daemon) == [((3.0, 4.0), (9.0, 2.0)), ((0.0, 0.0), (1.0, 0.0))]


def test_points_are_relative_to_the_layer_when_it_is_offset_in_the_image():
    document = FakeDocument(offsets=(10, 20), path_list=[("p", True, [[(13.5, 24.5), (19.5, 22.5)]])],
                            layer_binding=GENERATED)
    daemon = FakeDaemon()
    outcome, _ = run(document, daemon)
    assert sent_pairs(daemon) == [((3.0, 4.0), (9.0, 2.0))]
    # The tracked path comes back in image coordinates: +2, -1 per step for 3 steps, then the offsets.
    assert outcome.strokes == [[(3.0 + 6 + 0.5 + 10, 4.0 - 3 + 0.5 + 20), (19.5, 22.5)]]


@pytest.mark.parametrize(("strokes", "message"), [
    ([[(1, 1), (2, 2)], [(3, 3)]], "Drag line 2 has only one point"),
    ([[(1, 1), (40, 2)]], "end \\(the target\\) of drag line 1 lies outside the layer"),
])
def test_bad_strokes_get_the_shared_message_plus_how_to_draw_them_in_gimp(strokes, message):
    daemon = FakeDaemon()
    outcome, _ = run(FakeDocument(path_list=[("p", True, strokes)], layer_binding=GENERATED), daemon)
    assert re.search(message, outcome.error) and "Paths tool" in outcome.error
    assert daemon.calls == []  # refused before any daemon call


@pytest.mark.parametrize(("paths", "chosen"), [
    ([("a", False, []), ("b", True, [[(1, 1), (2, 2)]])], "b"),  # the selected one
    ([("only", False, [[(1, 1), (2, 2)]])], "only"),  # none selected, but only one exists
])
def test_the_points_come_from_the_selected_path_or_the_only_one(paths, chosen):
    assert drag.choose_path(paths)[0] == chosen


@pytest.mark.parametrize(("paths", "message"), [
    ([], "has none.*Paths tool"),
    ([("a", False, []), ("b", False, [])], "several paths; select"),
    ([("a", True, []), ("b", True, [])], "2 paths are selected"),
])
def test_no_path_or_an_ambiguous_choice_is_explained(paths, message):
    with pytest.raises(drag.UserError, match=message):
        drag.choose_path(paths)


def test_no_path_reaches_the_user_as_an_error_outcome_before_any_daemon_call():
    daemon = FakeDaemon()
    outcome, _ = run(FakeDocument(layer_binding=GENERATED), daemon)
    assert "Paths tool" in outcome.error and outcome.pixels is None
    assert daemon.calls == []


# ---- dragging ------------------------------------------------------------------------------------------------------


def test_a_generated_layer_is_generated_again_from_its_seed_then_dragged():
    document = FakeDocument(path_list=ONE_STROKE, layer_binding=GENERATED,
                            names=["Background", "DragGAN result 1"])
    daemon = FakeDaemon()
    settings = DragSettings(step_size=0.01, max_steps=3, latent_space="w", mask_strength=5.0)
    outcome, feedback = run(document, daemon, settings)

    assert outcome.error is None and not outcome.cancelled
    assert daemon.calls[0] == ("generate", (7, "faces-128", 0.5))
    kind, (session, points, mask, options) = daemon.calls[1]
    assert kind == "drag" and session == "s-gen-7" and mask is None
    assert [(p.handle, p.target) for p in points] == [((3.0, 4.0), (9.0, 2.0))]
    assert (options.step_size, options.max_steps, options.latent_space, options.mask_strength) == \
        (0.01, 3, "w", 5.0)
    # The session stays open (the result's binding names it: the next plug-in process resumes it).
    assert "s-gen-7" in daemon.sessions and daemon.closed
    assert outcome.layer_name == "DragGAN result 2"
    binding = outcome.binding
    assert (binding.session, binding.state, binding.kind, binding.seed, binding.truncation) == \
        ("s-gen-7", 1, "generated", 7, 0.5)
    assert binding.latent.full() == latent_of("s-gen-7", 1, "drag")  # asked with `state` after the drag
    assert binding.shows(layer_digest(outcome.pixels))
    # The tracked handle (+2, -1 per step, 3 steps) back in GIMP's corner-origin image coordinates, to its target.
    assert outcome.strokes == [[(3.0 + 6 + 0.5, 4.0 - 3 + 0.5), (9.5, 2.5)]]
    fractions = [f for f, _ in feedback.updates]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any("step 2 of at most 3" in text for _, text in feedback.updates)


def test_the_result_is_the_source_outside_the_edited_region_byte_for_byte():
    document = FakeDocument(path_list=ONE_STROKE, layer_binding=GENERATED)
    daemon = FakeDaemon()
    outcome, _ = run(document, daemon)
    result, source = outcome.pixels, document.source
    assert (result.width, result.height) == (source.width, source.height)
    (px, py), n = daemon.patch_offset, daemon.patch_size
    for y in range(source.height):
        for x in range(source.width):
            inside = px <= x < px + n and py <= y < py + n
            assert result.pixel(x, y) == (daemon.patch_colour if inside else source.pixel(x, y)), (x, y)
    # The edit the adapter writes at the layer's precision holds only pixels that change.
    changed = {(run.x + i, run.y) for run in outcome.edit.runs() for i in range(run.width)}
    assert changed == {(x, y) for y in range(py, py + n) for x in range(px, px + n)
                       if source.pixel(x, y) != daemon.patch_colour}


def soft_mask() -> Image:
    """Columns 0-7 unselected, 8 half selected (128), 9-15 fully selected; every row alike."""
    return Image.mask(16, 12, (bytes(8) + b"\x80" + b"\xff" * 7) * 12)


def test_a_generated_layer_changes_only_inside_the_selection_and_a_soft_edge_changes_in_part():
    daemon = FakeDaemon()
    daemon.patch_offset, daemon.patch_size = (0, 0), 12  # the daemon repaints a 12 x 12 square
    stroke = [("p", True, [[(10.5, 4.5), (12.5, 4.5)]])]
    document = FakeDocument(path_list=stroke, layer_binding=GENERATED, mask=soft_mask())
    outcome, _ = run(document, daemon)
    source, result = document.source, outcome.pixels
    for y in range(12):
        for x in range(16):
            old, new = source.pixel(x, y), result.pixel(x, y)
            if x < 8 or x >= 12:  # unselected, or outside what the daemon repainted
                assert new == old, (x, y)
            elif x == 8:  # half selected: half of the change, rounded
                assert new == tuple(round(o + 128 / 255 * (c - o)) for o, c in zip(old, daemon.patch_colour,
                                                                                     strict=True)), (x, y)
            else:
                assert new == daemon.patch_colour, (x, y)
    assert daemon.calls[1][1][2].row(0) == soft_mask().row(0)  # the daemon gets the soft selection as it is


def test_an_opened_layers_patch_is_taken_as_the_daemon_weighted_it():
    mask = soft_mask()
    document = FakeDocument(path_list=[("p", True, [[(10.5, 4.5), (12.5, 4.5)]])], mask=mask)
    daemon = FakeDaemon()
    daemon.patch_offset = (8, 2)
    outcome, _ = run(document, daemon)
    assert outcome.binding.kind == "opened" and outcome.edit.weight is None
    assert outcome.pixels.pixel(8, 2) == daemon.patch_colour  # no second weighting on top of the daemon's
    assert outcome.binding.frame == (8, 2, 4, 4)


def test_a_handle_outside_the_selection_is_refused_before_dragging():
    mask = Image.mask(16, 12, bytes(16 * 6) + b"\xff" * (16 * 6))  # the bottom half; the handle is at y=4
    daemon = FakeDaemon()
    outcome, _ = run(FakeDocument(path_list=ONE_STROKE, layer_binding=GENERATED, mask=mask), daemon)
    assert "outside the selection" in outcome.error and daemon.calls == []


def test_a_selection_that_misses_the_layer_is_refused_not_read_as_no_selection():
    daemon = FakeDaemon()
    outcome, _ = run(FakeDocument(path_list=ONE_STROKE, layer_binding=GENERATED, mask=Image.mask(16, 12, bytes(192))),
                     daemon)
    assert "does not touch this layer" in outcome.error and daemon.calls == []


def existing(state: int, **kwargs) -> bytes:
    return bind("s-existing", state, latent=latent_of("s-existing", state), **kwargs)


def test_a_drag_result_resumes_its_own_session_at_the_state_it_shows():
    daemon = FakeDaemon()
    outcome, _ = run(FakeDocument(path_list=ONE_STROKE, layer_binding=existing(3)), daemon)
    # undo tells where the session is (state 2 after it), redo goes back to the layer's state 3, its latent is
    # the binding's, then the drag.
    assert [c[0] for c in daemon.calls] == ["undo", "redo", "state", "drag", "state"]
    assert daemon.calls[3][1][0] == "s-existing" and outcome.error is None
    assert outcome.binding.state == 4


def test_an_older_result_walks_its_session_back_before_dragging():
    daemon = FakeDaemon()
    outcome, _ = run(FakeDocument(path_list=ONE_STROKE, layer_binding=existing(1)), daemon)
    assert [c[0] for c in daemon.calls] == ["undo", "undo", "state", "drag", "state"] and outcome.error is None
    assert outcome.binding.state == 2  # the daemon dropped states 2 and 3 (a new branch)


def test_a_result_whose_state_was_replaced_is_restored_from_its_latent_not_dragged_from_the_wrong_one():
    daemon = FakeDaemon()
    image, offset, _ = daemon.history["s-existing"][2]
    daemon.history["s-existing"][2] = (image, offset, latent_of("another drag", 2))
    outcome, feedback = run(FakeDocument(path_list=ONE_STROKE, layer_binding=existing(2)), daemon)
    assert [c[0] for c in daemon.calls] == ["undo", "state", "restore", "drag", "state"], daemon.calls
    assert daemon.calls[2][1] == ("s-existing", None)  # pushed onto the live session as a new state
    assert daemon.history["s-existing"][3][2] == latent_of("s-existing", 2)
    assert outcome.error is None and outcome.binding.state == 4
    assert any("restoring the layer's state" in text for _, text in feedback.updates)


def test_a_generated_result_whose_session_is_gone_is_rebuilt_from_its_latent():
    daemon = FakeDaemon()
    binding = bind("s-expired", 2, latent=latent_of("s-expired", 2))
    outcome, _ = run(FakeDocument(path_list=ONE_STROKE, layer_binding=binding), daemon)
    assert [c for c in daemon.calls if c[0] == "restore"] == [("restore", (None, "faces-128"))]
    assert outcome.error is None and outcome.binding.session == "s-restored"
    assert outcome.binding.seed == 7 and outcome.binding.kind == "generated"


def test_an_opened_result_whose_session_is_gone_is_opened_again_from_its_pixels():
    daemon = FakeDaemon()
    binding = bind("s-expired", 2, kind="opened", seed=None, latent=latent_of("s-expired", 2))
    outcome, feedback = run(FakeDocument(path_list=ONE_STROKE, layer_binding=binding), daemon)
    assert [c[0] for c in daemon.calls][:2] == ["undo", "open_session"]  # a latent cannot bring back a tuning
    assert outcome.error is None and outcome.binding.session == "s-open"
    assert any("opening the layer anew" in text for _, text in feedback.updates)


def test_a_layer_changed_since_dragd_made_it_is_opened_as_it_is_now():
    daemon = FakeDaemon()
    painted = Image.filled("RGBA", 16, 12, (1, 2, 3, 255))  # not the pixels the binding's digest names
    document = FakeDocument(path_list=ONE_STROKE, layer_binding=existing(3), source=painted)
    outcome, feedback = run(document, daemon)
    assert daemon.calls[0][0] == "open_session" and daemon.calls[0][1][0] is painted
    assert outcome.error is None and outcome.binding.kind == "opened"
    assert any("changed since DragGAN made it" in text for _, text in feedback.updates)


def test_without_latents_an_older_daemon_is_checked_pixel_for_pixel():
    daemon = FakeDaemon()
    daemon.can_restore = False
    outcome, _ = run(FakeDocument(path_list=ONE_STROKE, layer_binding=bind("s-existing", 3)), daemon)
    assert outcome.error is None and outcome.binding.latent is None  # state 3 makes exactly the layer's pixels
    daemon = FakeDaemon()
    daemon.can_restore = False
    daemon.history["s-existing"][3] = (Image.filled("RGBA", 16, 12, (9, 9, 9, 255)), (0, 0), b"")
    outcome, _ = run(FakeDocument(path_list=ONE_STROKE, layer_binding=bind("s-existing", 3)), daemon)
    # No latent to restore from: the layer is opened anew from its pixels, never dragged from state 3.
    assert [c[0] for c in daemon.calls][:4] == ["undo", "redo", "state", "open_session"]
    assert outcome.binding.session == "s-open"


def test_a_binding_that_is_not_one_is_a_layer_dragd_did_not_make():
    daemon = FakeDaemon()
    run(FakeDocument(path_list=ONE_STROKE, layer_binding=b'{"format": "dragd-binding", "version": 99}'), daemon)
    assert daemon.calls[0][0] == "open_session"


def test_a_layer_dragd_did_not_make_is_opened_from_the_selection_then_dragged():
    mask = Image.mask(16, 12, bytes(16 * 2) + (bytes(2) + b"\xff" * 10 + bytes(4)) * 6 + bytes(16 * 4))
    document = FakeDocument(path_list=ONE_STROKE, mask=mask)
    daemon = FakeDaemon()
    outcome, feedback = run(document, daemon, DragSettings(model="cats"))
    kind, (image, model, region, sent_mask, options) = daemon.calls[0]
    assert kind == "open_session" and image is document.source and model == "cats"
    assert options.paste == "carry"  # the default: the photo's own pixels move with the edit
    assert region == (2, 2, 10, 6) and sent_mask is mask  # the selection's bounding box; the selection
    assert any("opening the layer (projection 2/4)" in text for _, text in feedback.updates)
    assert daemon.calls[1][0] == "drag" and daemon.calls[1][1][0] == "s-open"
    assert outcome.error is None
    assert (outcome.binding.session, outcome.binding.state, outcome.binding.model) == ("s-open", 1, "cats")
    # The result is the source with the daemon's patch pasted in: equal to it everywhere else.
    (px, py), n = daemon.patch_offset, daemon.patch_size
    for y in range(12):
        for x in range(16):
            inside = px <= x < px + n and py <= y < py + n
            assert outcome.pixels.pixel(x, y) == (daemon.patch_colour if inside else document.source.pixel(x, y))


def test_cancel_during_the_inversion_keeps_nothing():
    cancel = threading.Event()
    daemon = FakeDaemon()
    daemon.on_inversion_step = lambda step: cancel.set() if step == 1 else None
    outcome, _ = run(FakeDocument(path_list=ONE_STROKE), daemon, cancel=cancel)
    assert outcome.cancelled and outcome.pixels is None
    assert [c[0] for c in daemon.calls] == ["open_session", "cancel"]


def test_a_daemon_without_inversion_is_explained():
    daemon = FakeDaemon()
    daemon.can_open = False
    outcome, _ = run(FakeDocument(path_list=ONE_STROKE), daemon)
    assert "new from model" in outcome.error


def test_a_resized_generated_layer_is_refused():
    source = gradient(20, 12)
    binding = bind("s-old", 0, pixels=source)
    outcome, _ = run(FakeDocument(width=20, source=source, path_list=[("p", True, [[(1, 1), (2, 2)]])],
                                  layer_binding=binding), FakeDaemon(size=(16, 12)))
    assert "resized" in outcome.error


def test_cancel_keeps_nothing_and_tells_the_daemon():
    cancel = threading.Event()
    daemon = FakeDaemon(steps=10)
    daemon.on_step = lambda step: cancel.set() if step == 2 else None
    outcome, _ = run(FakeDocument(path_list=ONE_STROKE, layer_binding=GENERATED), daemon, cancel=cancel)
    assert outcome.cancelled and outcome.pixels is None and outcome.error is None
    assert ("cancel", None) in daemon.calls
    assert sum(1 for c in daemon.calls if c[0] == "cancel") == 1


def test_live_previews_show_the_whole_layer_with_the_preview_pasted_in():
    daemon = FakeDaemon(steps=4)
    outcome, feedback = run(FakeDocument(path_list=ONE_STROKE, layer_binding=GENERATED), daemon, preview_every=2)
    assert daemon.calls[1][1][3].preview_every == 2
    assert len(feedback.previews) == 2
    assert feedback.previews[0].pixel(*daemon.patch_offset) == daemon.patch_colour
    assert feedback.previews[0].pixel(0, 0) == outcome.pixels.pixel(0, 0)


def test_waiting_is_shown_only_while_requests_are_ahead():
    from dragd.protocol.messages import Waiting

    daemon = FakeDaemon(steps=2)
    daemon.on_step = None
    real_drag = daemon.drag

    def drag_after_waiting(session, points, mask=None, options=None, on_progress=None):
        on_progress(Waiting(2))
        on_progress(Waiting(0))  # the job starts: nothing to say, so "0 request(s) ahead" never flickers
        return real_drag(session, points, mask, options, on_progress)

    daemon.drag = drag_after_waiting
    _, feedback = run(FakeDocument(path_list=ONE_STROKE, layer_binding=GENERATED), daemon)
    waits = [text for _, text in feedback.updates if "Waiting" in text]
    assert waits == ["DragGAN: Waiting for the daemon (2 requests ahead)..."]


def test_a_daemon_that_returns_the_wrong_number_of_points_is_reported():
    daemon = FakeDaemon()
    daemon.wrong_point_count = True
    outcome, _ = run(FakeDocument(path_list=ONE_STROKE, layer_binding=GENERATED), daemon)
    assert "0 tracked points for 1 point pairs" in outcome.error


# ---- options: one set of limits, an error for anything out of range -------------------------------------------


@pytest.mark.parametrize(("settings", "message"), [
    (DragSettings(max_steps=5000), "max-steps is out of range: 5000 is above the maximum 2000"),
    (DragSettings(max_steps=0), "max-steps is out of range: 0 is below the minimum 1"),
    (DragSettings(step_size=-0.5), "step-size is out of range: -0.5 is negative"),
    (DragSettings(step_size=3.0), "step-size is out of range: 3.0 is above the maximum 1.0"),
    (DragSettings(mask_strength=-3.0), "mask-strength is out of range: -3 is negative"),
    (DragSettings(paste="blend"), "paste is out of range: "),
])
def test_an_out_of_range_option_is_an_error_before_any_daemon_call(settings, message):
    daemon = FakeDaemon()
    outcome, _ = run(FakeDocument(path_list=ONE_STROKE, layer_binding=GENERATED), daemon, settings)
    assert message in outcome.error and daemon.calls == []


def test_the_paste_default_is_the_protocols():
    from dragd.protocol.messages import InversionOptions

    assert DragSettings().inversion_options() == InversionOptions()  # "carry"


def test_the_paste_argument_reaches_open_session():
    daemon = FakeDaemon()
    outcome, _ = run(FakeDocument(path_list=ONE_STROKE), daemon, DragSettings(paste="reconstruction"))
    kind, (*_, options) = daemon.calls[0]
    assert kind == "open_session" and options.paste == "reconstruction" and outcome.error is None


def test_the_daemons_own_stricter_limits_are_checked_too():
    from dragd.protocol.limits import Limits

    daemon = FakeDaemon()
    daemon.limits = Limits(max_steps=100)
    outcome, _ = run(FakeDocument(path_list=ONE_STROKE, layer_binding=GENERATED), daemon,
                     DragSettings(max_steps=300))
    assert "max-steps is out of range: 300 is above the maximum 100" in outcome.error
    assert "drag" not in [c[0] for c in daemon.calls]


@pytest.mark.parametrize(("settings", "message"), [
    (GenerateSettings(seed=-1), "seed is out of range: -1 is below the minimum 0"),
    (GenerateSettings(truncation=2.5), "truncation is out of range: 2.5 is above the maximum 2.0"),
])
def test_new_from_model_refuses_out_of_range_arguments(settings, message):
    daemon = FakeDaemon()
    outcome = drag.generate_layer(settings, RecordingFeedback(), connect=lambda address: daemon)
    assert message in outcome.error and daemon.calls == []


@pytest.mark.parametrize("error", [
    DragdTimeout("no answer from the dragd daemon at tcp://127.0.0.1:1 within 5 s"),
    DragdError(ErrorCode.UNAVAILABLE, "no daemon"),
])
def test_no_daemon_is_a_message(error):
    def connect(address: str):
        raise error

    outcome = drag.drag_layer(FakeDocument(path_list=ONE_STROKE, layer_binding=GENERATED), DragSettings(),
                              RecordingFeedback(), threading.Event(), connect=connect)
    assert outcome.error.startswith("DragGAN: ") and "dragd" in outcome.error


def test_the_address_setting_reaches_connect():
    seen = []

    def connect(address: str):
        seen.append(address)
        return FakeDaemon()

    drag.drag_layer(FakeDocument(path_list=ONE_STROKE, layer_binding=GENERATED), DragSettings(address="tcp://h:1"),
                    RecordingFeedback(), threading.Event(), connect=connect)
    assert seen == ["tcp://h:1"]


def test_a_zero_step_size_means_the_models_default():
    assert DragSettings(step_size=0.0).protocol_options().step_size is None
    assert DragSettings(step_size=0.003).protocol_options(5).step_size == 0.003


def test_a_negative_mask_strength_means_the_models_default():
    assert DragSettings().protocol_options().mask_strength is None
    assert DragSettings(mask_strength=-1.0).protocol_options().mask_strength is None
    assert DragSettings(mask_strength=0.0).protocol_options().mask_strength == 0.0
    assert DragSettings(mask_strength=20.0).protocol_options().mask_strength == 20.0


# ---- new from model, bindings, dependencies ---------------------------------------------------------------------


def test_new_from_model_returns_the_image_and_a_binding_that_finds_the_latent_again():
    daemon = FakeDaemon()
    outcome = drag.generate_layer(GenerateSettings(model="", seed=42, truncation=0.6), RecordingFeedback(),
                                  connect=lambda address: daemon)
    # The session is closed at once: it belongs to this plug-in process, which ends; drags generate it again.
    assert daemon.calls == [("generate", (42, None, 0.6)), ("state", "s-gen-42"),
                            ("close_session", "s-gen-42")] and daemon.closed
    assert outcome.error is None and outcome.pixels.pixel(0, 0) == (42, 1, 2, 255)
    binding = decode(encode(outcome.binding))  # what the parasite keeps
    assert (binding.session, binding.state, binding.kind, binding.seed, binding.truncation, binding.frame) == \
        ("s-gen-42", 0, "generated", 42, 0.6, (0, 0, 16, 12))
    assert binding.latent.full() == latent_of("s-gen-42", 0) and binding.shows(layer_digest(outcome.pixels))
    assert outcome.layer_name == "DragGAN faces-128 seed 42"


def test_new_from_model_errors_are_messages():
    def connect(address: str):
        raise DragdError(ErrorCode.UNKNOWN_MODEL, "no model named 'zebras'")

    outcome = drag.generate_layer(GenerateSettings(model="zebras"), RecordingFeedback(), connect=connect)
    assert outcome.error == "DragGAN: no model named 'zebras'" and outcome.pixels is None


def test_missing_zmq_or_msgpack_says_what_to_install(monkeypatch):
    from dragd.gimp_plugin import options

    real = options.importlib.util.find_spec
    monkeypatch.setattr(options.importlib.util, "find_spec", lambda name: None if name == "zmq" else real(name))
    message = options.missing_dependencies()
    assert "pyzmq" in message and "msgpack" not in message.split(" in GIMP")[0]
    assert "apt install python3-zmq python3-msgpack" in message
    monkeypatch.setattr(options.importlib.util, "find_spec", real)
    assert options.missing_dependencies() is None


def test_the_plugin_defaults_are_the_protocols():
    # options.py repeats them so GIMP can register the procedures without pyzmq; they must not drift apart.
    from dragd.protocol import messages

    protocol, plugin = messages.DragOptions(), DragSettings().protocol_options()
    assert plugin == protocol
    assert GenerateSettings().truncation == messages.GenerateRequest(seed=0).truncation


def test_without_a_daemon_the_plugin_tries_to_start_one_and_says_why_it_could_not(monkeypatch):
    monkeypatch.setenv("DRAGD_ADDRESS", free_tcp_address())  # a loopback port where nothing listens
    monkeypatch.setenv("DRAGD_DAEMON_COMMAND", "/nonexistent/bin/dragd")
    outcome = drag.drag_layer(FakeDocument(path_list=ONE_STROKE, layer_binding=GENERATED), DragSettings(),
                              RecordingFeedback(), threading.Event())
    assert "Cannot start the dragd daemon" in outcome.error and "/nonexistent/bin/dragd" in outcome.error


def test_a_snapshot_reads_the_document_once_and_drags_like_it():
    document = FakeDocument(path_list=ONE_STROKE, layer_binding=GENERATED, offsets=(3, 2))
    snapshot = drag.DocumentSnapshot.of(document)
    document.width, document.path_list, document.layer_binding = 0, [], None  # GIMP read later, from elsewhere
    assert (snapshot.width, snapshot.height, snapshot.offsets) == (16, 12, (3, 2))
    outcome, _ = run(snapshot, FakeDaemon())
    assert outcome.error is None and outcome.binding.session == "s-gen-7"
