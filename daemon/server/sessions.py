"""Editing sessions: one image being dragged, its latent and its undo/redo history.

A session belongs to a *user*, the identity that authenticated the connection (security.py: a client key), and
its id is a capability within that user (SPEC.md, "Sessions"): unguessable, and any connection of that user that
presents it may use the session, which then counts as that connection's. So a session outlives the connection
that opened it (GIMP runs every plug-in call in a new process): when its connection goes away it is *orphaned*,
kept in memory for `orphan_timeout_s` after the disconnect, then set aside.

Limits hold per user, over the sessions in memory: `max_per_user` and `max_total` counts and a memory budget.
With an archive (persist.py: every session is on disk after each completed operation), making room *sets aside*
the least recently used idle session (out of memory, still on disk, read back when next used), first one of the
same user, then an orphan, then one of the user holding the most: nobody at a limit can lock others out, and
nothing is lost. Without an archive (embedding, tests) the old rule holds: an orphan may be closed to make room,
else the request gets `limit_exceeded`.

Sessions are shared between the socket thread (open/close/expiry) and the worker (drags), so every change goes
through the store's lock; a session's tensors are only touched by the worker. Every eviction, setting aside and
expiry is logged, by the session's key (persist.session_key), never its id.

A session's `frame` says how its pictures relate to the model's: `ModelFrame` for generated sessions (the
model's picture is the frame), `inverted.LayerFrame` for sessions opened from a user's layer.
"""

from __future__ import annotations

import contextlib
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
from .logs import log, log_event
from .models import LoadedModel
from .persist import SessionArchive, UnusableSave, session_key

SESSION_OVERHEAD_BYTES = 64 * 1024  # bookkeeping, optimiser-free; a rough floor per session
MAX_HISTORY = 200  # latents kept for undo; the oldest go first
RECENTLY_CLOSED = 1024  # closed session ids remembered, to say *why* a session is unknown
INFO, WARNING, ERROR = 20, 30, 40
SESSION_ID_BYTES = 18  # 144 random bits: an id is a capability, it must not be guessable

Point = tuple[float, float]


