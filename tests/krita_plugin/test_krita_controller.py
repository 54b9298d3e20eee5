"""The docker's logic (krita_plugin/controller.py) against a fake Krita, a fake daemon and a synchronous runner."""

from __future__ import annotations

import pytest
from dragd.krita_plugin.controller import Connection, DragController, PanelState, describe_error, next_layer_name
from dragd.krita_plugin.errors import CanvasError
from dragd.protocol import Capability, DragdError, DragdTimeout, DragOptions, ErrorCode, GenerateRequest, Image
from dragd.protocol.editor import DEFAULT_DAEMON_COMMAND
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


def make(canvas: FakeCanvas | None = None, daemon: FakeDaemon | None = None, started: bool = False,
         view: RecordingView | None = None):
    workspace = FakeWorkspace([canvas] if canvas is not None else [])
    daemon = daemon or FakeDaemon()
    view = view or RecordingView()
    runner = SyncRunner()

    def connector(connection, report):
        report("starting the daemon")
        return daemon, daemon.hello(), started

    controller = DragController(workspace, view, runner, connector, Connection("tcp://127.0.0.1:5557"),
                                preview_every=2)
    return controller, workspace, daemon, view, runner


def generated(lines=((4.5, 3.5), (4.5, 1.5)), **kwargs):
    """A connected controller whose document holds a generated layer and one drag line (corner pixels)."""
    canvas = kwargs.pop("canvas", None) or FakeCanvas()
    controller, workspace, daemon, view, runner = make(canvas, **kwargs)
    controller.connect()
    controller.new_from_model(GenerateRequest(seed=7))
    canvas.lines = [list(lines)] if lines else []
    return controller, canvas, daemon, view


# ---- connection ----------------------------------------------------------------------------------------------


def test_connect_shows_the_daemon_and_whether_the_plugin_started_it() -> None:
    controller, _, _, view, _ = make(FakeCanvas(), started=True)
    controller.connect()
    texts = [state.connection for state in view.states]
    assert "starting the daemon" in texts  # the worker's report reached the panel while it waited
    state = controller.state
    assert state.connected and state.models == (MODEL,) and state.error == ""
    assert "started by this plugin" in state.connection and "cpu" in state.connection
    controller2, _, _, _, _ = make(FakeCanvas(), started=False)
    controller2.connect()
    assert "already running" in controller2.state.connection


def test_a_daemon_that_cannot_be_reached_is_explained_not_raised() -> None:
    view = RecordingView()
    workspace = FakeWorkspace([FakeCanvas()])

    def connector(connection, report):
        raise DragdError(ErrorCode.UNAVAILABLE, "Cannot start the dragd daemon: the command 'dragd' was not found.")

    controller = DragController(workspace, view, SyncRunner(), connector, Connection())
    controller.connect()
    state = controller.state
    assert not state.connected and not state.busy
    assert "'dragd' was not found" in state.error and "dragd serve" in state.error
    controller.drag(DragOptions())  # nothing to talk to: said, not raised
    assert "Not connected" in controller.state.error


def test_connection_comes_from_the_environment_then_krita_settings_then_defaults() -> None:
    workspace = FakeWorkspace(settings={"address": "tcp://127.0.0.1:6000", "daemon_command": "/opt/dragd serve"})
    assert Connection.from_settings(workspace, env={}) == Connection("tcp://127.0.0.1:6000", ("/opt/dragd", "serve"))
    env = {"DRAGD_ADDRESS": "ipc:///tmp/d", "DRAGD_DAEMON_COMMAND": "'/my dir/dragd' serve --address {address}"}
    assert Connection.from_settings(workspace, env=env) == \
        Connection("ipc:///tmp/d", ("/my dir/dragd", "serve", "--address", "{address}"))
    assert Connection.from_settings(FakeWorkspace(), env={}) == Connection("tcp://127.0.0.1:5557",
                                                                           DEFAULT_DAEMON_COMMAND)


