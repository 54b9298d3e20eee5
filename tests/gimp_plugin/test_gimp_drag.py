"""The GIMP plug-in's logic (gimp_plugin/drag.py) against a fake GIMP document and a fake daemon."""

from __future__ import annotations

import re
import threading

import pytest
from conftest import free_tcp_address
from dragd.gimp_plugin import drag
from dragd.gimp_plugin.drag import LayerNote
from dragd.gimp_plugin.options import DragSettings, GenerateSettings
from dragd.protocol.errors import DragdError, DragdTimeout, ErrorCode
from dragd.protocol.images import Image
from gimp_fakes import FakeDaemon, FakeDocument, RecordingFeedback

GENERATED = LayerNote("s-old", "faces-128", 0, seed=7, truncation=0.5).to_json()
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
    run(FakeDocument(path_list=paths, layer_note=GENERATED), daemon)
    assert sent_pairs(daemon) == [((3.0, 4.0), (9.0, 2.0)), ((0.0, 0.0), (1.0, 0.0))]


def test_points_are_relative_to_the_layer_when_it_is_offset_in_the_image():
    document = FakeDocument(offsets=(10, 20), path_list=[("p", True, [[(13.5, 24.5), (19.5, 22.5)]])],
                            layer_note=GENERATED)
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
    outcome, _ = run(FakeDocument(path_list=[("p", True, strokes)], layer_note=GENERATED), daemon)
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
    outcome, _ = run(FakeDocument(layer_note=GENERATED), daemon)
    assert "Paths tool" in outcome.error and outcome.pixels is None
    assert daemon.calls == []


# ---- dragging ------------------------------------------------------------------------------------------------------


def test_a_generated_layer_is_generated_again_from_its_seed_then_dragged():
    document = FakeDocument(path_list=ONE_STROKE, layer_note=GENERATED, names=["Background", "DragGAN result 1"])
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
    # The session stays open (the result's note names it: the next plug-in process resumes it); the socket closes.
    assert len(daemon.calls) == 2 and "s-gen-7" in daemon.sessions and daemon.closed
    assert outcome.layer_name == "DragGAN result 2"
    assert LayerNote.read(outcome.note) == LayerNote("s-gen-7", "faces-128", 1, 7, 0.5)
    # The tracked handle (+2, -1 per step, 3 steps) back in GIMP's corner-origin image coordinates, to its target.
    assert outcome.strokes == [[(3.0 + 6 + 0.5, 4.0 - 3 + 0.5), (9.5, 2.5)]]
    fractions = [f for f, _ in feedback.updates]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any("step 2 of at most 3" in text for _, text in feedback.updates)


def test_the_result_is_the_source_outside_the_edited_region_byte_for_byte():
    document = FakeDocument(path_list=ONE_STROKE, layer_note=GENERATED)
    daemon = FakeDaemon()
    outcome, _ = run(document, daemon)
    result, source = outcome.pixels, document.source
    assert (result.width, result.height) == (source.width, source.height)
    (px, py), n = daemon.patch_offset, daemon.patch_size
    for y in range(source.height):
        for x in range(source.width):
            inside = px <= x < px + n and py <= y < py + n
            assert result.pixel(x, y) == (daemon.patch_colour if inside else source.pixel(x, y)), (x, y)


def test_the_selection_is_sent_as_the_mask():
    mask = Image.mask(16, 12, b"\xff" * (16 * 6) + bytes(16 * 6))  # the top half, where the handle is
    daemon = FakeDaemon()
    run(FakeDocument(path_list=ONE_STROKE, layer_note=GENERATED, mask=mask), daemon)
    assert daemon.calls[1][1][2] is mask


def test_a_handle_outside_the_selection_is_refused_before_dragging():
    mask = Image.mask(16, 12, bytes(16 * 6) + b"\xff" * (16 * 6))  # the bottom half; the handle is at y=4
    daemon = FakeDaemon()
    outcome, _ = run(FakeDocument(path_list=ONE_STROKE, layer_note=GENERATED, mask=mask), daemon)
    assert "outside the selection" in outcome.error and daemon.calls == []


