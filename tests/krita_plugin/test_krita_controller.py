"""The docker's logic (krita_plugin/controller.py, resume.py) against a fake Krita, a fake daemon and a
synchronous runner: which layer is dragged, from which state, and what lands in the document."""

from __future__ import annotations

import pytest
from dragd.krita_plugin.connection import Connection, connect_to_daemon
from dragd.krita_plugin.controller import DragController, PanelState
from dragd.krita_plugin.errors import CanvasError
from dragd.krita_plugin.texts import describe_error
from dragd.protocol import Capability, DragdError, DragdTimeout, DragOptions, ErrorCode, GenerateRequest, Image
from dragd.protocol.editor import DEFAULT_DAEMON_COMMAND
from dragd.protocol.messages import InversionOptions, Waiting
from dragd.protocol.texts import BAD_MODEL_ADVICE
from krita_fakes import (
    MODEL,
    SIZE,
    FakeCanvas,
    FakeDaemon,
    FakeWorkspace,
    RecordingView,
    SyncRunner,
    dragged_image,
    seed_image,
)

SOURCE = "DragGAN faces-8 seed 7"
LINE = {"a": [(4.5, 5.5), (4.5, 0.5)]}


def make(canvas: FakeCanvas | None = None, daemon: FakeDaemon | None = None, started: bool = False,
         view: RecordingView | None = None):
    workspace = FakeWorkspace([canvas] if canvas is not None else [])
    daemons = [daemon or FakeDaemon()]
    view = view or RecordingView()
    runner = SyncRunner()

    def connector(connection, report):
        report("starting the daemon")
        return daemons[-1], daemons[-1].hello(), started

    controller = DragController(workspace, view, runner, connector, Connection("tcp://127.0.0.1:5557"),
                                preview_every=2)
    controller.daemons = daemons  # tests append a new daemon to "restart" it
    return controller, workspace, daemons[0], view, runner


def generated(lines=LINE, **kwargs):
    """A connected controller whose document holds a generated layer and drag lines (corner pixels)."""
    canvas = kwargs.pop("canvas", None) or FakeCanvas()
    controller, workspace, daemon, view, runner = make(canvas, **kwargs)
    controller.connect()
    controller.new_from_model(GenerateRequest(seed=7))
    canvas.lines = {line: list(nodes) for line, nodes in lines.items()}
    return controller, canvas, daemon, view


def blue(image: Image) -> int:
    return image.tight().data[2]


# ---- connection ----------------------------------------------------------------------------------------------


def test_connect_shows_the_daemon_and_whether_the_plugin_started_it() -> None:
    controller, _, _, view, _ = make(FakeCanvas(), started=True)
    controller.connect()
    assert "starting the daemon" in [state.connection for state in view.states]
    state = controller.state
    assert state.connected and state.models == (MODEL,) and state.error == ""
    assert "started by this plugin" in state.connection and "cpu" in state.connection


def test_a_daemon_that_cannot_be_reached_is_explained_not_raised() -> None:
    def connector(connection, report):
        raise DragdError(ErrorCode.UNAVAILABLE, "Cannot start the dragd daemon: the command 'dragd' was not found.")

    controller = DragController(FakeWorkspace([FakeCanvas()]), RecordingView(), SyncRunner(), connector,
                                Connection())
    controller.drag(DragOptions())  # Drag connects by itself; that fails, and says why
    state = controller.state
    assert not state.connected and not state.busy
    assert "'dragd' was not found" in state.error and "dragd serve" in state.error


def test_a_garbage_address_gets_a_sentence_not_a_zmq_error() -> None:
    with pytest.raises(DragdError) as caught:
        connect_to_daemon(Connection("no such address"), lambda _: None)
    assert caught.value.code == ErrorCode.BAD_REQUEST
    assert "'no such address' cannot be used: it has no transport" in caught.value.message
    assert "tcp://127.0.0.1:5557" in caught.value.message and "kritarc" in caught.value.message


