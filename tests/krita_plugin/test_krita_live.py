"""The docker's Live mode (krita_plugin/live.py) on the fake Krita and a fake daemon's live drag: the lines as
keyed pairs, what counts as a change, latest-wins between the job and the UI thread, commit and cancel."""

from __future__ import annotations

import time

import pytest
from dragd.krita_plugin.connection import Connection
from dragd.krita_plugin.controller import DragController
from dragd.krita_plugin.live import ENDED, Channel, keyed_points, targets_changed
from dragd.krita_plugin.texts import WRITE_HELD
from dragd.protocol import Capability, DragdError, DragOptions, ErrorCode, GenerateRequest, Image, PointPair
from krita_fakes import SIZE, FakeCanvas, FakeDaemon, FakeWorkspace, RecordingView, ThreadRunner, seed_image
from test_krita_controller import SOURCE, make

LINES = {"dragd line a": [(2.5, 5.5), (2.5, 3.5)], "dragd line b": [(6.5, 1.5), (6.5, 2.5)]}


def live_controller(lines=LINES, canvas: FakeCanvas | None = None, daemon: FakeDaemon | None = None):
    """A connected controller (threaded runner, as in Krita) whose document holds a generated layer and lines."""
    canvas = canvas or FakeCanvas()
    controller, workspace, daemon, view, _ = make(canvas, daemon=daemon)
    controller.connect()
    controller.new_from_model(GenerateRequest(seed=7))
    canvas.lines = {line: list(nodes) for line, nodes in lines.items()}
    runner = ThreadRunner()
    controller.runner = runner
    return controller, canvas, daemon, runner


def idle_live(**kwargs):
    """`live_controller` with Live on, its first targets reached."""
    controller, canvas, daemon, runner = live_controller(**kwargs)
    controller.live.start(DragOptions())
    pump(controller, runner, lambda: controller.live.idle)
    return controller, canvas, daemon, runner


def pump(controller: DragController, runner: ThreadRunner, until, timeout: float = 10.0) -> None:
    runner.pump(until, timeout, tick=controller.live.tick)


def handles_on(controller: DragController, wanted: list[tuple[float, float]]) -> bool:
    return controller.live.idle and list(controller.live.shown_points) == wanted


# ---- plain pieces -------------------------------------------------------------------------------------------------


def test_keyed_points_are_the_lines_in_protocol_pixels_keyed_by_line() -> None:
    controller, canvas, _, _ = live_controller()
    start = controller._start(canvas, DragOptions(), None)
    points = keyed_points(start, canvas.point_lines(), 128)
    assert points == (("dragd line a", (2.0, 5.0), (2.0, 3.0)), ("dragd line b", (6.0, 1.0), (6.0, 2.0)))
    with pytest.raises(DragdError) as caught:
        keyed_points(start, [("x", [(2.5, 5.5), (20.5, 3.5)])], 128)
    assert "outside the layer" in caught.value.message  # the sentence a normal Drag gives


def test_only_targets_and_the_set_of_lines_count_as_a_change() -> None:
    sent = (("a", (2.0, 5.0), (2.0, 3.0)), ("b", (6.0, 1.0), (6.0, 2.0)))
    assert not targets_changed(sent, sent)
    assert not targets_changed(sent, (sent[1], sent[0])), "Krita reordering its shapes is no change"
    assert not targets_changed(sent, (("a", (1.0, 1.0), (2.0, 3.0)), sent[1])), "a known line's handle is tracked"
    assert not targets_changed(sent, (("a", (2.0, 5.0), (2.0, 3.0 + 1e-4)), sent[1]))
    assert targets_changed(sent, (("a", (2.0, 5.0), (2.0, 2.0)), sent[1]))  # a target moved
    assert targets_changed(sent, sent[:1])  # a line removed
    assert targets_changed(sent, (*sent, ("c", (1.0, 1.0), (3.0, 1.0))))  # a line added
    assert targets_changed(sent, (sent[0], ("c", (6.0, 1.0), (6.0, 2.0))))  # the same pair under another key


def test_the_channel_keeps_only_the_newest_points_and_the_first_end() -> None:
    channel = Channel()
    channel.send((("a", (0.0, 0.0), (1.0, 1.0)),))
    channel.send((("a", (0.0, 0.0), (2.0, 2.0)),))
    channel.end("commit")
    channel.end("cancel")
    points, end, credit = channel.take(0.0)
    assert points == (("a", (0.0, 0.0), (2.0, 2.0)),) and end == "commit" and credit
    channel.reported()
    assert channel.take(0.01) == (None, "commit", False)
    channel.shown()
    assert channel.take(0.0)[2]