# ---- new from model --------------------------------------------------------------------------------------------


def test_new_from_model_adds_the_generated_layer_below_the_points_layer_and_opens_a_session() -> None:
    canvas = FakeCanvas(width=10, height=9)
    controller, workspace, daemon, view, _ = make(canvas)
    controller.connect()
    controller.new_from_model(GenerateRequest(seed=7, model=None, truncation=0.5))
    assert ("generate", (7, None, 0.5)) in daemon.calls
    assert canvas.names() == ["Background", SOURCE, "DragGAN points"]
    assert canvas.layer(SOURCE).pixels == seed_image(7)
    assert canvas.active == canvas.layer("DragGAN points").id  # ready to draw the lines
    state = controller.state
    assert not state.busy and state.error == "" and "DragGAN points" in state.message
    assert SOURCE in state.session and not state.can_undo and not state.can_redo


def test_new_from_model_without_a_document_makes_one_of_the_images_size() -> None:
    controller, workspace, _, _, _ = make(None)
    controller.connect()
    controller.new_from_model(GenerateRequest(seed=3))
    (canvas,) = workspace.canvases
    assert canvas.size() == SIZE and canvas.names()[-2:] == ["DragGAN faces-8 seed 3", "DragGAN points"]


def test_documents_too_small_or_not_8_bit_rgba_are_refused_before_asking_the_daemon() -> None:
    controller, _, daemon, _, _ = make(FakeCanvas(width=4, height=4))
    controller.connect()
    controller.new_from_model(GenerateRequest(seed=1))
    assert "4x4 pixels, smaller than the 8x6 images" in controller.state.error
    controller, _, daemon, _, _ = make(FakeCanvas(colour="DragGAN works on 8-bit RGBA documents"))
    controller.connect()
    controller.new_from_model(GenerateRequest(seed=1))
    assert controller.state.error.startswith("DragGAN works on 8-bit RGBA")
    assert "generate" not in daemon.names()


# ---- drag ------------------------------------------------------------------------------------------------------


def test_drag_sends_the_lines_in_protocol_pixels_with_the_selection_and_the_options() -> None:
    canvas = FakeCanvas(width=10, height=9)
    mask = bytearray(10 * 9)
    for y in range(0, 5):
        mask[y * 10:y * 10 + 6] = b"\xff" * 6
    canvas.mask = Image.mask(10, 9, bytes(mask))
    controller, canvas, daemon, _ = generated(canvas=canvas)
    controller.drag(DragOptions(max_steps=3, step_size=0.01, latent_space="w", mask_strength=5.0))
    (_, sent), = [call for call in daemon.calls if call[0] == "drag"]
    assert sent["session"] == "s1"
    assert [(p.handle, p.target) for p in sent["points"]] == [((4.0, 3.0), (4.0, 1.0))]  # corner -> centre
    assert sent["mask"] == canvas.mask.crop(0, 0, *SIZE)  # the document's selection, cut to the image's frame
    assert sent["options"] == DragOptions(max_steps=3, step_size=0.01, latent_space="w", mask_strength=5.0,
                                          preview_every=2)


def test_drag_shows_progress_moves_the_handles_and_adds_a_result_layer_leaving_the_source_alone() -> None:
    controller, canvas, daemon, view = generated()
    source = canvas.layer(SOURCE)
    controller.drag(DragOptions(max_steps=3))
    # Each progress step moved the line's handle to the tracked point (centre -> corner: + 0.5), target kept.
    assert canvas.handle_moves[:3] == [[(4.5, 2.5)], [(4.5, 1.5)], [(4.5, 1.5)]]
    assert canvas.lines == [[(4.5, 1.5), (4.5, 1.5)]]
    assert [s.progress for s in view.states if s.dragging and s.progress > 0] == [1 / 3, 2 / 3, 1.0]
    assert canvas.previews == [dragged_image(seed_image(7), 2)]  # every preview_every steps, pasted on the base
    assert canvas.names() == ["Background", SOURCE, "DragGAN result 1", "DragGAN points"]  # preview removed
    assert canvas.layer("DragGAN result 1").pixels == dragged_image(seed_image(7), 3)
    assert source.writes == 1 and source.pixels == seed_image(7)  # written once, when generated
    state = controller.state
    assert not state.busy and not state.dragging and state.error == ""
    assert "Done after 3 steps" in state.message and "DragGAN result 1" in state.message
    assert state.can_undo and not state.can_redo