def test_connection_comes_from_the_environment_then_krita_settings_then_defaults() -> None:
    workspace = FakeWorkspace(settings={"address": "tcp://127.0.0.1:6000", "daemon_command": "/opt/dragd serve"})
    assert Connection.from_settings(workspace, env={}) == Connection("tcp://127.0.0.1:6000", ("/opt/dragd", "serve"))
    env = {"DRAGD_ADDRESS": "ipc:///tmp/d", "DRAGD_DAEMON_COMMAND": "'/my dir/dragd' serve --address {address}"}
    assert Connection.from_settings(workspace, env=env) == \
        Connection("ipc:///tmp/d", ("/my dir/dragd", "serve", "--address", "{address}"))
    assert Connection.from_settings(FakeWorkspace(), env={}) == Connection("tcp://127.0.0.1:5557",
                                                                           DEFAULT_DAEMON_COMMAND)


# ---- new from model --------------------------------------------------------------------------------------------


def test_new_from_model_adds_a_bound_layer_below_the_points_layer() -> None:
    canvas = FakeCanvas(width=10, height=9)
    controller, _, daemon, _, _ = make(canvas)
    controller.new_from_model(GenerateRequest(seed=7, model=None, truncation=0.5))  # connects first, by itself
    assert ("generate", (7, None, 0.5)) in daemon.calls
    assert canvas.names() == ["Background", SOURCE, "DragGAN points"]
    layer = canvas.layer(SOURCE)
    assert layer.pixels == seed_image(7) and canvas.active == canvas.layer("DragGAN points").id
    binding = canvas.annotation[layer.id]
    assert (binding.state, binding.kind, binding.seed, binding.truncation) == (0, "generated", 7, 0.5)
    assert binding.frame == (0, 0, *SIZE) and binding.shows(canvas.layer_digest(layer.id))
    assert daemon.pictures[binding.latent.full()] == seed_image(7)
    state = controller.state
    assert not state.busy and state.error == "" and f'Drag edits "{SOURCE}"' in state.session


def test_documents_too_small_are_refused_before_asking_the_daemon() -> None:
    controller, _, daemon, _, _ = make(FakeCanvas(width=4, height=4))
    controller.new_from_model(GenerateRequest(seed=1))
    assert "4x4 pixels, smaller than the 8x6 images" in controller.state.error
    assert "generate" not in daemon.names()


# ---- drag: what is sent, what comes back -------------------------------------------------------------------------


def test_drag_sends_the_lines_in_protocol_pixels_with_the_selection_and_the_options() -> None:
    canvas = FakeCanvas(width=10, height=9)
    mask = bytearray(10 * 9)
    for y in range(0, 6):
        mask[y * 10:y * 10 + 6] = b"\xff" * 6
    canvas.mask = Image.mask(10, 9, bytes(mask))
    controller, canvas, daemon, _ = generated(canvas=canvas)
    controller.drag(DragOptions(max_steps=3, step_size=0.01, latent_space="w", mask_strength=5.0))
    (call,) = [detail for name, detail in daemon.calls if name == "drag"]
    assert [(p.handle, p.target) for p in call["points"]] == [((4.0, 5.0), (4.0, 0.0))]
    assert (call["mask"].width, call["mask"].height) == SIZE  # the selection over the model's square
    assert call["options"].step_size == 0.01 and call["options"].latent_space == "w"
    assert call["options"].preview_every == 2


def test_drag_moves_the_handles_and_adds_a_bound_result_above_the_source_which_stays() -> None:
    controller, canvas, daemon, view = generated()
    controller.state = controller.state.__class__(**{**controller.state.__dict__, "error": "an old problem"})
    controller.drag(DragOptions(max_steps=3))
    assert canvas.names() == ["Background", SOURCE, "DragGAN result 1", "DragGAN points"]
    assert canvas.layer(SOURCE).pixels == seed_image(7) and canvas.layer(SOURCE).writes == 1  # made, not changed
    result = canvas.layer("DragGAN result 1")
    assert result.pixels == dragged_image(seed_image(7), 3)
    binding = canvas.annotation[result.id]
    assert binding.state == 1 and binding.shows(canvas.layer_digest(result.id))
    assert canvas.lines["a"] == [(4.5, 2.5), (4.5, 0.5)]  # handle where the daemon tracked it; target kept
    assert any(state.progress == pytest.approx(2 / 3) for state in view.states)
    state = controller.state
    assert state.error == "" and "Result: \"DragGAN result 1\"" in state.message, "a stale error stayed"
    assert 'Drag edits "DragGAN result 1"' in state.session  # the points layer is active: the layer under it