def test_a_drag_result_resumes_its_own_session_at_the_state_it_shows():
    note = LayerNote("s-existing", "faces-128", 3, seed=7, truncation=0.5).to_json()
    daemon = FakeDaemon()
    outcome, _ = run(FakeDocument(path_list=ONE_STROKE, layer_note=note), daemon)
    # undo tells where the session is (state 2 after it), redo goes back to the layer's state 3, then the drag.
    assert [c[0] for c in daemon.calls] == ["undo", "redo", "drag"]
    assert daemon.calls[2][1][0] == "s-existing" and outcome.error is None
    assert LayerNote.read(outcome.note).history_index == 4


def test_an_older_result_walks_its_session_back_before_dragging():
    note = LayerNote("s-existing", "faces-128", 1, seed=7, truncation=0.5).to_json()
    daemon = FakeDaemon()
    outcome, _ = run(FakeDocument(path_list=ONE_STROKE, layer_note=note), daemon)
    assert [c[0] for c in daemon.calls] == ["undo", "undo", "drag"] and outcome.error is None
    assert LayerNote.read(outcome.note).history_index == 2  # the daemon dropped states 2 and 3 (a new branch)


def test_a_result_whose_state_was_replaced_is_refused_not_dragged_from_the_wrong_latent():
    note = LayerNote("s-existing", "faces-128", 2, seed=7, truncation=0.5).to_json()
    daemon = FakeDaemon()
    daemon.history["s-existing"][2] = (Image.filled("RGBA", 16, 12, (9, 9, 9, 255)), (0, 0))  # another drag's
    outcome, _ = run(FakeDocument(path_list=ONE_STROKE, layer_note=note), daemon)
    assert "no longer in its daemon session" in outcome.error and outcome.pixels is None
    assert "drag" not in [c[0] for c in daemon.calls]


def test_a_result_whose_session_is_gone_gets_advice_not_a_traceback():
    note = LayerNote("s-expired", "faces-128", 2, seed=7, truncation=0.5).to_json()
    outcome, _ = run(FakeDocument(path_list=ONE_STROKE, layer_note=note), FakeDaemon())
    assert outcome.pixels is None and "Drag the layer this result came from again" in outcome.error


def test_a_layer_dragd_did_not_make_is_opened_from_the_selection_then_dragged():
    mask = Image.mask(16, 12, bytes(16 * 2) + (bytes(2) + b"\xff" * 10 + bytes(4)) * 6 + bytes(16 * 4))
    document = FakeDocument(path_list=ONE_STROKE, mask=mask)
    daemon = FakeDaemon()
    outcome, feedback = run(document, daemon, DragSettings(model="cats"))
    kind, (image, model, region, sent_mask) = daemon.calls[0]
    assert kind == "open_session" and image is document.source and model == "cats"
    assert region == (2, 2, 10, 6) and sent_mask is mask  # the selection's bounding box; the selection
    assert any("opening the layer (projection 2/4)" in text for _, text in feedback.updates)
    assert daemon.calls[1][0] == "drag" and daemon.calls[1][1][0] == "s-open"
    assert outcome.error is None and LayerNote.read(outcome.note) == LayerNote("s-open", "cats", 1)
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
    outcome, _ = run(FakeDocument(width=20, path_list=[("p", True, [[(1, 1), (2, 2)]])], layer_note=GENERATED),
                     FakeDaemon(size=(16, 12)))
    assert "resized" in outcome.error


def test_cancel_keeps_nothing_and_tells_the_daemon():
    cancel = threading.Event()
    daemon = FakeDaemon(steps=10)
    daemon.on_step = lambda step: cancel.set() if step == 2 else None
    outcome, _ = run(FakeDocument(path_list=ONE_STROKE, layer_note=GENERATED), daemon, cancel=cancel)
    assert outcome.cancelled and outcome.pixels is None and outcome.error is None
    assert ("cancel", None) in daemon.calls
    assert sum(1 for c in daemon.calls if c[0] == "cancel") == 1


