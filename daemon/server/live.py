"""Live drags in the daemon (SPEC.md, "Live drags"): the job that runs one, its latest-wins progress channel,
and the registry `live_update` finds it in.

A live drag is one worker `Job` that runs many times: each turn steps the engine's `LiveLoop` (daemon/engine/
live.py) until the drag is idle (then it parks: the worker serves other jobs and nothing runs for the drag) or
other users' jobs wait and it had its slice (then it queues itself behind them). `live_update` (socket thread)
hands new pairs to the engine and wakes a parked drag; so do a commit, a cancel and the time-out (housekeeping).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from ...protocol import messages as m
from ...protocol.errors import DragdError, ErrorCode
from ...protocol.limits import DEFAULT_LIVE_TIMEOUT_S
from ..engine.drag import DragInputError, PairKey, Point
from ..engine.live import LiveFrame, LiveLoop, PreviewBudget
from ..engine.pairs import key_id
from ..engine.points import inside_image
from .jobs import TorchWork, drag_run, patch
from .logs import log, log_event
from .sessions import Session, SessionFrame
from .worker import Job, Worker

INFO = 20
LIVE_SLICE_S = 0.25  # a stepping live drag lets other users' waiting jobs run after this long


class LiveChannel:
    """Latest-wins progress of one live drag: at most one message sent and not acknowledged (`seen`); newer
    progress meanwhile replaces the one waiting here, which goes out when the acknowledgement comes.

    Images have a credit of their own: a preview is worth rendering while no image is on its way (sent and not
    acknowledged, or waiting here). A client that polls slower than the drag steps still gets previews: a
    points-only progress outstanding does not hold them back. One that does not read at all gets one image."""

    def __init__(self, request: m.Request, send: Callable[[dict[str, Any]], None]) -> None:
        self._request = request
        self._send_message = send
        self._lock = threading.Lock()
        self._seq = 0
        self._outstanding: int | None = None  # seq of the message sent and not acknowledged
        self._outstanding_image = False  # whether that message has an image
        self._waiting: m.DragProgress | None = None
        self._closed = False

    @property
    def clear(self) -> bool:
        """Nothing unacknowledged: a progress offered now goes out at once."""
        with self._lock:
            return self._outstanding is None

    @property
    def image_credit(self) -> bool:
        """No image on its way: a preview rendered now is the next one the client sees."""
        with self._lock:
            outstanding = self._outstanding is not None and self._outstanding_image
            return not outstanding and (self._waiting is None or self._waiting.image is None)

    def offer(self, progress: m.DragProgress) -> None:
        """Send `progress` (its `seq` is set here), or keep it as the one waiting. A waiting preview the newer
        progress lacks stays with it: the newest points, the newest image rendered, and that image's revision
        (what the preview shows)."""
        with self._lock:
            if self._closed:
                return
            if self._outstanding is None:
                self._send(progress)
                return
            waiting = self._waiting
            if progress.image is None and waiting is not None and waiting.image is not None:
                progress = dataclasses.replace(progress, image=waiting.image, offset=waiting.offset,
                                               revision=waiting.revision)
            self._waiting = progress

    def acknowledge(self, seen: int) -> None:
        with self._lock:
            if self._closed or self._outstanding is None or seen < self._outstanding:
                return
            self._outstanding = None
            if self._waiting is not None:
                waiting, self._waiting = self._waiting, None
                self._send(waiting)

    def close(self) -> None:
        """No more progress (the final reply follows); what waits is dropped."""
        with self._lock:
            self._closed = True
            self._waiting = None

    def _send(self, progress: m.DragProgress) -> None:
        self._seq += 1
        self._outstanding = self._seq
        self._outstanding_image = progress.image is not None
        self._send_message(self._request.progress(dataclasses.replace(progress, seq=self._seq)))


class LiveJobs:
    """The live drags in flight, by (connection, request id): what `live_update` may address."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[tuple[bytes, Any], LiveJob] = {}

    def add(self, live: LiveJob) -> None:
        with self._lock:
            self._jobs[live.key] = live

    def drop(self, live: LiveJob) -> None:
        with self._lock:
            if self._jobs.get(live.key) is live:
                del self._jobs[live.key]

    def get(self, client: bytes, request_id: Any) -> LiveJob | None:
        with self._lock:
            return self._jobs.get((client, request_id))  # a job cancelled before it ran is gone (`wake`)

    def all(self) -> list[LiveJob]:
        with self._lock:
            return list(self._jobs.values())