def test_a_second_drag_continues_from_the_first_without_restoring() -> None:
    controller, canvas, daemon, _ = generated()
    controller.drag(DragOptions(max_steps=2))
    controller.drag(DragOptions(max_steps=2))
    assert canvas.names()[-3:] == ["DragGAN result 1", "DragGAN result 2", "DragGAN points"]
    assert "restore" not in daemon.names() and "open_session" not in daemon.names()
    assert blue(canvas.layer("DragGAN result 2").pixels) == 20 + 32


def test_waiting_at_position_zero_does_not_replace_the_progress_message() -> None:
    controller, canvas, daemon, view = generated()
    original = daemon.drag

    def drag(*args, **kwargs):
        kwargs["on_progress"] = args[4] if len(args) > 4 else kwargs.get("on_progress")
        kwargs["on_progress"](Waiting(0))
        kwargs["on_progress"](Waiting(2))
        return original(*args[:4], **kwargs)

    daemon.drag = drag
    controller.drag(DragOptions(max_steps=1))
    messages = [state.message for state in view.states]
    assert not any("0 request" in m for m in messages) and any("(2 requests ahead)" in m for m in messages)


# ---- the state a drag starts from -------------------------------------------------------------------------------


def test_after_kritas_own_undo_the_next_drag_starts_from_the_layer_shown() -> None:
    controller, canvas, daemon, _ = generated()
    controller.drag(DragOptions(max_steps=2))
    controller.drag(DragOptions(max_steps=2))
    canvas.remove_layer(canvas.layer("DragGAN result 2").id)  # Ctrl+Z of the second result
    controller.drag(DragOptions(max_steps=2))
    assert canvas.names()[-3:] == ["DragGAN result 1", "DragGAN result 2", "DragGAN points"]
    assert blue(canvas.layer("DragGAN result 2").pixels) == 20 + 32, "the undone edit came back"
    assert daemon.names().count("restore") == 1 and "open_session" not in daemon.names()


def test_docker_undo_then_kritas_undo_then_docker_redo_makes_no_second_layer() -> None:
    controller, canvas, daemon, _ = generated()
    controller.drag(DragOptions(max_steps=2))
    result = canvas.layer("DragGAN result 1")
    controller.undo()
    assert "DragGAN result 1" not in canvas.names() and controller.state.can_redo
    canvas.layers.insert(2, result)  # Krita's Ctrl+Z puts the removed layer back
    controller.redo()
    assert canvas.names().count("DragGAN result 1") == 1 and "already" in controller.state.message
    controller.undo()
    controller.redo()
    assert canvas.names().count("DragGAN result 1") == 1
    assert canvas.layer("DragGAN result 1").pixels == result.pixels
    controller.drag(DragOptions(max_steps=2))  # from the put-back layer: restored, not re-inverted
    assert canvas.names()[-2:] == ["DragGAN result 2", "DragGAN points"]
    assert "open_session" not in daemon.names()


def test_undo_of_a_layer_that_is_not_a_result_says_so() -> None:
    controller, canvas, _, _ = generated()
    controller.undo()
    assert "Nothing to undo" in controller.state.error and SOURCE in canvas.names()
    controller.redo()
    assert "Nothing to redo" in controller.state.error


def test_a_restarted_daemon_rebuilds_a_generated_layer_from_the_document() -> None:
    controller, canvas, daemon, _ = generated()
    controller.drag(DragOptions(max_steps=2))
    restarted = FakeDaemon(pictures=daemon.pictures)  # a new daemon: no sessions; same model
    controller.daemons.append(restarted)
    controller._lost_connection()  # what a timeout does
    controller.drag(DragOptions(max_steps=2))  # reconnects by itself, then rebuilds
    # First into the old session (the daemon may still have it), then a new session of the model from the latent.
    assert restarted.names()[:4] == ["hello", "restore", "restore", "drag"]
    assert restarted.calls[2][1] == (None, MODEL.name)
    assert blue(canvas.layer("DragGAN result 2").pixels) == 20 + 32
    assert "rebuilt it from the state saved in the document" in controller.state.message