def test_a_second_drag_continues_from_the_first_and_stacks_its_layer_above() -> None:
    controller, canvas, daemon, _ = generated()
    controller.drag(DragOptions(max_steps=3))
    canvas.lines = [[(4.5, 5.5), (4.5, 2.5)]]
    controller.drag(DragOptions(max_steps=3))
    assert canvas.names() == ["Background", SOURCE, "DragGAN result 1", "DragGAN result 2", "DragGAN points"]
    first = dragged_image(seed_image(7), 3)
    assert canvas.layer("DragGAN result 2").pixels == dragged_image(first, 3)
    assert "2 drag(s) applied" in controller.state.session


def test_the_active_layer_picks_the_session_and_a_users_own_layer_needs_inversion() -> None:
    controller, canvas, daemon, _ = generated()
    canvas.active = canvas.layer("Background").id  # a paint layer the plugin did not make
    controller.drag(DragOptions())
    assert "\"Background\" was not made by DragGAN" in controller.state.error
    assert "drag" not in daemon.names()
    canvas.active = canvas.layer(SOURCE).id
    controller.drag(DragOptions(max_steps=3))
    assert controller.state.error == "" and "DragGAN result 1" in canvas.names()


def test_a_daemon_that_can_invert_opens_the_users_layer_and_drags_it() -> None:
    daemon = FakeDaemon(capabilities=(*FakeDaemon().capabilities, Capability.INVERT))
    controller, canvas, daemon, view = generated(daemon=daemon)
    canvas.active = canvas.layer("Background").id
    controller.drag(DragOptions(max_steps=2))
    assert "open_session" in daemon.names() and controller.state.error == ""
    reconstruction = bytearray(canvas.layer("Background").pixels.data)
    reconstruction[2::4] = bytes(SIZE[0] * SIZE[1])  # the fake's reconstruction of the whole layer
    expected = dragged_image(Image.rgba(*SIZE, bytes(reconstruction)), 2)
    assert canvas.layer("DragGAN result 1").pixels == expected
    assert canvas.layer("Background").writes == 0
    session = controller.current
    assert session.source == canvas.layer("Background").id
    assert session.frames[0] == canvas.layer("Background").pixels.tight()  # state 0: the source as it is
    assert any("projection 1/2" in state.message for state in view.states)
    assert any("reconstruction PSNR 30.0 dB" in state.message for state in view.states)


def test_an_opened_region_is_placed_in_the_whole_layer() -> None:
    daemon = FakeDaemon(capabilities=(*FakeDaemon().capabilities, Capability.INVERT))
    canvas = FakeCanvas()
    mask = bytearray(SIZE[0] * SIZE[1])
    for y in range(1, 5):
        mask[y * SIZE[0] + 2:y * SIZE[0] + 7] = b"\xff" * 5
    canvas.mask = Image.mask(*SIZE, bytes(mask))
    controller, canvas, daemon, _ = generated(daemon=daemon, canvas=canvas)
    canvas.active = canvas.layer("Background").id
    controller.drag(DragOptions(max_steps=2))
    (_, (_, _, region, sent_mask)), = [c for c in daemon.calls if c[0] == "open_session"]
    assert region == (2, 1, 5, 4) and sent_mask == canvas.mask  # the selection's box and the selection
    result = canvas.layer("DragGAN result 1").pixels
    white = (255, 255, 255)
    assert result.pixel(0, 0)[:3] == (255, 2, 255) and result.pixel(2, 1)[:3] == (255, 2, 0)  # blue: the region
    assert canvas.layer("Background").pixels.pixel(2, 1)[:3] == white


