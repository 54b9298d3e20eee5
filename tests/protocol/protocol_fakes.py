"""A tiny stand-in for the dragd daemon: a ROUTER socket in a thread that speaks the protocol with canned answers.

It uses the protocol module's own builders and validation, so the client tests also check that what a daemon
builds with them is what the client accepts. Drags stream one progress message per tick and honour `cancel`.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import zmq
import zmq.auth
from dragd.protocol import (
    DEFAULT_LIMITS,
    PROTOCOL_VERSION,
    CancelResult,
    CloseSessionResult,
    DragProgress,
    DragResult,
    ErrorCode,
    GenerateResult,
    HeartbeatResult,
    HelloResult,
    HistoryResult,
    Image,
    Limits,
    ListModelsResult,
    Memory,
    ModelInfo,
    PingResult,
    ProtocolError,
    Request,
    ShutdownResult,
    StatusResult,
    decode,
    encode,
    error_message_from,
    router_socket,
    validate_request,
)
from dragd.protocol.transport import keys_folder

MODELS = (
    ModelInfo("faces-128", (128, 128), "faces", 0.002, "tiny faces", True),
    ModelInfo("cats-256", (256, 256), "cats", 0.001, "cats", False),
)
PIXEL = (10, 20, 30, 255)


def small_image(width: int = 4, height: int = 3) -> Image:
    return Image.filled("RGBA", width, height, PIXEL)


@dataclass
class _Drag:
    identity: bytes
    request: Request
    step: int = 0
    cancelled: bool = False
    next_tick: float = 0.0


def local_server_secret() -> bytes:
    """The secret key of the run's keys folder ($DRAGD_KEYS, conftest.private_keys), which DragdClient trusts
    by default: a fake daemon holding it answers clients as the user's own daemon does."""
    return zmq.auth.load_certificate(keys_folder() / "server.key_secret")[1]


