"""The daemon: one ROUTER socket, one socket thread that owns it, one worker thread that runs torch.

    socket thread:  recv -> decode + validate (protocol) -> Handlers: answer now, or queue a Job
                    <- frames the worker put in the outbox (an inproc PUSH/PULL pair) -> ROUTER
                    every `housekeeping_s`: forget gone clients, set idle sessions aside, remind queued jobs
    worker thread:  FairQueue -> Job.run (jobs.TorchWork) -> progress/result/error -> outbox

Only the socket thread touches the ROUTER socket. Anything a peer sends ends, at worst, in an error reply.
Every peer is authenticated by CurveZMQ (security.py); the key it proved is its *user*, read from each
message's ZAP User-Id, and the limits hold per user. A client is alive while it has a request waiting or
running, and for `client_timeout_s` after its last message or its last reply.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from itertools import count
from typing import Any

import zmq

from ...protocol import codec
from ...protocol import messages as m
from ...protocol.errors import DragdError, ErrorCode, ProtocolError
from ..device import describe_device, pick_device
from .config import ServerConfig
from .handlers import Handlers
from .jobs import TorchWork, describe_failure
from .listen import Listener, StartError, owner_of, server_keys
from .live import LiveJobs
from .logs import log, log_event
from .models import ModelCache
from .persist import SessionArchive
from .security import CurveKeys
from .sessions import SessionStore
from .worker import FairQueue, Job, Worker

DEBUG, INFO, WARNING, ERROR = 10, 20, 30, 40
FLUSH_MS = 2000  # how long closing waits for replies still on their way out
MAX_BATCH = 64  # messages handled from one source before looking at the other (inbound vs outbox)
_instances = count()


class Outbox:
    """The worker's way to send: frames go over inproc to the socket thread, which forwards them."""

    def __init__(self, context: zmq.Context, address: str) -> None:
        self._socket = context.socket(zmq.PUSH)
        self._socket.setsockopt(zmq.LINGER, 0)
        self._socket.connect(address)
        self._lock = threading.Lock()

    def send(self, client: bytes, message: dict[str, Any]) -> None:
        frame = encode_or_internal_error(message)
        with self._lock:
            self._socket.send_multipart([client, frame], copy=False)

    def close(self) -> None:
        with self._lock:
            self._socket.close()


def encode_or_internal_error(message: dict[str, Any]) -> bytes:
    try:
        return codec.encode(message)
    except ProtocolError as exc:  # a bug in a reply we built: the client still gets a final answer
        log_event(log, ERROR, "encode_failed", error=exc.message)
        return codec.encode(m.error_message(message.get("id"), ErrorCode.INTERNAL, exc.message,
                                            request_type=message.get("request_type")))


