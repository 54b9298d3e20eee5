"""One live drag as the GIMP dialog's timer drives it (gimp_plugin/live.py), on a fake document and daemon."""

from __future__ import annotations

import threading

import pytest
from dragd.gimp_plugin import drag
from dragd.gimp_plugin.live import LiveDrag
from dragd.gimp_plugin.live_view import ViewTransform
from dragd.gimp_plugin.options import DragSettings
from dragd.gimp_plugin.session import layer_digest
from dragd.protocol import messages
from dragd.protocol.errors import DragdError, ErrorCode
from dragd.protocol.images import Image
from dragd.protocol.limits import DEFAULT_LIMITS
from gimp_fakes import GENERATED, FakeDocument, FakeLiveDaemon, RecordingFeedback

ONE_STROKE = [("Points", True, [[(3.5, 4.5), (9.5, 2.5)]])]  # handle -> target, GIMP image coordinates

VIEW = ViewTransform(4.0, (0.0, 0.0))  # the dialog's 4x view of a small layer; `at` says where a layer point is


def at(x: float, y: float) -> tuple[float, float]:
    return VIEW.to_view((x, y))


def start(document: FakeDocument | None = None, settings: DragSettings | None = None,
          ) -> tuple[LiveDrag, FakeLiveDaemon]:
    daemon = FakeLiveDaemon()
    document = document or FakeDocument(path_list=ONE_STROKE, layer_binding=GENERATED,
                                        names=["Background", "DragGAN result 1"])
    prepared = drag.prepare_drag(document, settings or DragSettings(max_steps=50), RecordingFeedback(),
                                 threading.Event(), connect=lambda address: daemon)
    return LiveDrag.start(prepared), daemon


def progress(step: int, points: list[tuple[float, float]], keys: list[int], revision: int = 0, seq: int = 1,
             idle: bool = False, image: Image | None = None,
             offset: tuple[int, int] | None = None) -> messages.DragProgress:
    return messages.DragProgress(step, tuple(points), 0.5, image, offset, keys=tuple(keys), revision=revision,
                                 seq=seq, idle=idle)


def result(points: list[tuple[float, float]], keys: list[int], stopped: str = "committed",
           index: int = 1) -> messages.DragResult:
    patch = Image.filled("RGBA", 4, 4, (200, 10, 20, 255))
    return messages.DragResult(9, tuple(points), False, stopped, patch, (2, 3), index, keys=tuple(keys))


def test_the_live_drag_starts_with_the_paths_pair_in_the_prepared_session():
    live, daemon = start()
    kind, (session, points, mask, options) = daemon.calls[-1]
    assert kind == "live_drag" and session == "s-gen-7" and mask is None and options.max_steps == 50
    assert [(p.handle, p.target) for p in points] == [((3.0, 4.0), (9.0, 2.0))]  # key: the index, by default
    assert [(p.key, p.handle, p.target) for p in live.points.pairs] == [(0, (3.5, 4.5), (9.5, 2.5))]


def test_a_dragged_target_goes_out_throttled_and_only_the_newest():
    live, daemon = start()
    points = live.points
    points.press(at(9.5, 2.5), VIEW)
    points.motion(at(10.5, 3.5), VIEW)
    live.tick(0.0)
    assert daemon.live.updates == [[(0, (3.0, 4.0), (10.0, 3.0))]]  # pixel centres, as the protocol's
    points.motion(at(11.5, 4.5), VIEW)
    points.motion(at(12.5, 5.5), VIEW)
    live.tick(0.01)  # within the interval: nothing
    assert len(daemon.live.updates) == 1
    live.tick(0.06)
    assert daemon.live.updates[-1] == [(0, (3.0, 4.0), (12.0, 5.0))] and len(daemon.live.updates) == 2
    points.release(at(13.5, 5.5), VIEW)
    live.tick(0.07)  # dropped: at once
    assert daemon.live.updates[-1] == [(0, (3.0, 4.0), (13.0, 5.0))]
    live.tick(1.0)
    assert len(daemon.live.updates) == 3  # nothing new, nothing sent


