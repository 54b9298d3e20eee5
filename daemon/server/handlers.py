"""What the daemon does with each validated request, on the socket thread.

Quick requests (hello, ping, status, cancel, ...) are answered here at once, so they stay responsive while
a drag runs. Requests that run torch become jobs on the worker's fair queue (`jobs.py` does their work).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from importlib import metadata
from typing import TYPE_CHECKING, Any

import torch

from ...protocol import messages as m
from ...protocol.errors import DragdError, ErrorCode
from ...protocol.limits import PROTOCOL_VERSION
from ...protocol.wire import MAX_TEXT_LENGTH
from . import restore
from .live import LiveJob, live_update
from .logs import log, log_event
from .worker import Job

if TYPE_CHECKING:
    from .app import Daemon

JOB_REQUESTS = ("generate", "open_session", "drag", "undo", "redo")


def daemon_version() -> str:
    try:
        return metadata.version("dragd")
    except metadata.PackageNotFoundError:
        return "unknown"


def memory() -> m.Memory:
    rss = None
    try:
        with open("/proc/self/statm") as statm:  # Linux: resident pages are the second field
            rss = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        pass
    allocated = total = None
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        allocated = torch.cuda.memory_allocated()
        total = torch.cuda.get_device_properties(torch.cuda.current_device()).total_memory
    return m.Memory(rss, allocated, total)


class Handlers:
    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.table: dict[str, Callable[[bytes, str, m.Request], dict[str, Any] | None]] = {
            "hello": self.hello, "ping": self.ping, "list_models": self.list_models, "cancel": self.cancel,
            "close_session": self.close_session, "status": self.status, "shutdown": self.shutdown,
            "heartbeat": self.heartbeat, "session_info": self.session_info, "live_update": self.live_update,
        }

    def handle(self, client: bytes, user: str, request: m.Request) -> None:
        """`client`: the connection (routing id); `user`: who authenticated it (ZAP User-Id)."""
        if request.type == "drag" and request.body.options.live:
            self.enqueue_live(client, user, request)
            return
        if request.type in JOB_REQUESTS:
            self.enqueue(client, user, request)
            return
        if request.type in restore.REQUESTS:  # editors' state bindings: restore.py
            work = self.daemon.work
            self.enqueue(client, user, request, lambda job, req: getattr(restore, req.type)(work, job, req))
            return
        reply = self.table[request.type](client, user, request)
        if reply is not None:
            self.daemon.send(client, reply)

    # --- queued work ----------------------------------------------------------------------------------

    def enqueue(self, client: bytes, user: str, request: m.Request,
                run: Callable[[Job, m.Request], None] | None = None,
                prepare: Callable[[Job], None] | None = None) -> Job:
        """Queues the request's job; `prepare(job)` runs first (the worker may take the job at once)."""
        daemon = self.daemon
        run = run or getattr(daemon.work, request.type)
        session_id = getattr(request.body, "session", None)
        if session_id is not None:
            daemon.sessions.get(user, client, session_id)  # an unknown session is answered now, not after the queue
        job = Job(client, request.id, request.type, lambda job: run(job, request), session_id, request,
                  noticed_at=time.monotonic(), user=user)
        ahead = daemon.queue.pending() + (daemon.worker.current is not None)
        if prepare is not None:
            prepare(job)
        daemon.queue.put(job)
        if ahead:
            daemon.send(client, request.waiting(ahead))
        return job

    def enqueue_live(self, client: bytes, user: str, request: m.Request) -> None:
        """A live drag (server/live.py): a job like a drag's, known to `live_update` from now on."""
        daemon = self.daemon
        frame = daemon.sessions.get(user, client, request.body.session).frame
        # Parked live drags are not in the queue, but each holds a drag's state: the queue's limit bounds them.
        in_flight = sum(1 for other in daemon.live.all() if other.job.user == user)
        if in_flight >= daemon.config.max_queue_per_user:
            raise DragdError(ErrorCode.BUSY, f"this user already has {in_flight} live drags in flight; commit or "
                                             "cancel one first")
        live: list[LiveJob] = []

        def prepare(job: Job) -> None:
            live.append(LiveJob(daemon.work, daemon.worker, daemon.live, job, request, frame))

        try:
            self.enqueue(client, user, request, lambda job, req: live[0].run(job), prepare)
        except DragdError:
            if live:  # refused (busy): nothing to address
                daemon.live.drop(live[0])
            raise

    # --- answered at once -----------------------------------------------------------------------------

    def hello(self, client: bytes, user: str, request: m.Request) -> dict[str, Any]:
        daemon = self.daemon
        log_event(log, 20, "hello", client=request.body.client, peer=client.hex(), user=user[:8])
        capabilities = [m.Capability.GENERATE, m.Capability.INVERT, m.Capability.DRAG, m.Capability.UNDO,
                        m.Capability.PREVIEWS, m.Capability.RESTORE, m.Capability.CURVE, m.Capability.LIVE]
        return request.result(m.HelloResult(PROTOCOL_VERSION, daemon_version(), daemon.device_description,
                                             tuple(self._models()), daemon.config.limits, tuple(capabilities)))

    def _models(self) -> list[m.ModelInfo]:
        models = self.daemon.models
        listed = []
        for info in models.available():
            shape = models.resolution(info)
            if shape is None:
                log_event(log, 30, "model_unreadable", model=info.name, path=str(info.path))
                continue
            height, width = shape
            listed.append(m.ModelInfo(info.name, (width, height), info.domain, info.default_step_size,
                                      info.description[:MAX_TEXT_LENGTH], info.name == models.default))
        return listed

    def ping(self, client: bytes, user: str, request: m.Request) -> dict[str, Any]:
        return request.result(m.PingResult(self.daemon.uptime()))

    def list_models(self, client: bytes, user: str, request: m.Request) -> dict[str, Any]:
        return request.result(m.ListModelsResult(tuple(self._models())))

    def cancel(self, client: bytes, user: str, request: m.Request) -> dict[str, Any]:
        found = self.daemon.worker.cancel(client, request.body.target)
        if found is None:
            return request.error(ErrorCode.NOT_FOUND, f"no request {request.body.target!r} of this client is "
                                                      "waiting or running")
        job, state = found
        if state == "waiting":  # it never ran, so its final reply is this error
            self.daemon.send(client, job.request.error(ErrorCode.CANCELLED, "cancelled before it started"))
        log_event(log, 20, "job_cancelled", peer=client.hex(), type=job.kind, id=job.request_id, state=state,
                  why="its client asked")
        return request.result(m.CancelResult(state))

    def live_update(self, client: bytes, user: str, request: m.Request) -> dict[str, Any]:
        return live_update(self.daemon.live, client, request)

    def close_session(self, client: bytes, user: str, request: m.Request) -> dict[str, Any]:
        session = self.daemon.sessions.close(user, client, request.body.session)
        self.daemon.worker.cancel_session(session.id)
        log_event(log, 20, "session_closed", session=session.key, peer=client.hex())
        return request.result(m.CloseSessionResult())

    def status(self, client: bytes, user: str, request: m.Request) -> dict[str, Any]:
        daemon = self.daemon
        running = daemon.worker.current
        return request.result(m.StatusResult(
            daemon_version(), daemon.device_description, daemon.sessions.count(), len(daemon.clients),
            daemon.queue.pending(), None if running is None else running.kind, memory(), daemon.uptime()))

    def shutdown(self, client: bytes, user: str, request: m.Request) -> dict[str, Any]:
        if user != self.daemon.owner:
            raise DragdError(ErrorCode.FORBIDDEN, "only the user who started the daemon may shut it down")
        log_event(log, 20, "shutdown_requested", peer=client.hex())
        self.daemon.request_stop()
        return request.result(m.ShutdownResult())

    def heartbeat(self, client: bytes, user: str, request: m.Request) -> dict[str, Any]:
        # touching them keeps them from idle expiry; saved ones are reported without reading them back
        alive = self.daemon.sessions.alive(user, client, request.body.sessions)
        return request.result(m.HeartbeatResult(tuple(alive)))

    def session_info(self, client: bytes, user: str, request: m.Request) -> dict[str, Any]:
        sessions = self.daemon.sessions
        with sessions.lock:
            session = sessions.get(user, client, request.body.session)
            return request.result(m.SessionInfoResult(
                session.model.info.name, session.index, len(session.history), session.can_undo, session.can_redo,
                session.restored, session.interrupted))
