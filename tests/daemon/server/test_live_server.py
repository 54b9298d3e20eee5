"""Live drags through a real daemon (daemon/server/live.py): updates, idling, commit, cancel, time-out,
latest-wins under a client that does not read, stale updates, and fairness to other users."""

from __future__ import annotations

import contextlib
import math
import threading
import time

import numpy as np
import pytest
from dragd.protocol import DragOptions, DragProgress, DragResult, PointPair, codec, messages
from dragd.protocol.errors import DragdError, ErrorCode
from server_fixtures import connect, limits, raw_dealer, running_daemon

SLOW = DragOptions(step_size=1e-5, max_steps=2000)  # keeps stepping for a good while on the tiny model


def poll_until(drag, predicate, timeout: float = 20.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        reply = drag.poll(0.05)
        if reply is not None and predicate(reply):
            return reply
        if isinstance(reply, DragResult):
            raise AssertionError(f"the drag ended: {reply.stopped}")
    raise AssertionError("timed out")


def idle(reply) -> bool:
    return isinstance(reply, DragProgress) and reply.idle


def other_users_drag_running(other) -> threading.Thread:
    """A long drag of another user, stepping when this returns (the worker is busy: live drags queue); end it
    with `other.cancel()` and join the thread."""
    theirs = other.generate(seed=3).session
    started = threading.Event()
    blocker = threading.Thread(target=lambda: other.drag(theirs, [((5, 5), (27, 27))], options=SLOW,
                                                         on_progress=lambda p: started.set()))
    blocker.start()
    assert started.wait(20)
    return blocker


def live_job(daemon):
    jobs = daemon.live.all()
    assert len(jobs) == 1
    return jobs[0]


def test_it_idles_without_steps_follows_an_update_and_a_commit_is_one_history_state():
    with running_daemon() as daemon, connect(daemon) as client:
        session = client.generate(seed=0).session
        drag = client.live_drag(session, [PointPair((12, 16), (19, 16), "a")])
        first_idle = poll_until(drag, idle)
        assert first_idle.image is not None and first_idle.keys == ("a",) and first_idle.revision == 0
        assert math.dist(first_idle.points[0], (19, 16)) <= 1
        job = live_job(daemon)
        steps = job.loop.steps
        time.sleep(0.5)
        assert drag.poll(0.1) is None  # nothing new while idle
        assert job.loop.steps == steps and daemon.worker.current is None and daemon.worker.parked() == [job.job]
        assert client.status().running is None
        answer = drag.update([("a", (19, 22))])
        assert answer.revision == 1
        follow = poll_until(drag, lambda r: idle(r) and r.revision == 1)
        assert math.dist(follow.points[0], (19, 22)) <= 1 and follow.step > steps
        result = drag.commit()
        assert result.stopped == "committed" and result.keys == ("a",) and result.history_index == 1
        assert math.dist(result.points[0], (19, 22)) <= 1
        info = client.session_info(session)
        assert (info.history_index, info.history_length) == (1, 2)
        assert daemon.live.all() == [] and daemon.worker.parked() == []
        assert client.undo(session).history_index == 0  # the live drag was one undo step


def test_cancel_leaves_no_history_state_and_returns_the_current_image():
    with running_daemon() as daemon, connect(daemon) as client:
        generated = client.generate(seed=0)
        drag = client.live_drag(generated.session, [((5, 5), (27, 27))], options=SLOW)
        poll_until(drag, lambda r: isinstance(r, DragProgress) and r.step >= 3)
        result = drag.cancel()
        assert result.stopped == "cancelled" and result.history_index == 0 and result.steps >= 3
        assert result.image == generated.image and result.keys == (0,)
        assert client.session_info(generated.session).history_length == 1
        with pytest.raises(DragdError) as caught:
            drag.update([(0, (6, 6))])  # it ended: stale
        assert caught.value.code == ErrorCode.NOT_FOUND


def test_a_drag_without_new_points_times_out_and_keeps_its_state():
    with running_daemon() as daemon, connect(daemon) as client:
        session = client.generate(seed=0).session
        started = time.monotonic()
        drag = client.live_drag(session, [PointPair((12, 16), (19, 16), "a")],
                                options=DragOptions(live_timeout_s=1.0))
        while not isinstance(drag.poll(0.05), DragResult):  # acknowledges every progress as it comes
            with contextlib.suppress(DragdError):  # not_found once it ended
                drag.update()  # an acknowledgement alone does not keep it alive either
        assert time.monotonic() - started >= 1.0
        assert drag.result.stopped == "timeout" and drag.result.history_index == 1
        assert client.session_info(session).history_length == 2


def test_pairs_are_added_and_removed_by_key():
    with running_daemon() as daemon, connect(daemon) as client:
        session = client.generate(seed=0).session
        drag = client.live_drag(session, [PointPair((12, 16), (19, 16), "a")])
        poll_until(drag, idle)
        drag.update([("a", (19, 16)), ("b", (6, 6), (6, 6))])  # a new pair, pinned where it is
        both = poll_until(drag, lambda r: r.keys == ("a", "b"))
        assert both.points[1] == (6.0, 6.0)
        drag.update([("b", (6, 6))])
        only_b = poll_until(drag, lambda r: r.keys == ("b",) and idle(r))
        assert only_b.points == ((6.0, 6.0),)
        result = drag.commit()
        assert result.keys == ("b",) and result.points == ((6.0, 6.0),)


def test_bad_updates_are_refused_and_the_drag_carries_on():
    with running_daemon() as daemon, connect(daemon) as client:
        session = client.generate(seed=0).session
        drag = client.live_drag(session, [PointPair((5, 5), (27, 27), "a")], options=SLOW)
        for points, text in [([("a", (40, 1))], "outside"), ([("new", (1, 1))], "needs a handle"),
                             ([("a", (float("inf"), 1))], "finite")]:
            with pytest.raises(DragdError) as caught:
                drag.update(points)
            assert caught.value.code == ErrorCode.BAD_REQUEST and text in caught.value.message
        assert drag.update([("a", (26, 27))]).revision == 1
        raw = messages.LiveUpdateRequest(drag.id, 1, (messages.LivePoint("a", (25.0, 27.0)),))
        with pytest.raises(DragdError) as caught:
            client._call(raw, None)  # a revision that does not increase
        assert caught.value.code == ErrorCode.BAD_REQUEST and "not above 1" in caught.value.message
        progress = poll_until(drag, lambda r: isinstance(r, DragProgress) and r.revision == 1)
        assert progress.keys == ("a",)
        assert drag.cancel().stopped == "cancelled"


def test_stale_live_updates_get_not_found():
    with running_daemon() as daemon, connect(daemon) as client, connect(daemon) as stranger:
        session = client.generate(seed=0).session

        def update(who, target) -> str:
            with pytest.raises(DragdError) as caught:
                who._call(messages.LiveUpdateRequest(target, 1, (messages.LivePoint(0, (6.0, 6.0)),)), None)
            return caught.value.code

        assert update(client, 12345) == ErrorCode.NOT_FOUND  # never sent
        drag = client.live_drag(session, [((5, 5), (27, 27))], options=SLOW)
        poll_until(drag, lambda r: isinstance(r, DragProgress))
        assert update(stranger, drag.id) == ErrorCode.NOT_FOUND  # another connection's
        drag.cancel()
        assert update(client, drag.id) == ErrorCode.NOT_FOUND  # finished
        plain: list = []
        thread = threading.Thread(target=lambda: plain.append(client.drag(
            session, [((5, 5), (27, 27))], options=SLOW, on_progress=lambda p: plain.append(p))))
        thread.start()
        while not plain:
            time.sleep(0.01)
        running_id = next(iter(client.in_flight()))
        assert update(client, running_id) == ErrorCode.NOT_FOUND  # not a live drag
        client.cancel(running_id)
        thread.join(20)


def test_a_client_that_does_not_read_costs_one_message():
    with running_daemon() as daemon, connect(daemon) as client:
        session = client.generate(seed=0).session
        socket = raw_dealer(daemon)
        request = messages.DragRequest(session, (PointPair((5, 5), (27, 27)),), None,
                                       DragOptions(step_size=1e-5, max_steps=2000, live=True))
        socket.send(codec.encode(messages.request_message("d", request)))
        deadline = time.monotonic() + 20
        while not daemon.live.all() or daemon.live.all()[0].loop is None or daemon.live.all()[0].loop.steps < 50:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        job = live_job(daemon)
        arrived = []
        while socket.poll(300):
            arrived.append(codec.decode(socket.recv(), 1 << 30))
        progress = [r for r in arrived if r["type"] == "progress"]
        assert len(progress) == 1 and progress[0]["seq"] == 1  # 50+ steps, one message: nothing queued
        assert job.loop.steps >= 50 and job.channel._waiting is not None  # the newest one waits inside
        socket.send(codec.encode({"v": 1, "id": "u", "type": "live_update", "target": "d", "seen": 1}))
        replies = [codec.decode(socket.recv(), 1 << 30) for _ in range(2)]
        newest = next(r for r in replies if r["type"] == "progress")
        assert newest["seq"] == 2 and newest["step"] > progress[0]["step"] + 10  # the newest, not the next
        assert any(r["type"] == "result" and r["request_type"] == "live_update" for r in replies)
        socket.send(codec.encode({"v": 1, "id": "c", "type": "cancel", "target": "d"}))
        final = []
        while not any(r["type"] == "result" and r["request_type"] == "drag" for r in final):
            assert socket.poll(10_000)
            final.append(codec.decode(socket.recv(), 1 << 30))
        assert [r for r in final if r["type"] == "progress"] == []  # still only what was acknowledged
        socket.close()


def test_an_idle_live_drag_lets_another_users_jobs_run_and_resumes_on_update():
    with running_daemon() as daemon, connect(daemon) as artist, connect(daemon, user="other") as other:
        session = artist.generate(seed=0).session
        drag = artist.live_drag(session, [PointPair((12, 16), (19, 16), "a")])
        poll_until(drag, idle)
        theirs = other.generate(seed=3).session  # the worker is free for the other user meanwhile
        assert other.drag(theirs, [((12, 16), (19, 16))], options=DragOptions(max_steps=20)).steps >= 1
        drag.update([("a", (19, 22))])
        assert poll_until(drag, lambda r: r.revision == 1 and idle(r)).idle
        assert drag.commit().stopped == "committed"


def test_a_stepping_live_drag_gives_way_to_another_users_job():
    with running_daemon() as daemon, connect(daemon) as artist, connect(daemon, user="other") as other:
        session = artist.generate(seed=0).session
        drag = artist.live_drag(session, [((5, 5), (27, 27))], options=SLOW)
        poll_until(drag, lambda r: isinstance(r, DragProgress))
        started = time.monotonic()
        other.generate(seed=3)  # would wait for 2000 steps if the live drag held the worker
        waited = time.monotonic() - started
        job = live_job(daemon)
        assert job.loop.steps < 2000 and not job.loop.idle, "the live drag ran to its end first"
        assert waited < 10
        progress = poll_until(drag, lambda r: isinstance(r, DragProgress) and r.step > job.loop.steps - 1)
        assert not progress.idle  # and it carries on afterwards
        drag.cancel()


def test_shutdown_ends_a_parked_live_drag_with_cancelled():
    with running_daemon() as daemon, connect(daemon) as client:
        session = client.generate(seed=0).session
        drag = client.live_drag(session, [PointPair((12, 16), (19, 16), "a")])
        poll_until(drag, idle)
        client.shutdown()
        with pytest.raises(DragdError) as caught:
            drag.wait(timeout=10)
        assert caught.value.code == ErrorCode.CANCELLED


def test_updates_sent_while_the_drag_waits_in_the_queue_are_checked_and_applied_when_it_starts():
    with running_daemon() as daemon, connect(daemon) as artist, connect(daemon, user="other") as other:
        session = artist.generate(seed=0).session
        blocker = other_users_drag_running(other)
        drag = artist.live_drag(session, [PointPair((12, 16), (19, 16), "a")])
        time.sleep(0.2)
        assert daemon.live.all()[0].loop is None  # still waiting behind the other user's drag
        for points, text in [([("a", (19, 16)), ("b", (6, 6))], "needs a handle"), ([("a", (40, 1))], "outside")]:
            with pytest.raises(DragdError) as caught:
                drag.update(points)
            assert caught.value.code == ErrorCode.BAD_REQUEST and text in caught.value.message
        assert drag.update([("a", (19, 16)), ("b", (6, 6), (6, 6))]).revision == 1
        assert drag.update([("a", (19, 16)), ("b", (6, 6))]).revision == 2  # "b" keeps the handle it was given
        other.cancel()
        blocker.join(20)
        both = poll_until(drag, lambda r: isinstance(r, DragProgress) and r.keys == ("a", "b") and r.revision == 2)
        assert both.points[1] == (6.0, 6.0)
        assert drag.cancel().stopped == "cancelled"


def test_a_client_polling_slower_than_the_steps_still_gets_previews_while_the_drag_moves():
    with running_daemon() as daemon, connect(daemon) as client:
        session = client.generate(seed=0).session
        drag = client.live_drag(session, [((5, 5), (27, 27))], options=SLOW)
        seen: list[DragProgress] = []
        end = time.monotonic() + 2.0
        while time.monotonic() < end:
            time.sleep(0.06)  # an editor timer, slower than a step of the tiny model
            reply = drag.poll(0)
            if isinstance(reply, DragProgress):
                seen.append(reply)
        previews = [p for p in seen if p.image is not None and not p.idle]
        assert len(seen) >= 5 and len(previews) >= len(seen) // 3, [(p.step, p.image is not None) for p in seen]
        assert [p.seq for p in seen] == sorted(p.seq for p in seen)
        drag.cancel()


def test_results_report_where_the_content_is_through_the_session_frame():
    """Commit asks the session's frame where each handle's content lies (an opened layer measures it through
    its paste-back; a generated session reports the tracker), with the handle each key started from; a cancel
    reports the handles where they started, as its picture is the one before the drag."""
    with running_daemon() as daemon, connect(daemon) as client:
        generated = client.generate(seed=0)
        session = daemon.sessions._sessions[generated.session]
        calls = []
        real = session.frame.final_points

        def final_points(before, after, handles, tracked):
            calls.append((before, after, list(handles), list(tracked)))
            return [(x + 0.25, y) for x, y in real(before, after, handles, tracked)]  # tell them apart

        session.frame.final_points = final_points
        drag = client.live_drag(generated.session, [PointPair((12, 16), (19, 16), "a")])
        poll_until(drag, idle)
        drag.update([("a", (19, 16)), ("b", (6, 6), (6, 6))])
        poll_until(drag, lambda r: r.keys == ("a", "b") and idle(r))
        result = drag.commit()
        (before, after, handles, tracked), = calls
        shown = np.frombuffer(generated.image.data, np.uint8).reshape(32, 32, 4)[:, :, :3]
        assert (before == shown).all() and not (after == shown).all()  # the picture before the drag, and after
        assert handles == [(12.0, 16.0), (6.0, 6.0)]
        assert result.points == tuple((x + 0.25, y) for x, y in tracked)
        second = client.live_drag(generated.session, [PointPair((19, 16), (5, 5), "a")], options=SLOW)
        poll_until(second, lambda r: isinstance(r, DragProgress) and r.step >= 2)
        assert second.cancel().points == ((19.0, 16.0),) and len(calls) == 1


def test_a_client_gone_with_progress_unacknowledged_is_noticed_and_its_drag_cancelled():
    """An editor closed while a progress was on its way (it never acknowledges it): the daemon probes it anyway
    once it has been silent for client_timeout_s, finds it gone, and cancels the drag; the session is as it was
    for the same user's next connection (no state pushed by a later time-out)."""
    with running_daemon(client_timeout_s=1.5) as daemon:
        with connect(daemon) as client:
            session = client.generate(seed=0).session
        socket = raw_dealer(daemon)
        request = messages.DragRequest(session, (PointPair((12, 16), (19, 16)),), None, DragOptions(live=True))
        socket.send(codec.encode(messages.request_message("d", request)))
        deadline = time.monotonic() + 20
        while not daemon.live.all() or daemon.live.all()[0].loop is None or not daemon.live.all()[0].loop.idle:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        socket.close(linger=0)
        deadline = time.monotonic() + 10
        while daemon.live.all() or daemon.worker.parked():
            assert time.monotonic() < deadline, "the gone client's live drag is still in flight"
            time.sleep(0.05)
        with connect(daemon) as again:
            info = again.session_info(session)
            assert (info.history_index, info.history_length) == (0, 1)  # cancelled: nothing pushed
            assert again.drag(session, [((12, 16), (19, 16))], options=DragOptions(max_steps=5)).history_index == 1
            assert again.undo(session).history_index == 0 and again.redo(session).history_index == 1


def test_a_request_run_while_the_drag_idles_leaves_its_session_held():
    """Another request on the session of an idle live drag ends while the drag still holds the session: the
    session stays safe from the idle time-out (and eviction) until the drag ends."""
    with running_daemon(limits=limits(session_idle_timeout_s=1.0)) as daemon, connect(daemon) as client:
        session = client.generate(seed=0).session
        drag = client.live_drag(session, [PointPair((12, 16), (19, 16), "a")])
        poll_until(drag, idle)
        assert client.drag(session, [((12, 16), (19, 16))], options=DragOptions(max_steps=2)).history_index == 1
        end = time.monotonic() + 2.0
        while time.monotonic() < end:  # the artist looks at the preview for longer than the idle time-out
            drag.poll(0.1)
        drag.update([("a", (19, 22))])
        poll_until(drag, lambda r: idle(r) and r.revision == 1)
        assert drag.commit().history_index == 2
        assert client.session_info(session).history_length == 3


def test_the_time_out_counts_from_the_start_not_from_the_time_in_the_queue():
    """A live drag that waited in the queue longer than its live_timeout_s still runs: it follows its targets
    and times out live_timeout_s after it started (not at once, with no step taken)."""
    with running_daemon() as daemon, connect(daemon) as artist, connect(daemon, user="other") as other:
        session = artist.generate(seed=0).session
        blocker = other_users_drag_running(other)
        drag = artist.live_drag(session, [PointPair((12, 16), (19, 16), "a")],
                                options=DragOptions(live_timeout_s=0.5))
        time.sleep(1.0)  # in the queue, twice its time-out
        other.cancel()
        blocker.join(20)
        result = drag.wait(timeout=20)
        assert result.stopped == "timeout" and result.steps >= 1 and math.dist(result.points[0], (19, 16)) <= 1


def test_a_request_run_while_the_drag_idles_keeps_its_running_marker(tmp_path):
    """The marker that reports a drag cut short by a crash (SPEC.md, "Sessions across restarts") stays while a
    live drag holds the session, also after another request on that session completed (and saved it)."""
    with running_daemon(state_dir=tmp_path) as daemon, connect(daemon) as client:
        session = client.generate(seed=0).session
        marker = daemon.sessions.archive._path(session) / "running.json"
        drag = client.live_drag(session, [PointPair((12, 16), (19, 16), "a")])
        poll_until(drag, idle)
        assert marker.is_file()
        client.drag(session, [((12, 16), (19, 16))], options=DragOptions(max_steps=2))
        assert marker.is_file(), "a plain drag cleared the live drag's marker"
        client.undo(session)
        assert marker.is_file(), "an undo cleared the live drag's marker"
        drag.commit()
        assert not marker.is_file()


def test_live_drags_in_flight_per_user_are_limited_like_the_queue():
    """Parked live drags are not in the queue, yet each holds a drag's state: a user has at most
    max_queue_per_user of them in flight; a further one is refused with `busy` until one ends."""
    with running_daemon(max_queue_per_user=2) as daemon, connect(daemon) as client:
        session = client.generate(seed=0).session
        drags = [client.live_drag(session, [PointPair((12, 16), (19, 16), "a")]) for _ in range(2)]
        for drag in drags:
            poll_until(drag, idle)
        with pytest.raises(DragdError) as caught:
            client.live_drag(session, [PointPair((12, 16), (19, 16), "a")]).wait(timeout=10)
        assert caught.value.code == ErrorCode.BUSY and "live drags" in caught.value.message
        assert drags[0].cancel().stopped == "cancelled"
        again = client.live_drag(session, [PointPair((12, 16), (19, 16), "a")])
        assert poll_until(again, idle).idle
        assert again.cancel().stopped == drags[1].cancel().stopped == "cancelled"