@pytest.mark.parametrize(("lines", "expected"), [
    ([], "no drag lines yet"),
    ([[(4.5, 3.5), (40.5, 1.5)]], "lies outside the layer"),
])
def test_bad_lines_are_explained_without_asking_the_daemon(lines, expected) -> None:
    controller, canvas, daemon, _ = generated(lines=None)
    canvas.lines = lines
    controller.drag(DragOptions())
    assert expected in controller.state.error
    assert "drag" not in daemon.names() and not controller.state.busy


def test_a_handle_outside_the_selection_is_explained() -> None:
    canvas = FakeCanvas()
    canvas.mask = Image.mask(*SIZE, b"\xff" * 8 + b"\0" * 40)  # only the top row may move
    controller, canvas, daemon, _ = generated(canvas=canvas)
    controller.drag(DragOptions())
    assert "outside the selection" in controller.state.error and "drag" not in daemon.names()


def test_stop_cancels_and_keeps_the_state_reached() -> None:
    class StopAtStepTwo(RecordingView):
        def render(self, state: PanelState) -> None:
            super().render(state)
            if state.dragging and state.progress >= 2 / 10:
                controller.stop()

    daemon = FakeDaemon(steps=10)
    view = StopAtStepTwo()
    controller, canvas, daemon, _ = generated(daemon=daemon, view=view)
    controller.drag(DragOptions(max_steps=10))
    assert daemon.names().count("cancel") == 1  # once, however often Stop is pressed
    assert "stopped; kept the image" in controller.state.message
    assert canvas.layer("DragGAN result 1").pixels == dragged_image(seed_image(7), 2)


def test_a_second_job_while_busy_is_refused_with_a_message() -> None:
    controller, canvas, daemon, _ = generated()
    controller.runner.hold_next = True
    controller.drag(DragOptions(max_steps=3))
    assert controller.state.busy and controller.state.dragging
    controller.new_from_model(GenerateRequest(seed=1))
    controller.drag(DragOptions())
    assert "busy" in controller.state.error
    controller.runner.release()
    assert not controller.state.busy and daemon.names().count("drag") == 1


def test_a_session_the_daemon_lost_is_forgotten_and_explained() -> None:
    controller, canvas, daemon, _ = generated()
    daemon.sessions.clear()
    controller.drag(DragOptions())
    state = controller.state
    assert "Drag the source layer again, or use New from model" in state.error and not state.busy
    assert controller.current is None and "is gone" in state.session
    assert canvas.names() == ["Background", SOURCE, "DragGAN points"]  # no preview left behind


def test_a_daemon_that_stops_answering_marks_the_connection_lost() -> None:
    daemon = FakeDaemon(fail={"drag": DragdTimeout("no answer from the dragd daemon within 30 s")})
    controller, canvas, daemon, _ = generated(daemon=daemon)
    controller.drag(DragOptions())
    state = controller.state
    assert not state.connected and "Lost the dragd daemon" in state.connection
    assert "no answer" in state.error.lower() and "Reconnect" in state.error


def test_a_bug_in_the_plugin_becomes_a_message_not_a_traceback() -> None:
    controller, canvas, daemon, _ = generated()

    def broken(*args, **kwargs):
        raise CanvasError("That layer is gone from the document.")

    canvas.add_layer = broken
    controller.drag(DragOptions(max_steps=2))
    assert controller.state.error == "That layer is gone from the document." and not controller.state.busy

    def bug(*args, **kwargs):
        raise KeyError("oops")

    canvas.add_layer = bug
    canvas.lines = [[(4.5, 3.5), (4.5, 1.5)]]  # the first drag moved the handle onto its target
    controller.drag(DragOptions(max_steps=2))
    assert controller.state.error.startswith("DragGAN plugin error (KeyError")


# ---- undo / redo -------------------------------------------------------------------------------------------------