class FakeDaemon:
    """Answers requests the way the real daemon is specified to; `script` overrides per request type.

    A script entry is `fn(identity, request) -> list[bytes frames] | None` (None: never answer)."""

    def __init__(self, limits: Limits = DEFAULT_LIMITS, *, drag_steps: int = 5, step_s: float = 0.01,
                 curve_secret_key: bytes | None = None) -> None:
        self.limits = limits
        self.drag_steps = drag_steps
        self.step_s = step_s
        self.script: dict[str, Callable[[bytes, Request], list[bytes] | None]] = {}
        self.received: list[Request | ProtocolError] = []
        self.sessions = {"s1"}
        self._context = zmq.Context()
        self._socket = router_socket(self._context, "tcp://127.0.0.1:*", limits,
                                     curve_secret_key=curve_secret_key or local_server_secret())
        self.address = self._socket.getsockopt_string(zmq.LAST_ENDPOINT)
        self._drags: list[_Drag] = []
        self._later: queue.SimpleQueue[tuple[bytes, dict[str, Any]]] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop answering at once, as a daemon that died would."""
        self._stop.set()
        self._thread.join(5)
        self._socket.close(linger=0)
        self._context.term()

    def __enter__(self) -> FakeDaemon:
        return self

    def __exit__(self, *exc: object) -> None:
        if not self._stop.is_set():
            self.stop()

    # ---- loop ------------------------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            if self._socket.poll(5, zmq.POLLIN):
                frames = self._socket.recv_multipart()
                self._on_frames(frames[0], frames[1:])
            self._tick_drags()
            while not self._later.empty():
                self._send(*self._later.get())

    def send_later(self, identity: bytes, message: dict[str, Any]) -> None:
        """Send from any thread (the socket itself belongs to the daemon's thread)."""
        self._later.put((identity, message))

    def _send(self, identity: bytes, message: dict[str, Any]) -> None:
        self._socket.send_multipart([identity, encode(message)])

    def _on_frames(self, identity: bytes, payload: list[bytes]) -> None:
        try:
            if len(payload) != 1:
                raise ProtocolError(ErrorCode.BAD_REQUEST, "one frame per message")
            request = validate_request(decode(payload[0], self.limits.max_frame_bytes), self.limits)
        except ProtocolError as exc:
            self.received.append(exc)
            self._send(identity, error_message_from(exc))
            return
        self.received.append(request)
        if request.type in self.script:
            frames = self.script[request.type](identity, request)
            for frame in frames or []:
                self._socket.send_multipart([identity, frame])
            return
        handler = getattr(self, f"_on_{request.type}")
        reply = handler(identity, request)
        if reply is not None:
            self._send(identity, reply)

    # ---- canned behaviour ------------------------------------------------------------------------------

    def _on_hello(self, identity: bytes, request: Request) -> dict[str, Any]:
        return request.result(HelloResult(PROTOCOL_VERSION, "0.0-fake", "cpu", MODELS, self.limits,
                                          ("generate", "drag", "undo", "previews")))

    def _on_ping(self, identity: bytes, request: Request) -> dict[str, Any]:
        return request.result(PingResult(1.5))

    def _on_list_models(self, identity: bytes, request: Request) -> dict[str, Any]:
        return request.result(ListModelsResult(MODELS))

    def _on_generate(self, identity: bytes, request: Request) -> dict[str, Any]:
        self.sessions.add("s2")
        return request.result(GenerateResult("s2", small_image(), 4, 3, request.body.model or "faces-128"))

    def _on_open_session(self, identity: bytes, request: Request) -> dict[str, Any]:
        return request.error(ErrorCode.UNSUPPORTED, "this daemon cannot invert real images yet")

    def _on_drag(self, identity: bytes, request: Request) -> dict[str, Any] | None:
        if request.body.session not in self.sessions:
            return request.error(ErrorCode.UNKNOWN_SESSION, f"no session {request.body.session!r}")
        self._drags.append(_Drag(identity, request))
        return None

    def _on_cancel(self, identity: bytes, request: Request) -> dict[str, Any]:
        for drag in self._drags:
            if drag.identity == identity and drag.request.id == request.body.target:
                drag.cancelled = True
                return request.result(CancelResult("running"))
        return request.error(ErrorCode.NOT_FOUND, "nothing to cancel with that id")

    def _on_undo(self, identity: bytes, request: Request) -> dict[str, Any]:
        return request.result(HistoryResult(small_image(), (0, 0), 0, False, True))

    def _on_redo(self, identity: bytes, request: Request) -> dict[str, Any]:
        return request.result(HistoryResult(small_image(), (0, 0), 1, True, False))

    def _on_close_session(self, identity: bytes, request: Request) -> dict[str, Any]:
        if request.body.session not in self.sessions:
            return request.error(ErrorCode.UNKNOWN_SESSION, f"no session {request.body.session!r}")
        self.sessions.discard(request.body.session)
        return request.result(CloseSessionResult())

    def _on_status(self, identity: bytes, request: Request) -> dict[str, Any]:
        return request.result(StatusResult("0.0-fake", "cpu", len(self.sessions), 1, 0, None,
                                           Memory(rss_bytes=123), 9.0))

    def _on_shutdown(self, identity: bytes, request: Request) -> dict[str, Any]:
        return request.result(ShutdownResult())

    def _on_heartbeat(self, identity: bytes, request: Request) -> dict[str, Any]:
        return request.result(HeartbeatResult(tuple(s for s in request.body.sessions if s in self.sessions)))

    def _tick_drags(self) -> None:
        now = time.monotonic()
        for drag in list(self._drags):
            if now < drag.next_tick:
                continue
            drag.next_tick = now + self.step_s
            body = drag.request.body
            done = drag.cancelled or drag.step >= self.drag_steps
            fraction = drag.step / self.drag_steps
            points = tuple(
                (p.handle[0] + (p.target[0] - p.handle[0]) * fraction,
                 p.handle[1] + (p.target[1] - p.handle[1]) * fraction) for p in body.points
            )
            if done:
                stopped = "cancelled" if drag.cancelled else "reached"
                self._send(drag.identity, drag.request.result(DragResult(
                    drag.step, points, stopped == "reached", stopped, small_image(), (1, 2), 1)))
                self._drags.remove(drag)
                continue
            drag.step += 1
            every = body.options.preview_every
            preview = every > 0 and drag.step % every == 0
            self._send(drag.identity, drag.request.progress(DragProgress(
                drag.step, points, 1.0 / drag.step, small_image() if preview else None, (1, 2) if preview else None)))