class LiveJob:
    """One live drag: `run` is its worker Job's work (every turn), `update` its `live_update` (socket thread)."""

    render_fresh = True  # render the first frame that shows an update (False: budget only, for benchmarks/live.py)

    def __init__(self, work: TorchWork, worker: Worker, registry: LiveJobs, job: Job, request: m.Request,
                 frame: SessionFrame) -> None:
        self.work, self.worker, self.registry, self.job, self.request = work, worker, registry, job, request
        self.key = (job.client, job.request_id)
        self.frame = frame  # the session's, to check updates that come before the drag starts
        body: m.DragRequest = request.body
        self.timeout_s = body.options.live_timeout_s or DEFAULT_LIVE_TIMEOUT_S
        self.channel = LiveChannel(request, lambda message: work.send(job.client, message))
        self.budget = PreviewBudget()
        self.session: Session | None = None
        self.loop: LiveLoop | None = None
        self.revision = 0  # the highest accepted
        self._shown_revision = 0  # the highest revision a preview showed
        self.idle = False
        self._lock = threading.Lock()
        self._last_change = time.monotonic()  # of the start, the points or a commit: the time-out counts from it
        self._commit = False
        self._early: tuple[list[tuple[PairKey, Point | None, Point]], int] | None = None  # before it started
        # Where each pair's handle started, in the session frame (the request's, or the update's for a key added
        # later): the result reports where that content is (`SessionFrame.final_points`).
        self._handles = {key_id(key): pair.handle for key, pair in zip(m.pair_keys(body.points), body.points,
                                                                       strict=True)}
        self._before: np.ndarray | None = None  # the session's picture when the drag started
        job.keepalive_due = lambda: self.channel.clear
        registry.add(self)  # before the hook: a job cancelled already is dropped again by `wake` at once
        job.on_cancel(self.wake)

    # --- socket thread ------------------------------------------------------------------------------------

    def update(self, body: m.LiveUpdateRequest) -> m.LiveUpdateResult:
        """Takes a `live_update`; raises DragdError(bad_request) for a stale revision or unusable points (the drag
        carries on as it was)."""
        with self._lock:
            if body.revision is not None and body.revision <= self.revision:
                raise DragdError(ErrorCode.BAD_REQUEST, f"revision {body.revision} is not above {self.revision}, "
                                                        "the last accepted one")
            if body.points is not None:
                pairs = self._to_model(body.points)
                known = set(map(key_id, self.loop.run.keys if self.loop is not None
                                else m.pair_keys(self.request.body.points)))
                try:
                    if self.loop is not None:
                        self.loop.run.set_pairs(pairs, body.revision or 0)
                    else:
                        self._early = (self._check_early(pairs), body.revision or 0)
                except DragInputError as exc:
                    raise DragdError(ErrorCode.BAD_REQUEST, str(exc)) from None
                self._handles.update({key_id(p.key): p.handle for p in body.points
                                      if p.handle is not None and key_id(p.key) not in known})
                self._last_change = time.monotonic()
            elif body.revision is not None and self.loop is not None:
                self.loop.run.note_revision(body.revision)
            if body.revision is not None:
                self.revision = body.revision
            if body.commit:
                self._commit = True
                self._last_change = time.monotonic()
            idle = self.idle
        if body.seen is not None:
            self.channel.acknowledge(body.seen)
        if body.points is not None or body.commit:
            self.wake()
        return m.LiveUpdateResult(self.revision, idle)

    def _to_model(self, points: tuple[m.LivePoint, ...]) -> list[tuple[PairKey, Point | None, Point]]:
        targets = self.frame.to_model([point.target for point in points])  # raises DragdError for unusable ones
        given = [point.handle for point in points if point.handle is not None]
        handles = iter(self.frame.to_model(given) if given else [])
        return [(point.key, None if point.handle is None else next(handles), target)
                for point, target in zip(points, targets, strict=True)]

    def _check_early(self, pairs: list[tuple[PairKey, Point | None, Point]]) -> list[tuple[PairKey, Point | None,
                                                                                         Point]]:
        """Pairs sent before the drag started, checked as the engine will (`DragRun.set_pairs`), with the handles
        of new keys that an earlier such update gave."""
        height, width = self.frame.generator.img_shape
        known = {key_id(key) for key in m.pair_keys(self.request.body.points)}
        earlier = {} if self._early is None else {key_id(k): h for k, h, _ in self._early[0] if h is not None}
        checked = []
        for key, handle, target in pairs:
            if key_id(key) not in known:
                handle = handle if handle is not None else earlier.get(key_id(key))
                if handle is None:
                    raise DragInputError(f"pair {key!r} is new and needs a handle")
            for point in (target,) if handle is None else (handle, target):
                if not inside_image(point, width, height):
                    raise DragInputError(f"point ({point[0]:g}, {point[1]:g}) of pair {key!r} is outside the image")
            checked.append((key, handle, target))
        return checked

    def wake(self) -> None:
        """Something new (points, commit, cancel, time-out): a parked drag runs again."""
        if self.loop is not None:
            self.loop.wake.set()
        elif self.job.cancelled and not self.job.started:
            self.registry.drop(self)  # cancelled while it waited: it never runs
        self.worker.resume(self.job)

    def timed_out(self) -> bool:
        return time.monotonic() - self._last_change >= self.timeout_s

    # --- worker thread ------------------------------------------------------------------------------------

    def run(self, job: Job) -> None:
        try:
            if self.loop is None:
                self._start(job)
            self._turn(job)
        except BaseException:
            self._abandon()
            raise

    def _start(self, job: Job) -> None:
        self.session = self.work.acquire(job, self.request.body.session)
        self._before = self.session.image
        run = drag_run(self.session, self.request.body)
        self.work.sessions.mark_running(self.session, "drag")  # until it ends: a crash before then is reported
        with self._lock:
            self._last_change = time.monotonic()  # the time in the queue does not count
            early, self._early = self._early, None
            if early is not None:
                try:
                    run.set_pairs(*early)
                except DragInputError as exc:  # checked on arrival against the image; the drag keeps its points
                    log_event(log, INFO, "live_update_dropped", error=str(exc)[:200])
            if self.revision:
                run.note_revision(self.revision)
            self.loop = LiveLoop(run, run.options.max_steps)
        log_event(log, INFO, "live_drag_started", session=self.session.key, peer=job.client.hex())

    def _turn(self, job: Job) -> None:
        loop = self.loop
        assert loop is not None
        turn_ends = time.monotonic() + LIVE_SLICE_S
        while True:
            ending = self._ending(job)
            if ending is not None:
                self._finish(job, ending)
                return
            if loop.idle and not loop.wake.is_set():
                self.worker.park(job)
                if loop.wake.is_set() or self._ending(job) is not None:
                    self.worker.resume(job)  # woken while parking: run again
                return
            if time.monotonic() > turn_ends and self.worker.queue.others_waiting(job.line):
                self.worker.queue.resume(job)  # behind the other users' jobs (the queue's round robin)
                return
            self._step(job, loop)

    def _ending(self, job: Job) -> str | None:
        if job.cancelled:
            return "cancelled"
        if self._commit:
            return "committed"
        return "timeout" if self.timed_out() else None

    def _step(self, job: Job, loop: LiveLoop) -> None:
        # A preview when the client can take one and it is due, or when it would be the first to show an update
        # (the latency an artist feels); the budget counts that one too.
        fresh = self.render_fresh and loop.next_revision > self._shown_revision
        frame = loop.advance(want_image=self.channel.image_credit and (fresh or self.budget.due(loop.step_s)))
        if frame.image is not None:
            self._shown_revision = max(self._shown_revision, frame.revision)
        self.idle = frame.idle
        self.channel.offer(self._progress(frame))
        job.noticed_at = time.monotonic()

    def _progress(self, frame: LiveFrame) -> m.DragProgress:
        assert self.session is not None
        image = offset = None
        if frame.image is not None:
            started = time.perf_counter()
            image, offset = patch(self.session, frame.image)
            self.budget.spent(frame.render_s + time.perf_counter() - started)
        points = tuple(self.session.frame.to_frame(frame.points))
        return m.DragProgress(frame.steps, points, frame.loss, image, offset, tuple(frame.keys), frame.revision,
                              None, frame.idle)

    def _finish(self, job: Job, stopped: str) -> None:
        session, loop = self.session, self.loop
        assert session is not None and loop is not None
        self.channel.close()
        self.registry.drop(self)
        handles = [self._handles[key_id(key)] for key in loop.run.keys]
        if stopped == "cancelled":  # a cancelled live drag leaves the session, and its content, as it was
            self.work.sessions.clear_running(session)
            points, reached, image = handles, loop.reached, session.image
        else:
            result = loop.finish(stopped)
            session.push(result.ws, result.image)
            self.work.completed(session)
            points = session.frame.final_points(self._before, result.image, handles, result.points)
            reached, image = result.reached, result.image
        self.work.release(session)
        log_event(log, INFO, "drag_done", session=session.key, live=True, steps=loop.steps, stopped=stopped)
        picture, offset = patch(session, image)
        self.work.send(job.client, self.request.result(m.DragResult(
            loop.steps, tuple(points), reached, stopped, picture, offset, session.index,
            tuple(loop.run.keys))))

    def _abandon(self) -> None:
        """It failed (the worker answers with an error): no more progress, the session is free again."""
        self.channel.close()
        self.registry.drop(self)
        if self.session is not None:
            self.work.sessions.clear_running(self.session)
            self.work.release(self.session)
            self.session = None


def live_update(registry: LiveJobs, client: bytes, request: m.Request) -> dict[str, Any]:
    """The reply to a `live_update` (socket thread): answered at once, never queued."""
    live = registry.get(client, request.body.target)
    if live is None:
        raise DragdError(ErrorCode.NOT_FOUND, f"no live drag {request.body.target!r} of this client is in flight")
    return request.result(live.update(request.body))