class SessionFrame(Protocol):
    """The picture a session's clients see (their coordinates, their images) and the generator that makes it."""

    generator: Generator

    def to_model(self, points: Sequence[Point]) -> list[Point]: ...  # raises DragdError for unusable points
    def to_frame(self, points: Sequence[Point]) -> list[Point]: ...
    def mask_to_model(self, movable: np.ndarray) -> np.ndarray: ...  # frame-sized bool -> model-sized bool
    # after a drag from model picture `before` to `after`: where the handles' content lies, frame coordinates
    def final_points(self, before: np.ndarray, after: np.ndarray, handles: Sequence[Point],
                     tracked: Sequence[Point]) -> list[Point]: ...
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

    def final_points(self, before: np.ndarray, after: np.ndarray, handles: Sequence[Point],
                     tracked: Sequence[Point]) -> list[Point]:
        return self.to_frame(tracked)  # the model's own picture: the tracker follows it

    def patch(self, model_rgb: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
        return model_rgb, (0, 0)

    def extra_bytes(self) -> int:
        return 0


@dataclass(eq=False)
class Session:
    id: str
    user: str  # who may use it (SPEC.md, "Users")
    owner: bytes | None  # the connection that used it last; None: that connection went away (an orphan)
    model: LoadedModel
    history: list[torch.Tensor]  # latents [1, num_ws, w_dim]; history[index] is the current one
    image: np.ndarray  # H x W x 3 uint8 of the current latent, as the model makes it
    frame: SessionFrame
    index: int = 0
    last_used: float = field(default_factory=time.monotonic)
    holders: int = 0  # jobs working on it now (a live drag and a request run while it idles): never evicted
    orphaned_at: float | None = None  # when its connection went away
    restored: bool = False  # read back from disk
    interrupted: str | None = None  # what a daemon stop cut short, until the next completed operation
    unsaved: bool = False  # its latest state could not be written to disk (full, unwritable): kept in memory

    @property
    def busy(self) -> bool:
        """A job works on it: never evicted."""
        return self.holders > 0

    @property
    def key(self) -> str:
        """The session's name in logs and on disk; not the id, which is a secret."""
        return session_key(self.id)

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
    why = f" ({reason})" if reason else " (never opened by this user, closed, or dropped from the disk budget)"
    return DragdError(ErrorCode.UNKNOWN_SESSION, f"no session {session_id!r}{why}")


class SessionStore:
    def __init__(self, max_total: int, max_per_user: int, memory_budget_bytes: int, idle_timeout_s: float,
                 orphan_timeout_s: float | None = None, archive: SessionArchive | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_total = max_total
        self.max_per_user = max_per_user
        self.memory_budget_bytes = memory_budget_bytes
        self.idle_timeout_s = idle_timeout_s
        # An orphan is kept this long after its connection went (never longer than any session).
        self.orphan_timeout_s = idle_timeout_s if orphan_timeout_s is None else min(orphan_timeout_s,
                                                                                      idle_timeout_s)
        self.archive = archive
        self.clock = clock
        self._sessions: dict[str, Session] = {}
        self._closed: dict[str, str] = {}  # id -> why, bounded by RECENTLY_CLOSED
        self.lock = threading.RLock()

    # --- making room --------------------------------------------------------------------------------------

    def check_room(self, user: str) -> None:
        """Makes room in memory for one more session of `user`, or raises `limit_exceeded` (before any work)."""
        with self.lock:
            mine = [s for s in self._sessions.values() if s.user == user]
            if len(mine) >= self.max_per_user:
                victim = self._least_recent(mine, orphans_only=self.archive is None)
                if victim is None:
                    raise DragdError(ErrorCode.LIMIT_EXCEEDED, f"this user has {len(mine)} open sessions, the "
                                                               "limit per user; close one first")
                self._set_aside(victim, f"to make room for another session of its user (limit {self.max_per_user})")
            if len(self._sessions) >= self.max_total:
                victim = self._least_recent(list(self._sessions.values()), orphans_only=True)
                if victim is None and self.archive is not None:
                    victim = self._least_recent(self._of_busiest_user(), orphans_only=False)
                if victim is None:
                    raise DragdError(ErrorCode.LIMIT_EXCEEDED,
                                     f"the daemon has {len(self._sessions)} open sessions, its limit; close one first")
                self._set_aside(victim, f"to make room for a new session (daemon limit {self.max_total})")

    @staticmethod
    def _least_recent(sessions: list[Session], orphans_only: bool) -> Session | None:
        idle = [s for s in sessions if not s.busy and not s.unsaved and (s.owner is None or not orphans_only)]
        return min(idle, key=lambda s: (s.owner is not None, s.last_used), default=None)

    def _of_busiest_user(self) -> list[Session]:
        by_user: dict[str, list[Session]] = {}
        for session in self._sessions.values():
            by_user.setdefault(session.user, []).append(session)
        return max(by_user.values(), key=len, default=[])

    def _set_aside(self, session: Session, why: str) -> None:
        """Out of memory: kept on disk when there is an archive (read back on next use), else closed."""
        del self._sessions[session.id]
        if self.archive is not None and self.archive.has(session.id):
            log_event(log, INFO, "session_set_aside", session=session.key, why=why)
            return
        self._remember_closed(session.id, f"evicted {why}")
        log_event(log, INFO, "session_evicted", session=session.key, why=why)

    # --- opening and finding ----------------------------------------------------------------------------

    def create(self, user: str, owner: bytes, model: LoadedModel, ws: torch.Tensor, image: np.ndarray,
               frame: SessionFrame | None = None) -> Session:
        """A new session on `ws`; `frame` defaults to the model's own picture (a generated session). Saved to
        the archive before it is returned."""
        session = Session(secrets.token_urlsafe(SESSION_ID_BYTES), user, owner, model, [ws.detach()], image,
                          frame or ModelFrame(model.generator), last_used=self.clock())
        if session.estimated_bytes() > self.memory_budget_bytes:
            raise DragdError(ErrorCode.LIMIT_EXCEEDED,
                             f"one session needs about {session.estimated_bytes()} bytes, more than the daemon's "
                             f"session memory budget of {self.memory_budget_bytes}")
        with self.lock:
            self.check_room(user)
            self._sessions[session.id] = session
        self.save(session)
        self.enforce_budget(keep=session)
        return session

    def get(self, user: str, client: bytes, session_id: str) -> Session:
        """The session `session_id` of `user` for connection `client`, who becomes its owner (the id is the
        capability); read back from the archive when it is not in memory."""
        with self.lock:
            session = self._sessions.get(session_id)
            if session is None:
                session = self._restore(user, session_id)
            if session.user != user:  # another user's id: as unknown as a wrong one
                raise _unknown(session_id, None)
            session.owner = client
            session.orphaned_at = None
            session.last_used = self.clock()
            return session

    def _restore(self, user: str, session_id: str) -> Session:
        try:
            restored = self.archive.load(session_id) if self.archive is not None else None
        except UnusableSave as exc:
            if exc.user is not None and exc.user != user:
                raise _unknown(session_id, None) from None
            log_event(log, WARNING, "session_unusable", session=session_key(session_id), why=exc.reason[:300])
            raise _unknown(session_id, exc.reason) from None
        if restored is None or restored.user != user:
            raise _unknown(session_id, self._closed.get(session_id))
        model = self.archive.models.get(restored.model_name)
        frame: SessionFrame = restored.frame if restored.frame is not None else ModelFrame(model.generator)
        self.check_room(user)
        session = Session(session_id, user, None, model, restored.history, restored.image, frame,
                          restored.index, last_used=self.clock(), restored=True, interrupted=restored.interrupted)
        self._sessions[session_id] = session
        log_event(log, INFO, "session_restored", session=session.key, states=len(session.history),
                  interrupted=restored.interrupted is not None)
        return session

    def save(self, session: Session) -> None:
        """After a completed operation: the session to disk (atomically), then the disk budget.
        A disk that is full or unwritable costs the copy, not the operation: the session stays in memory (never
        set aside while its latest state is not on disk), the failure is logged, the next operation tries again.
        """
        if self.archive is None:
            return
        try:
            self.archive.save(session, keep_running=session.holders > 1)  # another job (a live drag) still runs
            with self.lock:
                resident = {s.key for s in self._sessions.values()}
            for key in self.archive.enforce_budget(resident):
                log_event(log, INFO, "session_evicted", session=key, why="the disk budget for saved sessions is full")
        except OSError as exc:
            session.unsaved = True
            log_event(log, ERROR, "session_not_saved", session=session.key, folder=str(self.archive.folder),
                      error=exc.strerror or str(exc), why="kept in memory only until a save succeeds")
            return
        session.unsaved = False

    def mark_running(self, session: Session, what: str) -> None:
        if self.archive is not None:
            try:
                self.archive.mark_running(session.id, what)
            except OSError as exc:  # the drag runs anyway; a crash during it is then not reported as such
                log_event(log, ERROR, "session_not_saved", session=session.key, folder=str(self.archive.folder),
                          error=exc.strerror or str(exc), why="its running marker could not be written")

    def clear_running(self, session: Session) -> None:
        """The marker goes once no other job holds the session (a request run while a live drag idles)."""
        if self.archive is not None and session.holders <= 1:
            with contextlib.suppress(OSError):
                self.archive.clear_running(session.id)

    # --- closing --------------------------------------------------------------------------------------------

    def _remember_closed(self, session_id: str, why: str) -> None:
        self._closed[session_id] = why
        while len(self._closed) > RECENTLY_CLOSED:
            del self._closed[next(iter(self._closed))]

    def close(self, user: str, client: bytes, session_id: str) -> Session:
        with self.lock:
            session = self.get(user, client, session_id)
            del self._sessions[session.id]
            self._remember_closed(session.id, "closed by its client")
        if self.archive is not None:
            self.archive.delete(session.id)
        return session

    def orphan_client(self, owner: bytes) -> list[Session]:
        """The connection went away: its sessions stay, without an owner, for `orphan_timeout_s` from now."""
        now = self.clock()
        with self.lock:
            orphans = [s for s in self._sessions.values() if s.owner == owner]
            for session in orphans:
                session.owner = None
                session.orphaned_at = now
            return orphans

    def expire_idle(self) -> list[Session]:
        """Sets aside (or, without an archive, closes) sessions unused for `idle_timeout_s`, and orphans whose
        connection left `orphan_timeout_s` ago."""
        now = self.clock()
        with self.lock:
            stale = []
            for session in list(self._sessions.values()):
                if session.busy or session.unsaved:  # unsaved: memory holds its only copy
                    continue
                if session.owner is None and session.orphaned_at is not None:
                    expired = now - max(session.orphaned_at, session.last_used) > self.orphan_timeout_s
                    why = f"{self.orphan_timeout_s:g} s after its client left"
                else:
                    expired = now - session.last_used > self.idle_timeout_s
                    why = f"after {self.idle_timeout_s:g} s without use"
                if expired:
                    self._set_aside(session, why)
                    stale.append(session)
            return stale

    def enforce_budget(self, keep: Session | None = None) -> list[Session]:
        """Sets aside least recently used idle sessions (never `keep`) until the estimate fits the budget."""
        evicted = []
        with self.lock:
            total = self.total_bytes()
            for session in sorted(self._sessions.values(), key=lambda s: s.last_used):
                if total <= self.memory_budget_bytes:
                    break
                if session is keep or session.busy or session.unsaved:
                    continue
                total -= session.estimated_bytes()
                self._set_aside(session, f"to keep the daemon within its memory budget ({self.memory_budget_bytes} "
                                         "bytes)")
                evicted.append(session)
        return evicted

    # --- reporting ------------------------------------------------------------------------------------------

    def alive(self, user: str, client: bytes, session_ids: Sequence[str]) -> list[str]:
        """Those of `session_ids` that `user` may still use (in memory, touched; or on disk, not read back)."""
        alive = []
        for session_id in session_ids:
            with self.lock:
                session = self._sessions.get(session_id)
                if session is not None and session.user == user:
                    session.owner, session.orphaned_at, session.last_used = client, None, self.clock()
                    alive.append(session_id)
                    continue
            if session is None and self.archive is not None and self.archive.user_of(session_id) == user:
                alive.append(session_id)
        return alive

    def total_bytes(self) -> int:
        with self.lock:
            return sum(s.estimated_bytes() for s in self._sessions.values())

    def count(self, user: str | None = None) -> int:
        """Sessions in memory (of `user`)."""
        with self.lock:
            return sum(1 for s in self._sessions.values() if user is None or s.user == user)

    def owned_by(self, client: bytes) -> int:
        with self.lock:
            return sum(1 for s in self._sessions.values() if s.owner == client)

    def saved(self) -> int:
        return 0 if self.archive is None else self.archive.count()