# ---- the docker ---------------------------------------------------------------------------------------------------


def test_live_follows_moved_targets_and_commit_writes_one_result_like_a_drag() -> None:
    controller, canvas, daemon, runner = live_controller()
    controller.live.start(DragOptions(max_steps=50))
    assert controller.state.live and controller.state.busy and controller.state.dragging
    pump(controller, runner, lambda: handles_on(controller, [(2.0, 3.0), (6.0, 2.0)]))
    assert "DragGAN preview" in canvas.names() and "idle" in controller.state.message
    (started,) = [detail for name, detail in daemon.calls if name == "live_drag"]
    assert started["points"] == (PointPair((2.0, 5.0), (2.0, 3.0), "dragd line a"),
                                 PointPair((6.0, 1.0), (6.0, 2.0), "dragd line b"))
    for y in (2.5, 1.5, 0.5):  # the target node moved up in steps, as the shape tool moves it
        canvas.lines["dragd line a"][-1] = (2.5, y)
        pump(controller, runner, lambda y=y: handles_on(controller, [(2.0, y - 0.5), (6.0, 2.0)]))
        assert controller.live.shown_revision == len(daemon.live.updates)
        assert canvas.layer("DragGAN preview").pixels == canvas.previews[-1]
    assert daemon.live.updates == [("dragd line a", "dragd line b")] * 3  # keys: the lines' names
    shown = canvas.previews[-1]
    controller.live.commit()
    pump(controller, runner, lambda: not controller.state.busy)
    state = controller.state
    assert not state.live and state.error == "" and "live drag committed" in state.message, state
    assert canvas.names() == ["Background", SOURCE, "DragGAN result 1", "DragGAN points"]  # preview gone
    result = canvas.layer("DragGAN result 1")
    assert result.pixels == shown, "the result is not the state the last preview showed"
    assert canvas.layer(SOURCE).pixels == seed_image(7) and canvas.layer(SOURCE).writes == 1
    binding = canvas.annotation[result.id]
    session = binding.session
    assert binding.state == 1 == daemon.index[session] and binding.shows(canvas.layer_digest(result.id))
    assert canvas.lines["dragd line a"] == [(2.5, 0.5), (2.5, 0.5)]  # the handle where it was tracked
    canvas.lines = {"dragd line a": [(2.5, 0.5), (2.5, 2.5)]}
    controller.drag(DragOptions(max_steps=1))  # the next normal Drag continues from the committed state
    runner.pump(lambda: not controller.state.busy)
    assert controller.state.error == "" and "restore" not in daemon.names()
    assert "DragGAN result 2" in canvas.names()


def test_commit_keeps_the_selection_rule_outside_unchanged() -> None:
    canvas = FakeCanvas()
    canvas.mask = Image.mask(*SIZE, b"\xff" * (SIZE[0] * 4) + b"\0" * (SIZE[0] * 2))  # rows 0-3 may move
    controller, canvas, daemon, runner = live_controller(lines={"dragd line a": [(2.5, 3.5), (2.5, 1.5)]},
                                                         canvas=canvas)
    controller.live.start(DragOptions())
    pump(controller, runner, lambda: controller.live.idle)
    controller.live.commit()
    pump(controller, runner, lambda: not controller.state.busy)
    result = canvas.layer("DragGAN result 1").pixels.tight().data
    source = seed_image(7).tight().data
    row = SIZE[0] * 4
    assert result[4 * row:] == source[4 * row:] and result[:4 * row] != source[:4 * row]
    (started,) = [detail for name, detail in daemon.calls if name == "live_drag"]
    assert started["mask"] is not None  # sent as a normal drag sends it


def test_stop_cancels_a_live_drag_and_writes_nothing() -> None:
    controller, canvas, daemon, runner = live_controller()
    controller.live.start(DragOptions())
    pump(controller, runner, lambda: controller.live.previews >= 1)
    session = next(iter(controller.sessions))
    controller.stop()
    pump(controller, runner, lambda: not controller.state.busy)
    assert canvas.names() == ["Background", SOURCE, "DragGAN points"]
    assert controller.state.message == ENDED and not controller.state.live and controller.state.error == ""
    assert daemon.index[session] == 0 and len(daemon.sessions[session]) == 1  # no new state
    assert canvas.lines == LINES, "a cancelled live drag moved the lines"
    controller.drag(DragOptions(max_steps=1))  # the session is still in the layer's state: it just continues
    runner.pump(lambda: not controller.state.busy)
    assert "restore" not in daemon.names() and "DragGAN result 1" in canvas.names()