def test_undo_and_redo_take_the_result_layer_out_and_back_with_the_same_pixels() -> None:
    controller, canvas, daemon, _ = generated()
    controller.drag(DragOptions(max_steps=3))
    result = canvas.layer("DragGAN result 1").pixels
    controller.undo()
    assert ("undo", "s1") in daemon.calls
    assert canvas.names() == ["Background", SOURCE, "DragGAN points"]
    assert not controller.state.can_undo and controller.state.can_redo
    controller.redo()
    assert canvas.names() == ["Background", SOURCE, "DragGAN result 1", "DragGAN points"]
    assert canvas.layer("DragGAN result 1").pixels == result
    assert controller.state.can_undo and not controller.state.can_redo
    assert canvas.layer(SOURCE).writes == 1


def test_a_drag_after_undo_drops_the_redo_branch() -> None:
    controller, canvas, daemon, _ = generated()

    def drag() -> None:
        canvas.lines = [[(4.5, 3.5), (4.5, 1.5)]]  # each drag moves the handle onto its target: draw anew
        controller.drag(DragOptions(max_steps=3))

    drag()
    drag()
    controller.undo()
    controller.undo()
    controller.redo()
    assert canvas.names() == ["Background", SOURCE, "DragGAN result 1", "DragGAN points"]
    drag()  # replaces the old second drag
    assert canvas.names() == ["Background", SOURCE, "DragGAN result 1", "DragGAN result 2", "DragGAN points"]
    assert not controller.state.can_redo
    controller.redo()
    assert controller.state.error == "Nothing to redo."


def test_nothing_to_undo_is_said() -> None:
    controller, canvas, daemon, _ = generated()
    controller.undo()
    assert controller.state.error == "Nothing to undo." and "undo" not in daemon.names()


# ---- liveness and the points list -----------------------------------------------------------------------------


def test_heartbeat_keeps_sessions_and_forgets_those_the_daemon_dropped() -> None:
    controller, canvas, daemon, _ = generated()
    controller.heartbeat()
    assert ("heartbeat", ("s1",)) in daemon.calls and controller.current is not None
    daemon.sessions.clear()
    controller.heartbeat()
    assert controller.current is None and "is gone" in controller.state.session


def test_reconnecting_keeps_the_sessions_their_ids_work_on_the_new_connection() -> None:
    controller, canvas, daemon, _ = generated()
    controller.connect()
    assert daemon.closed and list(controller.sessions) == ["s1"] and controller.state.connected
    controller.drag(DragOptions(max_steps=3))
    assert controller.state.error == "" and ("drag", "s1") in [(n, d["session"]) for n, d in daemon.calls
                                                               if n == "drag"]


def test_close_frees_the_sessions_and_the_socket() -> None:
    controller, canvas, daemon, _ = generated()
    controller.close()
    assert ("close_session", "s1") in daemon.calls and daemon.closed


def test_the_points_list_follows_the_lines_on_the_points_layer() -> None:
    controller, canvas, daemon, _ = generated(lines=None)
    canvas.lines = [[(4.5, 3.5), (2.0, 2.0), (4.5, 1.5)], [(1.0, 1.0), (3.0, 2.0)]]
    controller.refresh_points()
    assert controller.state.pairs == ("1: (4, 4) -> (4, 2)", "2: (1, 1) -> (3, 2)")


# ---- words -------------------------------------------------------------------------------------------------------


def test_error_messages_are_sentences_with_advice() -> None:
    text = describe_error(DragdError(ErrorCode.UNSUPPORTED, "opening a session from an image is not implemented"))
    assert text.startswith("Opening a session") and "New from model" in text
    assert describe_error(DragdError(ErrorCode.INTERNAL, "boom")) == "Boom"


def test_result_layers_take_the_first_free_number() -> None:
    assert next_layer_name([]) == "DragGAN result 1"
    assert next_layer_name(["DragGAN result 1", "DragGAN result 3"]) == "DragGAN result 2"