def test_progress_moves_the_tracked_handles_and_shows_the_preview_region_only():
    live, daemon = start()
    patch = Image.filled("RGBA", 4, 4, (200, 10, 20, 255))
    daemon.live.send(progress(3, [(5.0, 3.0)], [0], image=patch, offset=(2, 3)))
    frame = live.tick(0.0)
    assert live.points.pairs[0].handle == (5.5, 3.5) and frame.moved and live.steps == 3
    assert frame.preview is not None and frame.preview_at == (2, 3)
    assert (frame.preview.width, frame.preview.height) == (4, 4)
    assert frame.preview.pixel(0, 0) == (200, 10, 20, 255)
    assert "step 3" in frame.status and frame.outcome is None


def test_a_selection_weights_a_generated_layers_preview_as_it_weights_the_result():
    mask = Image.mask(16, 12, bytes(255 if x < 4 else 0 for y in range(12) for x in range(16)))
    live, daemon = start(FakeDocument(path_list=ONE_STROKE, layer_binding=GENERATED, mask=mask))
    source = live.prepared.source
    patch = Image.filled("RGBA", 4, 4, (200, 10, 20, 255))
    daemon.live.send(progress(1, [(3.0, 4.0)], [0], image=patch, offset=(2, 3)))
    frame = live.tick(0.0)
    assert frame.preview.pixel(0, 0) == (200, 10, 20, 255)  # x = 2: selected
    assert frame.preview.pixel(3, 0) == source.pixel(5, 3)  # x = 5: not selected, the layer as it is


def test_the_status_says_when_the_preview_is_behind_the_artist_and_when_it_idles():
    live, daemon = start()
    live.points.press(at(9.5, 2.5), VIEW)
    live.points.release(at(12.5, 2.5), VIEW)
    live.tick(0.0)
    daemon.live.send(progress(4, [(4.0, 4.0)], [0], revision=0))
    assert "catching up" in live.tick(0.1).status
    daemon.live.send(progress(9, [(12.0, 2.0)], [0], revision=1, idle=True))
    status = live.tick(0.2).status
    assert "catching up" not in status and "idle" in status and "0.0 px to go" in status


def test_ok_sends_the_newest_points_then_commits_and_the_result_is_a_normal_drags():
    live, daemon = start()
    live.points.press(at(9.5, 2.5), VIEW)
    live.points.motion(at(12.5, 6.5), VIEW)  # still held when OK is pressed: it goes out before the commit
    daemon.live.commit_result = result([(11.0, 5.0)], [0])
    live.commit(0.0)
    assert daemon.live.updates == [[(0, (3.0, 4.0), (12.0, 6.0))]] and daemon.live.committed
    outcome = live.outcome
    assert outcome is not None and outcome.error is None and not outcome.cancelled
    assert outcome.layer_name == "DragGAN result 2"
    assert outcome.strokes == [[(11.5, 5.5), (12.5, 6.5)]]  # tracked handle -> the target sent
    assert outcome.binding.session == "s-gen-7" and outcome.binding.state == 1
    assert outcome.binding.shows(layer_digest(outcome.pixels))
    assert outcome.pixels.pixel(2, 3) == (200, 10, 20, 255)
    assert outcome.pixels.pixel(0, 0) == live.prepared.source.pixel(0, 0)  # outside the edit: the source
    assert live.tick(1.0).outcome is outcome  # the dialog reads it; nothing more is sent or taken
    assert len(daemon.live.updates) == 1


