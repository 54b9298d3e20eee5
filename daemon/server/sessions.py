"""Editing sessions: one image being dragged, its latent and its undo/redo history.

A session id is a capability (SPEC.md, "Sessions"): it is unguessable, and any client that presents it may
use the session, which then counts as that client's. So a session outlives the connection that opened it
(GIMP runs every plug-in call in a new process): when its client goes away it is *orphaned*, kept for
`orphan_timeout_s` after its last use (subject to the memory budget), then freed.

The store enforces the session limits: a count per client and in total (an error when exceeded) and a memory
budget (least recently used idle sessions are evicted to make room). Sessions are shared between the socket
thread (open/close/expiry) and the worker (drags), so every change goes through the store's lock; a session's
tensors are only touched by the worker.

A session's `frame` says how its pictures relate to the model's: `ModelFrame` for generated sessions (the
model's picture is the frame), `inverted.LayerFrame` for sessions opened from a user's layer.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import torch

from ...protocol.errors import DragdError, ErrorCode
from ..models.stylegan2 import Generator
from .models import LoadedModel

SESSION_OVERHEAD_BYTES = 64 * 1024  # bookkeeping, optimiser-free; a rough floor per session
MAX_HISTORY = 200  # latents kept for undo; the oldest go first
RECENTLY_CLOSED = 1024  # closed session ids remembered, to say *why* a session is unknown
SESSION_ID_BYTES = 18  # 144 random bits: an id is a capability, it must not be guessable

Point = tuple[float, float]


class SessionFrame(Protocol):
    """The picture a session's clients see (their coordinates, their images) and the generator that makes it."""

    generator: Generator

    def to_model(self, points: Sequence[Point]) -> list[Point]: ...  # raises DragdError for unusable points
    def to_frame(self, points: Sequence[Point]) -> list[Point]: ...
    def mask_to_model(self, movable: np.ndarray) -> np.ndarray: ...  # frame-sized bool -> model-sized bool
    def patch(self, model_rgb: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]: ...  # pixels, offset
    def extra_bytes(self) -> int: ...  # memory the frame holds beyond the shared model