def test_the_daemons_time_out_keeps_the_picture_as_live_off_does_and_says_so() -> None:
    controller, canvas, daemon, runner = idle_live()
    shown = canvas.previews[-1]
    daemon.live.time_out()  # ten minutes without a change
    pump(controller, runner, lambda: not controller.state.busy)
    state = controller.state
    assert not state.live and "Live ended after 10 minutes without changes" in state.message, state
    assert canvas.layer("DragGAN result 1").pixels == shown and "DragGAN preview" not in canvas.names()


def test_lines_added_and_removed_while_live_are_sent_by_key() -> None:
    controller, canvas, daemon, runner = idle_live()
    canvas.lines["dragd line c"] = [(4.5, 4.5), (5.5, 4.5)]
    pump(controller, runner, lambda: handles_on(controller, [(2.0, 3.0), (6.0, 2.0), (5.0, 4.0)]))
    del canvas.lines["dragd line a"]
    pump(controller, runner, lambda: handles_on(controller, [(6.0, 2.0), (5.0, 4.0)]))
    assert daemon.live.updates == [("dragd line a", "dragd line b", "dragd line c"), ("dragd line b", "dragd line c")]
    controller.live.commit()
    pump(controller, runner, lambda: not controller.state.busy)
    assert canvas.lines["dragd line c"][0] == (5.5, 4.5) and "DragGAN result 1" in canvas.names()


def test_a_bad_line_while_live_is_explained_and_the_drag_goes_on() -> None:
    controller, canvas, daemon, runner = idle_live()
    canvas.lines["dragd line a"][-1] = (40.5, 3.5)  # dragged off the layer
    pump(controller, runner, lambda: "outside the layer" in controller.state.error)
    assert controller.state.live and daemon.live.updates == []
    canvas.lines["dragd line a"][-1] = (3.5, 3.5)
    pump(controller, runner, lambda: handles_on(controller, [(3.0, 3.0), (6.0, 2.0)]))
    assert controller.state.error == "" and len(daemon.live.updates) == 1


def test_an_update_the_daemon_refuses_is_a_message_and_the_drag_goes_on() -> None:
    controller, canvas, daemon, runner = idle_live()
    daemon.live.refuse = DragdError(ErrorCode.BAD_REQUEST, "point 2's handle is outside the image")
    canvas.lines["dragd line a"][-1] = (2.5, 2.5)
    pump(controller, runner, lambda: "outside the image" in controller.state.error)
    canvas.lines["dragd line a"][-1] = (2.5, 1.5)
    pump(controller, runner, lambda: handles_on(controller, [(2.0, 1.0), (6.0, 2.0)]))
    assert controller.state.live and controller.state.error == ""


def test_a_slow_ui_gets_one_preview_at_a_time_never_a_queue() -> None:
    controller, canvas, daemon, runner = live_controller(lines={"dragd line a": [(0.5, 5.5), (7.5, 0.5)]})
    controller.live.start(DragOptions())
    time.sleep(0.3)  # the UI thread is busy: nothing is pumped while the fake drag could run many steps
    assert runner.queued() <= 1 and daemon.live.seq <= 1
    pump(controller, runner, lambda: controller.live.idle)
    assert controller.live.previews == daemon.live.seq  # every progress read was shown


def test_drag_and_a_second_live_are_refused_while_live_runs() -> None:
    controller, canvas, daemon, runner = live_controller()
    controller.live.start(DragOptions())
    controller.drag(DragOptions())
    assert "busy" in controller.state.error
    controller.live.start(DragOptions())
    pump(controller, runner, lambda: controller.live.idle)
    assert daemon.names().count("live_drag") == 1 and "drag" not in daemon.names()
    controller.stop()
    pump(controller, runner, lambda: not controller.state.busy)


def test_closing_the_document_cancels_live_and_writes_nothing() -> None:
    controller, canvas, daemon, runner = live_controller()
    controller.live.start(DragOptions())
    pump(controller, runner, lambda: controller.live.previews >= 1)
    canvas.open = False
    controller.poll()
    pump(controller, runner, lambda: not controller.state.busy)
    assert "nothing was written" in controller.state.message and not controller.state.live
    assert "DragGAN result 1" not in canvas.names() and daemon.live.result.stopped == "cancelled"


def test_bad_lines_at_start_are_explained_without_asking_the_daemon() -> None:
    controller, canvas, daemon, runner = live_controller(lines={})
    controller.live.start(DragOptions())
    assert "There are no drag lines yet" in controller.state.error and not controller.state.live
    assert "live_drag" not in daemon.names()