def test_live_previews_show_the_whole_layer_with_the_preview_pasted_in():
    daemon = FakeDaemon(steps=4)
    outcome, feedback = run(FakeDocument(path_list=ONE_STROKE, layer_note=GENERATED), daemon, preview_every=2)
    assert daemon.calls[1][1][3].preview_every == 2
    assert len(feedback.previews) == 2
    assert feedback.previews[0].pixel(*daemon.patch_offset) == daemon.patch_colour
    assert feedback.previews[0].pixel(0, 0) == outcome.pixels.pixel(0, 0)


def test_a_daemon_that_returns_the_wrong_number_of_points_is_reported():
    daemon = FakeDaemon()
    daemon.wrong_point_count = True
    outcome, _ = run(FakeDocument(path_list=ONE_STROKE, layer_note=GENERATED), daemon)
    assert "0 tracked points for 1 point pairs" in outcome.error


@pytest.mark.parametrize("error", [
    DragdTimeout("no answer from the dragd daemon at tcp://127.0.0.1:1 within 5 s"),
    DragdError(ErrorCode.UNAVAILABLE, "no daemon"),
])
def test_no_daemon_is_a_message(error):
    def connect(address: str):
        raise error

    outcome = drag.drag_layer(FakeDocument(path_list=ONE_STROKE, layer_note=GENERATED), DragSettings(),
                              RecordingFeedback(), threading.Event(), connect=connect)
    assert outcome.error.startswith("DragGAN: ") and "dragd" in outcome.error


def test_the_address_setting_reaches_connect():
    seen = []

    def connect(address: str):
        seen.append(address)
        return FakeDaemon()

    drag.drag_layer(FakeDocument(path_list=ONE_STROKE, layer_note=GENERATED), DragSettings(address="tcp://h:1"),
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


# ---- new from model, notes, dependencies ---------------------------------------------------------------------


def test_new_from_model_returns_the_image_and_a_note_that_finds_the_latent_again():
    daemon = FakeDaemon()
    outcome = drag.generate_layer(GenerateSettings(model="", seed=42, truncation=0.6), RecordingFeedback(),
                                  connect=lambda address: daemon)
    # The session is closed at once: it belongs to this plug-in process, which ends; drags generate it again.
    assert daemon.calls == [("generate", (42, None, 0.6)), ("close_session", "s-gen-42")] and daemon.closed
    assert outcome.error is None and outcome.pixels.pixel(0, 0) == (42, 1, 2, 255)
    assert LayerNote.read(outcome.note) == LayerNote("s-gen-42", "faces-128", 0, 42, 0.6)
    assert outcome.layer_name == "DragGAN faces-128 seed 42"


def test_new_from_model_errors_are_messages():
    def connect(address: str):
        raise DragdError(ErrorCode.UNKNOWN_MODEL, "no model named 'zebras'")

    outcome = drag.generate_layer(GenerateSettings(model="zebras"), RecordingFeedback(), connect=connect)
    assert outcome.error == "DragGAN: no model named 'zebras'" and outcome.pixels is None


@pytest.mark.parametrize("raw", [None, {}, {"session": 3, "model": "m"}, {"session": "s"}, {"x": 1},
                                 {"session": "s", "model": "m", "history_index": "0"}])
def test_a_missing_or_foreign_note_reads_as_none(raw):
    assert LayerNote.read(raw) is None


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
    outcome = drag.drag_layer(FakeDocument(path_list=ONE_STROKE, layer_note=GENERATED), DragSettings(),
                              RecordingFeedback(), threading.Event())
    assert "Cannot start the dragd daemon" in outcome.error and "/nonexistent/bin/dragd" in outcome.error