def test_a_painted_over_result_is_a_new_photo() -> None:
    controller, canvas, daemon, _ = generated()
    daemon.capabilities += (Capability.INVERT,)
    controller.hello = daemon.hello()
    controller.drag(DragOptions(max_steps=2))
    result = canvas.layer("DragGAN result 1")
    result.pixels = Image.filled("RGBA", *SIZE, (1, 2, 3, 255))  # the user painted on it
    controller.drag(DragOptions(max_steps=2))
    assert "open_session" in daemon.names() and "its pixels changed since DragGAN made it" in controller.state.message
    assert canvas.annotation[result.id].kind == "opened"  # bound now: dragging it again restores, no inversion
    canvas.remove_layer(canvas.layer("DragGAN result 2").id)
    controller.drag(DragOptions(max_steps=2))
    assert daemon.names().count("open_session") == 1


@pytest.mark.parametrize("paste", [None, "reconstruction"])
def test_the_paste_mode_chosen_goes_to_open_session_carry_by_default(paste: str | None) -> None:
    controller, canvas, daemon, _ = generated()
    daemon.capabilities += (Capability.INVERT,)
    controller.hello = daemon.hello()
    canvas.layer(SOURCE).pixels = Image.filled("RGBA", *SIZE, (9, 8, 7, 255))  # painted over: a photo now
    controller.drag(DragOptions(max_steps=1), None if paste is None else InversionOptions(paste=paste))
    (options,) = [detail[4] for name, detail in daemon.calls if name == "open_session"]
    assert options.paste == (paste or "carry") and controller.state.error == ""


# ---- which layer, which lines -----------------------------------------------------------------------------------


def test_the_layer_under_the_points_layer_is_dragged_not_an_older_session() -> None:
    controller, canvas, daemon, _ = generated()
    controller.new_from_model(GenerateRequest(seed=9))  # a second generated layer, now right under the points
    canvas.lines = dict(LINE)
    controller.drag(DragOptions(max_steps=1))
    second = canvas.layer("DragGAN faces-8 seed 9")
    (call,) = [detail for name, detail in daemon.calls if name == "drag"]
    assert call["session"] == canvas.annotation[second.id].session
    assert canvas.names()[-3:] == ["DragGAN faces-8 seed 9", "DragGAN result 1", "DragGAN points"]


def test_a_layer_the_user_selects_is_dragged_and_named() -> None:
    controller, canvas, daemon, _ = generated()
    controller.drag(DragOptions(max_steps=1))
    canvas.active = canvas.layer(SOURCE).id
    controller.refresh_points()
    assert f'Drag edits "{SOURCE}"' in controller.state.session
    controller.drag(DragOptions(max_steps=1))
    assert canvas.names()[1:3] == [SOURCE, "DragGAN result 2"]  # right above the layer dragged
    assert blue(canvas.layer("DragGAN result 2").pixels) == 20 + 16


@pytest.mark.parametrize(("kind", "expected"), [
    ("vectorlayer", "is a vector layer (shapes or text): DragGAN moves the pixels of paint layers"),
    ("grouplayer", "is a group: select the paint layer inside it"),
    ("filllayer", "is a fill layer"),
])
def test_layers_that_are_not_paint_layers_are_explained(kind: str, expected: str) -> None:
    controller, canvas, daemon, _ = generated()
    canvas.active = canvas.add_user_layer("Title", seed_image(1), kind).id
    controller.drag(DragOptions())
    assert f'"Title" {expected}' in controller.state.error and "drag" not in daemon.names()


def test_lines_keep_their_identity_when_krita_reorders_the_shapes() -> None:
    lines = {"a": [(2.5, 4.5), (2.5, 1.5)], "b": [(6.5, 1.5), (6.5, 4.5)], "c": [(1.5, 1.5), (3, 2), (4, 2),
                                                                             (4.5, 1.5)]}
    controller, canvas, daemon, _ = generated(lines=lines)
    controller.drag(DragOptions(max_steps=1))
    canvas.lines = {"c": canvas.lines["c"], "b": canvas.lines["b"], "a": canvas.lines["a"]}  # new order
    controller.drag(DragOptions(max_steps=1))
    assert canvas.lines["a"] == [(2.5, 2.5), (2.5, 1.5)]  # up two steps in all, towards its own target
    assert canvas.lines["b"] == [(6.5, 3.5), (6.5, 4.5)]
    assert canvas.lines["c"][0] == (1.5, 1.5) and canvas.lines["c"][-1] == (4.5, 1.5)