def test_a_daemon_error_mid_live_is_a_message_not_a_traceback() -> None:
    controller, canvas, daemon, runner = idle_live()
    daemon.live.error = DragdError(ErrorCode.INTERNAL, "the generator failed")
    canvas.lines["dragd line a"][-1] = (2.5, 2.5)
    pump(controller, runner, lambda: not controller.state.busy)
    state = controller.state
    assert not state.live and "The generator failed" in state.error
    assert canvas.names() == ["Background", SOURCE, "DragGAN points"]


def test_a_session_the_daemon_lost_is_rebuilt_before_going_live() -> None:
    controller, canvas, daemon, runner = live_controller()
    daemon.sessions.clear()  # the daemon restarted or expired the session between two drags
    controller.live.start(DragOptions())
    pump(controller, runner, lambda: controller.live.idle)
    assert [name for name in daemon.names() if name in ("live_drag", "restore")] == \
        ["live_drag", "restore", "restore", "live_drag"]
    controller.stop()
    pump(controller, runner, lambda: not controller.state.busy)


def test_the_fake_workspace_is_untouched_by_an_idle_live_toggle() -> None:
    controller = DragController(FakeWorkspace(), RecordingView(), ThreadRunner())
    controller.live.tick()
    controller.live.commit()
    controller.live.cancel()
    assert not controller.live.active


def test_a_daemon_without_live_drags_is_explained() -> None:
    controller, canvas, daemon, runner = live_controller(daemon=FakeDaemon(capabilities=(
        Capability.GENERATE, Capability.DRAG, Capability.RESTORE)))
    controller.live.start(DragOptions())
    assert "cannot drag live" in controller.state.error and "update dragd" in controller.state.error
    assert "live_drag" not in daemon.names() and not controller.state.busy


# ---- against a real daemon (a tiny random generator) and the real client ------------------------------------------


def test_live_against_a_real_daemon_follows_commits_and_cancels() -> None:
    from server_fixtures import connect, running_daemon

    with running_daemon() as served:
        client = connect(served)

        def connector(connection, report):
            return client, client.hello(), False

        canvas = FakeCanvas(width=32, height=32)
        controller = DragController(FakeWorkspace([canvas]), RecordingView(), ThreadRunner(), connector,
                                    Connection("tcp://127.0.0.1:5557"))
        runner = controller.runner
        controller.connect()
        runner.pump(lambda: controller.state.connected)
        controller.new_from_model(GenerateRequest(seed=3))
        runner.pump(lambda: not controller.state.busy)
        source = canvas.layers[1]
        canvas.lines = {"dragd line a": [(16.5, 20.5), (16.5, 18.5)]}
        controller.live.start(DragOptions(max_steps=8))
        pump(controller, runner, lambda: controller.live.idle, timeout=60)
        first = canvas.previews[-1]
        for move, y in enumerate((16.5, 14.5), start=1):  # the target node moved up in steps
            canvas.lines["dragd line a"][-1] = (16.5, y)
            pump(controller, runner, lambda move=move: controller.live.idle and controller.live.shown_revision >= move,
                 timeout=60)
        assert controller.live.shown_revision == 2 and canvas.previews[-1] != first
        shown = canvas.previews[-1]
        controller.live.commit()
        pump(controller, runner, lambda: not controller.state.busy, timeout=60)
        state = controller.state
        assert state.error == "" and "live drag committed" in state.message, state
        result = canvas.layer("DragGAN result 1")
        assert result.pixels == shown and canvas.annotation[result.id].state == 1
        assert source.pixels == canvas.layers[1].pixels and "DragGAN preview" not in canvas.names()
        controller.live.start(DragOptions(max_steps=8))  # again, then Stop: nothing written
        pump(controller, runner, lambda: controller.live.idle, timeout=60)
        controller.stop()
        pump(controller, runner, lambda: not controller.state.busy, timeout=60)
        assert controller.state.message == ENDED and "DragGAN result 2" not in canvas.names()
        client.close()


def test_live_writes_only_into_the_document_in_front() -> None:
    controller, canvas, daemon, runner = idle_live()
    controller.workspace.canvases.append(FakeCanvas(name="other"))  # the user looks at another document
    canvas.lines["dragd line a"][-1] = (2.5, 2.5)
    for _ in range(5):
        controller.live.tick()
    assert daemon.live.updates == [], "lines were read from a document behind another"
    controller.live.commit()
    pump(controller, runner, lambda: not controller.state.busy)
    assert controller.state.message == WRITE_HELD and "DragGAN result 1" not in canvas.names()
    controller.workspace.canvases.pop()  # its document in front again: the docker's poll writes the result
    controller.poll()
    assert canvas.names() == ["Background", SOURCE, "DragGAN result 1", "DragGAN points"]