def test_added_and_replaced_pairs_are_committed_with_their_own_targets_in_the_results_order():
    live, daemon = start()
    live.points.press(at(14.5, 10.5), VIEW, add=True)  # a new pair, key 1
    live.points.release(at(15.5, 11.5), VIEW)
    live.tick(0.0)
    assert daemon.live.updates[-1] == [(0, (3.0, 4.0), (9.0, 2.0)), (1, (14.0, 10.0), (15.0, 11.0))]
    daemon.live.commit_result = result([(14.2, 10.9), (8.0, 2.0)], [1, 0])
    live.commit(0.1)
    assert live.outcome.strokes == [[(14.7, 11.4), (15.5, 11.5)], [(8.5, 2.5), (9.5, 2.5)]]


def test_cancel_tells_the_daemon_and_keeps_nothing():
    live, daemon = start()
    live.cancel()
    assert daemon.live.cancelled and live.outcome.cancelled and live.outcome.edit is None
    live.commit(0.0)  # too late: nothing happens
    assert not daemon.live.committed


def test_a_live_drag_that_timed_out_is_kept_like_a_commit_with_a_line_saying_so():
    live, daemon = start()
    daemon.live.send(result([(5.0, 3.0)], [0], stopped="timeout"))
    frame = live.tick(0.0)
    assert frame.outcome is not None and frame.outcome.edit is not None and frame.outcome.summary.startswith(
        "Live ended after 10 minutes without changes")
    live.commit(1.0)  # OK keeps it; nothing more is asked of the daemon
    assert not daemon.live.committed and live.outcome is frame.outcome


def test_refused_points_are_a_message_and_the_drag_carries_on():
    live, daemon = start()
    daemon.live.update_error = DragdError(ErrorCode.BAD_REQUEST, "the handle of pair 1 lies outside the mask")
    live.points.press(at(9.5, 2.5), VIEW)
    live.points.release(at(10.5, 2.5), VIEW)
    frame = live.tick(0.0)
    assert frame.outcome is None and "outside the mask" in frame.status
    live.points.press(at(10.5, 2.5), VIEW)
    live.points.release(at(11.5, 2.5), VIEW)
    live.tick(1.0)
    assert daemon.live.updates == [[(0, (3.0, 4.0), (11.0, 2.0))]]


@pytest.mark.parametrize("code", [ErrorCode.NOT_FOUND, ErrorCode.TIMEOUT, ErrorCode.UNAVAILABLE])
def test_a_lost_live_drag_or_daemon_ends_it_with_one_clear_message(code):
    live, daemon = start()
    daemon.live.poll_error = DragdError(code, "the live drag is gone")
    frame = live.tick(0.0)
    assert frame.outcome is not None and frame.outcome.edit is None and not frame.outcome.cancelled
    assert frame.outcome.error.startswith("DragGAN: the live drag is gone")


def test_a_result_naming_points_never_sent_is_reported_not_guessed():
    live, daemon = start()
    daemon.live.commit_result = result([(1.0, 1.0)], [5])
    live.commit(0.0)
    assert "do not match" in live.outcome.error and live.outcome.edit is None


def test_a_handle_may_only_be_added_inside_the_selection():
    mask = Image.mask(16, 12, bytes(255 if x < 8 else 0 for y in range(12) for x in range(16)))
    live, _ = start(FakeDocument(path_list=ONE_STROKE, layer_binding=GENERATED, mask=mask))
    assert live.points.press(at(12.5, 8.5), VIEW, add=True) is False and "selection" in live.points.message
    assert live.points.press(at(5.5, 8.5), VIEW, add=True) is True


def test_a_daemon_without_live_drags_is_told_in_one_sentence_before_anything_starts():
    daemon = FakeLiveDaemon()
    daemon.daemon = messages.HelloResult(1, "0.1", "cpu", (), DEFAULT_LIMITS, ("generate", "drag"))  # no "live"
    prepared = drag.prepare_drag(FakeDocument(path_list=ONE_STROKE, layer_binding=GENERATED), DragSettings(),
                                 RecordingFeedback(), threading.Event(), connect=lambda address: daemon)
    with pytest.raises(drag.UserError, match="cannot drag live"):
        LiveDrag.start(prepared)
    assert daemon.live is None
