"""How DragdClient (protocol/client.py) shares its one socket between threads, without a thread of its own.

ZeroMQ sockets are not thread-safe, so exactly one thread at a time, the *pump leader*, touches the socket: it
sends what other threads queued in the outbox, polls for at most _SLICE_S, and sorts the replies it reads into
per-request inboxes by request id. Any thread waiting for a reply becomes the leader when no one else is; the
others wait on a condition variable that the leader signals after each pump. So there is no background thread
to start or leak inside an editor, and a send from another thread waits at most _SLICE_S.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field

import zmq

from .codec import decode
from .errors import DragdError, DragdTimeout, ErrorCode, ProtocolError
from .limits import Limits
from .messages import Reply, RequestId, validate_reply

_SLICE_S = 0.05  # the longest one pump polls, so queued sends and other threads are never held up longer


@dataclass
class Pending:
    """A request waiting for its final reply, and the replies that came for it so far."""

    request_type: str
    replies: deque[Reply | DragdError] = field(default_factory=deque)
    discard: bool = False  # sent without waiting (a live drag's acknowledgement): its replies are dropped


class SocketPump:
    """The socket and the inboxes of one client; DragdClient adds the requests."""

    address: str
    max_reply_bytes: int
    _socket: zmq.Socket

    @property
    def limits(self) -> Limits:
        raise NotImplementedError

    def _start_pump(self) -> None:
        self._cond = threading.Condition()
        self._outbox: deque[tuple[RequestId, bytes]] = deque()
        self._pending: dict[RequestId, Pending] = {}
        self._pumping = False
        self._closed = False

    def _forget(self, rid: RequestId) -> None:
        with self._cond:
            self._pending.pop(rid, None)

    def _next_reply(self, rid: RequestId, deadline: float, silence: float,
                    quiet: bool = False) -> Reply | DragdError | None:
        """The next message for `rid`, pumping the socket while no other thread does. At the deadline: a
        DragdTimeout, or with `quiet` None (after at least one pump, so a deadline of now still reads the socket)."""
        pumped = False
        while True:
            with self._cond:
                while True:
                    if self._closed:
                        return DragdError(ErrorCode.UNAVAILABLE, "the client was closed")
                    pending = self._pending[rid]
                    if pending.replies:
                        return pending.replies.popleft()
                    remaining = deadline - time.monotonic()
                    if remaining <= 0 and (pumped or not quiet):
                        return None if quiet else DragdTimeout(
                            f"no answer from the dragd daemon at {self.address} within {silence:g} s "
                            "(is it running? `dragd serve` starts it)")
                    if not self._pumping:
                        self._pumping = True  # this thread leads the next pump
                        break
                    self._cond.wait(min(max(remaining, 0.0), _SLICE_S))
                    pumped = True  # another thread pumped meanwhile
            try:
                pumped = True
                self._pump(min(max(remaining, 0.0), _SLICE_S))
            finally:
                with self._cond:
                    self._pumping = False
                    self._cond.notify_all()

    def _flush(self) -> None:
        """Send what is queued now, unless another thread is pumping (it sends it within _SLICE_S)."""
        with self._cond:
            if self._pumping or self._closed or not self._outbox:
                return
            self._pumping = True
        try:
            self._pump(0.0)
        finally:
            with self._cond:
                self._pumping = False
                self._cond.notify_all()

    def _pump(self, wait_s: float) -> None:
        """Leader only: send the outbox, wait up to `wait_s` for input, sort what arrived into inboxes."""
        with self._cond:
            outgoing = list(self._outbox)
            self._outbox.clear()
        for rid, frame in outgoing:
            try:
                # Large frames are handed over without a copy; NOBLOCK so a full queue cannot hang us.
                self._socket.send(frame, zmq.NOBLOCK, copy=len(frame) < 65536)
            except zmq.ZMQError as exc:
                self._deliver(rid, DragdError(ErrorCode.UNAVAILABLE, f"cannot send to {self.address}: {exc}"))
        if not self._socket.poll(int(wait_s * 1000), zmq.POLLIN):
            return
        while True:
            try:
                frames = self._socket.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            self._dispatch(frames)

    def _dispatch(self, frames: list[bytes]) -> None:
        if len(frames) != 1:
            return  # not a dragd reply (SPEC: one frame per message); nobody to tell
        try:
            reply = validate_reply(decode(frames[0], self.max_reply_bytes), self.limits)
        except ProtocolError as exc:
            if exc.request_id is not None:
                self._deliver(exc.request_id, DragdError(ErrorCode.BAD_REPLY,
                                                         f"the daemon sent an invalid reply: {exc.message}"))
            return
        if reply.id is None:  # an error about a frame the daemon could not read at all
            with self._cond:
                ids = list(self._pending)
            if len(ids) == 1:  # unambiguous: it can only be about our one request
                self._deliver(ids[0], reply)
            return
        self._deliver(reply.id, reply)

    def _deliver(self, rid: RequestId, item: Reply | DragdError) -> None:
        with self._cond:
            pending = self._pending.get(rid)
            if pending is None:  # replies to abandoned (timed-out) requests are dropped
                return
            if pending.discard:
                if isinstance(item, DragdError) or item.kind in ("result", "error"):
                    del self._pending[rid]
                return
            pending.replies.append(item)
            self._cond.notify_all()