def test_a_deleted_points_layer_is_named_as_the_problem() -> None:
    controller, canvas, daemon, _ = generated()
    canvas.remove_layer(canvas.layer("DragGAN points").id)
    canvas.active = canvas.layer(SOURCE).id
    controller.drag(DragOptions())
    assert 'There is no "DragGAN points" layer (it was deleted, or never added)' in controller.state.error


@pytest.mark.parametrize(("lines", "expected"), [
    ({}, "There are no drag lines yet"),
    ({"a": [(1.5, 1.5), (1.5, 1.5)]}, "all its points on one spot"),
    ({"a": [(1.5, 1.5), (20.0, 1.5)]}, "outside the layer"),
])
def test_bad_lines_are_explained_without_asking_the_daemon(lines, expected) -> None:
    controller, canvas, daemon, _ = generated(lines=lines)
    controller.drag(DragOptions())
    assert expected in controller.state.error
    assert "drag" not in daemon.names() and not controller.state.busy


# ---- selection ------------------------------------------------------------------------------------------------


def test_a_generated_layer_changes_only_inside_the_selection_and_partly_where_it_is_soft() -> None:
    canvas = FakeCanvas()
    weights = bytearray(SIZE[0] * SIZE[1])
    weights[0:8] = b"\xff" * 8  # row 0 fully selected
    weights[8:16] = b"\x80" * 8  # row 1 half
    canvas.mask = Image.mask(*SIZE, bytes(weights))
    controller, canvas, daemon, _ = generated(canvas=canvas, lines={"a": [(4.5, 0.5), (4.5, 1.5)]})
    controller.drag(DragOptions(max_steps=3))
    (call,) = [detail for name, detail in daemon.calls if name == "drag"]
    assert call["mask"].tight().data == bytes(weights), "the selection's softness was not sent as it is"
    source = seed_image(7).tight().data
    result = canvas.layer("DragGAN result 1").pixels.tight().data
    row = SIZE[0] * 4
    assert result[2 * row:] == source[2 * row:], "pixels outside the selection changed"
    assert result[1] == 3 and result[2] == 20 + 16  # row 0: the whole change (green 10 -> 3, blue +16)
    assert result[row + 1] == round(10 + (3 - 10) * 128 / 255) and result[row + 2] == round(20 + 16 * 128 / 255)


def test_a_handle_outside_the_selection_is_explained() -> None:
    canvas = FakeCanvas()
    canvas.mask = Image.mask(*SIZE, b"\xff" * 8 + b"\0" * 40)  # only the top row may move
    controller, canvas, daemon, _ = generated(canvas=canvas)
    controller.drag(DragOptions())
    assert "outside the selection" in controller.state.error and "drag" not in daemon.names()


# ---- interruptions ----------------------------------------------------------------------------------------------


def test_closing_the_document_mid_drag_cancels_it_and_writes_nothing() -> None:
    controller, canvas, daemon, _ = generated()
    controller.runner.hold_next = True
    controller.drag(DragOptions(max_steps=3))
    canvas.open = False
    controller.poll()
    assert "cancel" in daemon.names() and "document was closed" in controller.state.message
    controller.runner.release()
    state = controller.state
    assert not state.busy and state.error == "" and "nothing was written" in state.message
    assert canvas.names() == ["Background", SOURCE, "DragGAN points"]


def test_a_document_not_in_front_gets_no_writes_until_it_is_shown_again() -> None:
    # Krita writes some changes through the document in front (libkis Shape.remove), and a document being
    # closed leaves the front at once: the job's document gets no preview, no handle move and no result while
    # another document is in front; the result is written once it is back in front.
    controller, canvas, daemon, _ = generated(daemon=FakeDaemon(steps=4))
    workspace = controller.workspace
    controller.runner.hold_next = True
    controller.drag(DragOptions(max_steps=4))
    other = FakeCanvas(name="other")
    workspace.canvases.append(other)  # the user switched to another document mid-drag
    controller.runner.release()
    assert canvas.handle_moves == [] and canvas.previews == [] and other.handle_moves == [] == other.previews
    assert canvas.names() == ["Background", SOURCE, "DragGAN points"] and other.names() == ["Background"]
    state = controller.state
    assert not state.busy and state.error == "" and "when you show that document again" in state.message
    controller.poll()  # still behind: still nothing
    assert canvas.names() == ["Background", SOURCE, "DragGAN points"]
    workspace.canvases.remove(other)  # back in front
    controller.poll()
    assert canvas.names() == ["Background", SOURCE, "DragGAN result 1", "DragGAN points"]
    assert canvas.layer("DragGAN result 1").pixels == dragged_image(seed_image(7), 4)
    assert canvas.lines["a"][0] != LINE["a"][0] and "Result: \"DragGAN result 1\"" in controller.state.message