class ModelFrame:
    """A generated session: the frame is the model's own picture, made by the shared generator."""

    def __init__(self, generator: Generator) -> None:
        self.generator = generator

    def to_model(self, points: Sequence[Point]) -> list[Point]:
        return list(points)  # the drag engine checks that they lie in the image

    def to_frame(self, points: Sequence[Point]) -> list[Point]:
        return list(points)

    def mask_to_model(self, movable: np.ndarray) -> np.ndarray:
        return movable  # the drag engine checks its size

    def patch(self, model_rgb: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
        return model_rgb, (0, 0)

    def extra_bytes(self) -> int:
        return 0


@dataclass(eq=False)
class Session:
    id: str
    owner: bytes | None  # the client that used it last; None: that client went away (an orphan)
    model: LoadedModel
    history: list[torch.Tensor]  # latents [1, num_ws, w_dim]; history[index] is the current one
    image: np.ndarray  # H x W x 3 uint8 of the current latent, as the model makes it
    frame: SessionFrame
    index: int = 0
    last_used: float = field(default_factory=time.monotonic)
    busy: bool = False  # a job is running on it: never evicted while set

    @property
    def ws(self) -> torch.Tensor:
        return self.history[self.index]

    @property
    def can_undo(self) -> bool:
        return self.index > 0

    @property
    def can_redo(self) -> bool:
        return self.index < len(self.history) - 1

    def push(self, ws: torch.Tensor, image: np.ndarray) -> None:
        """A finished drag: its latent becomes current and the redo tail is discarded."""
        del self.history[self.index + 1:]
        self.history.append(ws.detach())
        if len(self.history) > MAX_HISTORY:
            del self.history[0]
        self.index = len(self.history) - 1
        self.image = image

    def estimated_bytes(self) -> int:
        latents = sum(ws.numel() * ws.element_size() for ws in self.history)
        return SESSION_OVERHEAD_BYTES + latents + self.image.nbytes + self.frame.extra_bytes()


def _unknown(session_id: str, reason: str | None) -> DragdError:
    why = f" ({reason})" if reason else " (never opened, or closed)"
    return DragdError(ErrorCode.UNKNOWN_SESSION, f"no session {session_id!r}{why}")


class SessionStore:
    def __init__(self, max_total: int, max_per_client: int, memory_budget_bytes: int, idle_timeout_s: float,
                 orphan_timeout_s: float | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_total = max_total
        self.max_per_client = max_per_client
        self.memory_budget_bytes = memory_budget_bytes
        self.idle_timeout_s = idle_timeout_s
        # An orphan is kept this long after its last use (never longer than any session).
        self.orphan_timeout_s = idle_timeout_s if orphan_timeout_s is None else min(orphan_timeout_s,
                                                                                      idle_timeout_s)
        self.clock = clock
        self._sessions: dict[str, Session] = {}
        self._closed: dict[str, str] = {}  # id -> why, bounded by RECENTLY_CLOSED
        self.lock = threading.RLock()

    # --- opening and finding ----------------------------------------------------------------------

    def check_room(self, owner: bytes) -> None:
        """Raises `limit_exceeded` when `owner` may not open another session (checked before any work)."""
        with self.lock:
            if len(self._sessions) >= self.max_total:
                self._evict_an_orphan()
            if len(self._sessions) >= self.max_total:
                raise DragdError(ErrorCode.LIMIT_EXCEEDED,
                                 f"the daemon has {len(self._sessions)} open sessions, its limit; close one first")
            mine = sum(1 for s in self._sessions.values() if s.owner == owner)
            if mine >= self.max_per_client:
                raise DragdError(ErrorCode.LIMIT_EXCEEDED,
                                 f"this client has {mine} open sessions, the limit per client; close one first")

    def _evict_an_orphan(self) -> None:
        """Frees the least recently used idle orphan, if any: a gone client's session is the first to make room."""
        orphans = [s for s in self._sessions.values() if s.owner is None and not s.busy]
        if orphans:
            self._remove(min(orphans, key=lambda s: s.last_used),
                         "closed to make room for a new session after its client left")

    def create(self, owner: bytes, model: LoadedModel, ws: torch.Tensor, image: np.ndarray,
               frame: SessionFrame | None = None) -> Session:
        """A new session on `ws`; `frame` defaults to the model's own picture (a generated session)."""
        session = Session(secrets.token_urlsafe(SESSION_ID_BYTES), owner, model, [ws.detach()], image,
                          frame or ModelFrame(model.generator), last_used=self.clock())
        if session.estimated_bytes() > self.memory_budget_bytes:
            raise DragdError(ErrorCode.LIMIT_EXCEEDED,
                             f"one session needs about {session.estimated_bytes()} bytes, more than the daemon's "
                             f"session memory budget of {self.memory_budget_bytes}")
        with self.lock:
            self.check_room(owner)
            self._sessions[session.id] = session
            self.enforce_budget(keep=session)
        return session

    def get(self, client: bytes, session_id: str) -> Session:
        """The session `session_id` for `client`, who becomes its owner (the id is the capability)."""
        with self.lock:
            session = self._sessions.get(session_id)
            if session is None:
                raise _unknown(session_id, self._closed.get(session_id))
            session.owner = client
            session.last_used = self.clock()
            return session

    # --- closing ------------------------------------------------------------------------------------

    def _remove(self, session: Session, why: str) -> None:
        del self._sessions[session.id]
        self._closed[session.id] = why
        while len(self._closed) > RECENTLY_CLOSED:
            del self._closed[next(iter(self._closed))]

    def close(self, client: bytes, session_id: str) -> Session:
        with self.lock:
            session = self.get(client, session_id)
            self._remove(session, "closed by its client")
            return session

    def orphan_client(self, owner: bytes) -> list[Session]:
        """The client went away: its sessions stay, without an owner, until `orphan_timeout_s` without use."""
        with self.lock:
            orphans = [s for s in self._sessions.values() if s.owner == owner]
            for session in orphans:
                session.owner = None
            return orphans

    def expire_idle(self) -> list[Session]:
        """Frees sessions unused for `idle_timeout_s`, and orphans unused for `orphan_timeout_s`."""
        now = self.clock()
        with self.lock:
            stale = []
            for session in list(self._sessions.values()):
                timeout = self.idle_timeout_s if session.owner is not None else self.orphan_timeout_s
                if not session.busy and now - session.last_used > timeout:
                    why = "without use" if session.owner is not None else "without use after its client left"
                    self._remove(session, f"closed after {timeout:g} s {why}")
                    stale.append(session)
            return stale

    def enforce_budget(self, keep: Session | None = None) -> list[Session]:
        """Evicts least recently used idle sessions (never `keep`) until the estimate fits the budget."""
        evicted = []
        with self.lock:
            total = self.total_bytes()
            for session in sorted(self._sessions.values(), key=lambda s: s.last_used):
                if total <= self.memory_budget_bytes:
                    break
                if session is keep or session.busy:
                    continue
                total -= session.estimated_bytes()
                self._remove(session, "evicted to keep the daemon within its memory budget")
                evicted.append(session)
        return evicted

    # --- reporting ----------------------------------------------------------------------------------

    def total_bytes(self) -> int:
        with self.lock:
            return sum(s.estimated_bytes() for s in self._sessions.values())

    def count(self, owner: bytes | None = None) -> int:
        with self.lock:
            return sum(1 for s in self._sessions.values() if owner is None or s.owner == owner)