class Daemon:
    def __init__(self, config: ServerConfig, models: ModelCache | None = None, keys: CurveKeys | None = None) -> None:
        """`keys`: the daemon's CurveZMQ keys when the caller read them already (`serve`); else read here."""
        self.config = config
        limits = config.limits
        self.models = models or ModelCache(pick_device(config.device))
        self.device_description = describe_device(self.models.device)
        # a bad address or keys folder fails here, before anything else
        self.keys = keys if keys is not None else server_keys(config)
        self.owner = owner_of(self.keys.clients_dir)
        archive = (SessionArchive(config.state_dir, config.disk_budget_bytes, self.models)
                   if config.state_dir is not None else None)
        self.sessions = SessionStore(limits.max_sessions, config.max_sessions_per_user,
                                     config.memory_budget_bytes, limits.session_idle_timeout_s,
                                     config.orphan_timeout_s, archive)
        self.queue = FairQueue(limits.max_queue, config.max_queue_per_user)
        self.worker = Worker(self.queue, self._job_failed)
        self.live = LiveJobs()  # live drags in flight, for `live_update`
        self.handlers = Handlers(self)
        for name in config.preload:
            self.models.resolve(name)  # an unknown name fails now, before anything binds
        self.clients: dict[bytes, float] = {}  # routing id -> when last heard from
        self.endpoint: str | None = None  # the bound address (with the real port when 0 or * was asked)
        self.ready = threading.Event()
        self.failure: BaseException | None = None  # why serve() could not start, for start_in_thread
        self._stop = threading.Event()
        self._stop_reason = ""
        self._started = time.monotonic()
        self._router: zmq.Socket | None = None
        self.work: TorchWork | None = None

    def uptime(self) -> float:
        return time.monotonic() - self._started

    def request_stop(self, why: str = "a shutdown request") -> None:
        """Stops serving; `why` (a signal, a shutdown request) goes in the log with every job it cancels."""
        self._stop_reason = why
        self._stop.set()

    # --- lifecycle -----------------------------------------------------------------------------------

    def serve(self, listener: Listener | None = None) -> None:
        """Binds (unless `listener` is already bound), serves until `request_stop()` (or a `shutdown`
        request), then cleans up."""
        pull = outbox = None
        try:
            listener = listener or Listener.open(self.config, self.keys)
            router = self._router = listener.router
            router.setsockopt(zmq.SNDHWM, 10_000)  # progress bursts; a client that stops reading loses some
            # ZMTP heartbeats: libzmq drops a peer that stops answering (a crashed machine, a pulled cable), so
            # the next send to it fails and its sessions are orphaned. Clients answer them without any code.
            keepalive_ms = int(self.config.limits.keepalive_s * 1000)
            router.setsockopt(zmq.HEARTBEAT_IVL, keepalive_ms)
            router.setsockopt(zmq.HEARTBEAT_TIMEOUT, 5 * keepalive_ms)
            self.endpoint = listener.endpoint
            outbox_address = f"inproc://dragd-outbox-{next(_instances)}"
            pull = listener.context.socket(zmq.PULL)
            pull.bind(outbox_address)
            outbox = Outbox(listener.context, outbox_address)
            self.work = TorchWork(self.models, self.sessions, outbox.send, self.config.inversion_steps)
            self.worker.start()
            for name in self.config.preload:
                self.queue.put(Job(b"", None, "preload", lambda job, name=name: self.work.preload(name)))
            log_event(log, INFO, "listening", address=self.endpoint, device=self.device_description,
                      saved_sessions=self.sessions.saved())
            self.ready.set()
            self._loop(router, pull)
        except BaseException as exc:
            self.failure = exc
            if not isinstance(exc, StartError):
                log_event(log, ERROR, "serve_failed", error=str(exc)[:500])
            raise
        finally:
            self.ready.set()
            self.worker.stop()
            if pull is not None:
                pull.close(linger=0)
            if listener is not None:
                listener.close(FLUSH_MS)  # the last replies (the shutdown's own) still go out
            if outbox is not None:
                outbox.close()
            if listener is not None:
                listener.context.term()
            self._router = None
            log_event(log, INFO, "stopped")

    def start_in_thread(self, timeout: float = 30.0) -> threading.Thread:
        """Runs `serve()` on a thread (tests, embedding) and returns once it listens, or raises why not."""
        thread = threading.Thread(target=self._serve_quietly, name="dragd-socket", daemon=True)
        thread.start()
        if not self.ready.wait(timeout):
            raise TimeoutError("the daemon did not start listening in time")
        if self.failure is not None:
            raise self.failure
        return thread

    def _serve_quietly(self) -> None:
        with contextlib.suppress(BaseException):  # recorded in self.failure for start_in_thread
            self.serve()

    # --- the socket loop ------------------------------------------------------------------------------

    def _loop(self, router: zmq.Socket, pull: zmq.Socket) -> None:
        poller = zmq.Poller()
        poller.register(router, zmq.POLLIN)
        poller.register(pull, zmq.POLLIN)
        next_housekeeping = 0.0
        while not self._stop.is_set():
            ready = dict(poller.poll(timeout=self.config.housekeeping_s * 1000))
            if pull in ready:
                self._forward_outbox(pull)
            if router in ready:
                self._receive(router)
            if time.monotonic() >= next_housekeeping:
                self._housekeeping()
                next_housekeeping = time.monotonic() + self.config.housekeeping_s
        self._wind_down(pull)

    def _wind_down(self, pull: zmq.Socket) -> None:
        """SPEC, `shutdown`: waiting requests end with `cancelled`; a running drag is cancelled and still sends
        its result. Everything the worker produced is forwarded before the sockets close."""
        why = f"the daemon is shutting down ({self._stop_reason})"
        log_event(log, INFO, "stopping", why=self._stop_reason)
        for job in self.queue.in_order():
            if self.queue.remove(job.client, job.request_id) is not None and job.request is not None:
                log_event(log, INFO, "job_cancelled", peer=job.client.hex(), type=job.kind, id=job.request_id,
                          state="waiting", why=why)
                self.send(job.client, job.request.error(ErrorCode.CANCELLED, "the daemon is shutting down"))
        running = self.worker.current
        if running is not None and running.request is not None:
            log_event(log, INFO, "job_cancelled", peer=running.client.hex(), type=running.kind, id=running.request_id,
                      state="running", why=why)
        self.worker.stop()
        for job in self.worker.parked() + self.queue.started():  # live drags between turns
            if job.request is not None:
                self.send(job.client, job.request.error(ErrorCode.CANCELLED, "the daemon is shutting down"))
        while pull.poll(0):
            self._forward_outbox(pull)

    def _forward_outbox(self, pull: zmq.Socket) -> None:
        for _ in range(MAX_BATCH):
            try:
                client, frame = pull.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            self._send_frame(client.bytes, frame)

    def _receive(self, router: zmq.Socket) -> None:
        for _ in range(MAX_BATCH):
            try:
                frames = router.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            client = frames[0].bytes
            try:
                self._handle(client, user_of(frames[-1]), frames[1:])
            except Exception as exc:  # a bug in a handler: answer, log, keep serving
                log_event(log, ERROR, "handler_failed", exc_info=True, peer=client.hex(), error=repr(exc))
                self.send(client, m.error_message(None, ErrorCode.INTERNAL, f"unexpected error in the daemon: "
                                                                           f"{type(exc).__name__}"))

    def _handle(self, client: bytes, user: str, frames: list[zmq.Frame]) -> None:
        self.clients[client] = time.monotonic()
        if len(frames) != 1:
            self.send(client, m.error_message(None, ErrorCode.BAD_REQUEST,
                                              f"a message is exactly one frame, got {len(frames)}"))
            return
        try:
            request = m.validate_request(codec.decode(frames[0].buffer, self.config.limits.max_frame_bytes),
                                         self.config.limits)
        except ProtocolError as exc:
            log_event(log, INFO, "bad_message", peer=client.hex(), code=exc.code, error=exc.message[:200])
            self.send(client, m.error_message_from(exc))
            return
        log_event(log, DEBUG, "request", peer=client.hex(), type=request.type, id=request.id)
        try:
            self.handlers.handle(client, user, request)
        except DragdError as exc:
            log_event(log, INFO, "refused", peer=client.hex(), user=user[:8], type=request.type, id=request.id,
                      code=exc.code, error=redact(exc.message))
            self.send(client, request.error(exc.code, exc.message, exc.details))

    def send(self, client: bytes, message: dict[str, Any]) -> None:
        """Sends from the socket thread (the worker uses the outbox)."""
        self._send_frame(client, encode_or_internal_error(message))

    def _send_frame(self, client: bytes, frame: Any) -> None:
        assert self._router is not None
        try:
            self._router.send_multipart([client, frame], zmq.NOBLOCK, copy=False)
        except zmq.ZMQError as exc:
            log_event(log, DEBUG, "send_dropped", peer=client.hex(), error=exc.strerror)
            if exc.errno == zmq.EHOSTUNREACH:  # its connection is gone (closed, or ZMTP heartbeats timed out)
                self.clients.pop(client, None)
                self._forget_client(client, "its client disconnected")

    # --- the worker's failures ------------------------------------------------------------------------

    def _job_failed(self, job: Job, exc: BaseException) -> None:
        code, text, is_bug = describe_failure(exc)
        log_event(log, ERROR if is_bug else INFO, "job_failed", exc_info=is_bug, peer=job.client.hex(),
                  type=job.kind, id=job.request_id, code=code, error=redact(text)[:500])
        if job.request is not None and self.work is not None:
            self.work.send(job.client, job.request.error(code, text))

    # --- housekeeping ---------------------------------------------------------------------------------

    def _housekeeping(self) -> None:
        now = time.monotonic()
        busy, finished = self.worker.in_flight()
        for client, when in finished.items():  # a reply just went out: its client has time to send the next
            if client in self.clients:
                self.clients[client] = max(self.clients[client], when)
        for client, heard in list(self.clients.items()):
            # A client with work in flight is probed by its progress and keepalives instead: a failed send
            # to it means it is gone (see _send_frame).
            if client in busy:
                self.clients[client] = now
            elif now - heard > self.config.client_timeout_s:
                del self.clients[client]
                self._forget_client(client, f"its client sent nothing for {self.config.client_timeout_s:g} s and "
                                            "had no request in flight")
        for session in self.sessions.expire_idle():
            self.worker.cancel_session(session.id)
        for live in self.live.all():
            if live.timed_out():
                live.wake()  # it ends ("timeout") on its next turn
        # Keepalives: a request that went keepalive_s without a message hears where it stands (0: running; a
        # parked live drag counts as running). A live drag with progress unacknowledged hears nothing more until
        # client_timeout_s passed: then one probe, as a failed send is how a gone client is noticed.
        running = self.worker.current
        line = ([running] if running is not None else []) + self.queue.in_order()
        for position, job in [*enumerate(line), *((0, job) for job in self.worker.parked())]:
            if job.request is not None and now - job.noticed_at >= self.config.limits.keepalive_s:
                if (job.keepalive_due is not None and not job.keepalive_due()
                        and now - job.noticed_at < self.config.client_timeout_s):
                    continue
                job.noticed_at = now
                self.send(job.client, job.request.waiting(position))

    def _forget_client(self, client: bytes, why: str) -> None:
        """A client that went away: drop its waiting jobs, cancel its running one. Its sessions stay, orphaned,
        for `orphan_timeout_s` (another connection of the same user may resume them with their ids), then are
        set aside (kept on disk) or, without a state folder, closed."""
        sessions = self.sessions.orphan_client(client)
        running = self.worker.current
        dropped = self.worker.cancel_client(client)
        for job in dropped + ([running] if running is not None and running.client == client else []):
            log_event(log, INFO, "job_cancelled", peer=client.hex(), type=job.kind, id=job.request_id, why=why)
        if sessions or dropped:
            log_event(log, INFO, "client_gone", peer=client.hex(), why=why, sessions=len(sessions),
                      jobs=len(dropped))


def user_of(frame: zmq.Frame) -> str:
    """The authenticated user of a message: the ZAP User-Id (the Z85 text of the client's CurveZMQ key)."""
    try:
        return frame.get("User-Id")
    except (zmq.ZMQError, AttributeError):  # pragma: no cover - every connection is CurveZMQ with ZAP
        return ""


def redact(text: str) -> str:
    """A message for the log without session ids (capabilities): `no session 'abc...'` -> `no session '…'`."""
    return re.sub(r"session '[^']*'", "session '…'", text)