def test_a_held_result_of_a_document_closed_behind_is_dropped() -> None:
    controller, canvas, daemon, _ = generated()
    controller.runner.hold_next = True
    controller.drag(DragOptions(max_steps=3))
    controller.workspace.canvases.append(FakeCanvas(name="other"))
    controller.runner.release()
    canvas.open = False
    controller.poll()
    controller.poll()
    assert canvas.names() == ["Background", SOURCE, "DragGAN points"] and controller._held == []
    assert "closed before its drag's result" in controller.state.message


def test_stop_cancels_and_keeps_the_state_reached() -> None:
    class StopAtStepTwo(RecordingView):
        def render(self, state: PanelState) -> None:
            super().render(state)
            if state.dragging and state.progress >= 2 / 10:
                controller.stop()

    controller, canvas, daemon, _ = generated(daemon=FakeDaemon(steps=10), view=StopAtStepTwo())
    controller.drag(DragOptions(max_steps=10))
    assert daemon.names().count("cancel") == 1  # once, however often Stop is pressed
    assert "stopped; kept the image" in controller.state.message
    assert canvas.layer("DragGAN result 1").pixels == dragged_image(seed_image(7), 2)


def test_a_second_job_while_busy_is_refused_with_a_message() -> None:
    controller, canvas, daemon, _ = generated()
    controller.runner.hold_next = True
    controller.drag(DragOptions(max_steps=3))
    controller.new_from_model(GenerateRequest(seed=1))
    controller.drag(DragOptions())
    assert "busy" in controller.state.error
    controller.runner.release()
    assert not controller.state.busy and daemon.names().count("drag") == 1


def test_a_daemon_that_stops_answering_is_dropped_and_the_next_drag_connects_again() -> None:
    daemon = FakeDaemon(fail={"drag": DragdTimeout("no answer from the dragd daemon within 10 s")})
    controller, canvas, daemon, _ = generated(daemon=daemon)
    controller.drag(DragOptions())
    state = controller.state
    assert not state.connected and "next Drag or New from model starts it again" in state.connection
    assert "no answer" in state.error.lower() and daemon.closed
    controller.daemons.append(FakeDaemon(pictures=daemon.pictures))
    controller.drag(DragOptions(max_steps=1))
    assert controller.state.connected and "DragGAN result 1" in canvas.names()


def test_a_bug_in_the_plugin_becomes_a_message_not_a_traceback() -> None:
    controller, canvas, daemon, _ = generated()

    def broken(*args, **kwargs):
        raise CanvasError("That layer is gone from the document.")

    canvas.add_layer = broken
    controller.drag(DragOptions(max_steps=2))
    assert controller.state.error == "That layer is gone from the document." and not controller.state.busy


def test_heartbeat_keeps_sessions_and_close_frees_them() -> None:
    controller, canvas, daemon, _ = generated()
    (session,) = controller.sessions
    controller.heartbeat()
    assert ("heartbeat", (session,)) in daemon.calls
    daemon.sessions.clear()
    controller.heartbeat()
    assert controller.sessions == {}
    controller.new_from_model(GenerateRequest(seed=2))
    controller.close()
    assert daemon.closed and daemon.names()[-1] == "close_session"


# ---- words ------------------------------------------------------------------------------------------------------


def test_error_messages_are_sentences_with_advice() -> None:
    text = describe_error(DragdError(ErrorCode.TIMEOUT, "no answer"))
    assert text.startswith("No answer") and "Press Drag again" in text
    text = describe_error(DragdError(ErrorCode.BAD_MODEL, "the model file cannot be used: not a generator"))
    assert text.startswith("The model file cannot be used") and text.endswith(BAD_MODEL_ADVICE)
