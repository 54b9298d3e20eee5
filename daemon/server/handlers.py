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
        self.table: dict[str, Callable[[bytes, m.Request], dict[str, Any] | None]] = {
            "hello": self.hello, "ping": self.ping, "list_models": self.list_models, "cancel": self.cancel,
            "close_session": self.close_session, "status": self.status, "shutdown": self.shutdown,
            "heartbeat": self.heartbeat,
        }

    def handle(self, client: bytes, request: m.Request) -> None:
        if request.type in JOB_REQUESTS:
            self.enqueue(client, request)
            return
        if request.type in restore.REQUESTS:  # editors' state bindings: restore.py
            work = self.daemon.work
            self.enqueue(client, request, lambda job, req: getattr(restore, req.type)(work, job, req))
            return
        reply = self.table[request.type](client, request)
        if reply is not None:
            self.daemon.send(client, reply)

    # --- queued work ----------------------------------------------------------------------------------

    def enqueue(self, client: bytes, request: m.Request, run: Callable[[Job, m.Request], None] | None = None,
                ) -> None:
        daemon = self.daemon
        run = run or getattr(daemon.work, request.type)
        session_id = getattr(request.body, "session", None)
        if session_id is not None:
            daemon.sessions.get(client, session_id)  # an unknown session is answered now, not after the queue
        job = Job(client, request.id, request.type, lambda job: run(job, request), session_id, request,
                  noticed_at=time.monotonic())
        ahead = daemon.queue.pending() + (daemon.worker.current is not None)
        daemon.queue.put(job)
        if ahead:
            daemon.send(client, request.waiting(ahead))

    # --- answered at once -----------------------------------------------------------------------------

    def hello(self, client: bytes, request: m.Request) -> dict[str, Any]:
        daemon = self.daemon
        log_event(log, 20, "hello", client=request.body.client, peer=client.hex())
        capabilities = [m.Capability.GENERATE, m.Capability.INVERT, m.Capability.DRAG, m.Capability.UNDO,
                        m.Capability.PREVIEWS, m.Capability.RESTORE]
        if daemon.curve:
            capabilities.append(m.Capability.CURVE)
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

    def ping(self, client: bytes, request: m.Request) -> dict[str, Any]:
        return request.result(m.PingResult(self.daemon.uptime()))

    def list_models(self, client: bytes, request: m.Request) -> dict[str, Any]:
        return request.result(m.ListModelsResult(tuple(self._models())))

    def cancel(self, client: bytes, request: m.Request) -> dict[str, Any]:
        found = self.daemon.worker.cancel(client, request.body.target)
        if found is None:
            return request.error(ErrorCode.NOT_FOUND, f"no request {request.body.target!r} of this client is "
                                                      "waiting or running")
        job, state = found
        if state == "waiting":  # it never ran, so its final reply is this error
            self.daemon.send(client, job.request.error(ErrorCode.CANCELLED, "cancelled before it started"))
        log_event(log, 20, "cancel", peer=client.hex(), target=job.request_id, state=state)
        return request.result(m.CancelResult(state))

    def close_session(self, client: bytes, request: m.Request) -> dict[str, Any]:
        session = self.daemon.sessions.close(client, request.body.session)
        self.daemon.worker.cancel_session(session.id)
        return request.result(m.CloseSessionResult())

    def status(self, client: bytes, request: m.Request) -> dict[str, Any]:
        daemon = self.daemon
        running = daemon.worker.current
        return request.result(m.StatusResult(
            daemon_version(), daemon.device_description, daemon.sessions.count(), len(daemon.clients),
            daemon.queue.pending(), None if running is None else running.kind, memory(), daemon.uptime()))

    def shutdown(self, client: bytes, request: m.Request) -> dict[str, Any]:
        log_event(log, 20, "shutdown_requested", peer=client.hex())
        self.daemon.request_stop()
        return request.result(m.ShutdownResult())

    def heartbeat(self, client: bytes, request: m.Request) -> dict[str, Any]:
        alive = []
        for session_id in request.body.sessions:
            try:
                self.daemon.sessions.get(client, session_id)  # touching it keeps it from idle expiry
            except DragdError:
                continue
            alive.append(session_id)
        return request.result(m.HeartbeatResult(tuple(alive)))
