"""The one thread that runs torch, fed by a queue that is fair across clients.

Every request that touches a generator (generate, drag, undo, redo) becomes a `Job`. Jobs wait in per-user
lines (the user who authenticated; SPEC.md, "Users") and the worker takes them round robin: a user who queues
ten drags, over as many connections as they like, does not starve another's one.
Cancel is cooperative: a waiting job is taken out of its line; a running one gets `job.cancel()`, which calls
the hooks the job registered (a drag registers `DragRun.cancel`, which ends it after the current step).
A job may give the worker back before it is done (a live drag, server/live.py): it `park`s itself, costing
nothing, until `resume` puts it at the front of its user's line; or it `requeue`s itself to let other users'
jobs run first. Such a job is *started*: it counts as running for cancel, liveness and keepalives.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ...protocol.errors import DragdError, ErrorCode


@dataclass(eq=False)
class Job:
    client: bytes
    request_id: Any
    kind: str  # the request type, for logs and status
    run: Callable[[Job], None]  # does the work and sends the final reply itself
    session_id: str | None = None
    request: Any = None  # the validated request, to address keepalives (`waiting`) to it
    noticed_at: float = 0.0  # when the client last got a message about this job
    queued_at: float = field(default_factory=time.monotonic)
    user: str = ""  # who sent it; "" in tests that do not care: then each connection is its own user
    started: bool = False  # it ran once (a parked or requeued live drag is started)
    keepalive_due: Callable[[], bool] | None = None  # None: always; else whether a keepalive may be sent now
    _cancelled: threading.Event = field(default_factory=threading.Event)
    _hooks: list[Callable[[], None]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def line(self) -> str:
        """The queue line it waits in: its user's."""
        return self.user or self.client.hex()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def cancel(self) -> None:
        with self._lock:
            self._cancelled.set()
            hooks, self._hooks = self._hooks, []
        for hook in hooks:
            hook()

    def on_cancel(self, hook: Callable[[], None]) -> None:
        """Calls `hook` when the job is cancelled, at once if it already was."""
        with self._lock:
            if not self._cancelled.is_set():
                self._hooks.append(hook)
                return
        hook()


class FairQueue:
    """Per-user FIFO lines served round robin, with a limit per user and in total."""

    def __init__(self, max_total: int, max_per_user: int) -> None:
        self.max_total = max_total
        self.max_per_user = max_per_user
        self._lines: OrderedDict[str, deque[Job]] = OrderedDict()
        self._condition = threading.Condition()
        self._closed = False

    def put(self, job: Job) -> None:
        with self._condition:
            line = self._lines.get(job.line)
            if line is not None and len(line) >= self.max_per_user:
                raise DragdError(ErrorCode.BUSY, f"this user already has {len(line)} requests waiting, "
                                                 f"the limit per user; wait for one to finish")
            if self._count() >= self.max_total:
                raise DragdError(ErrorCode.BUSY, "the daemon's queue is full; try again later")
            self._lines.setdefault(job.line, deque()).append(job)
            self._condition.notify()

    def get(self, timeout: float | None = None, on_take: Callable[[Job], None] | None = None) -> Job | None:
        """The next job round robin, or None on timeout or after `close()`. `on_take(job)` runs under the
        queue's lock, so a job is never seen neither waiting nor taken."""
        with self._condition:
            if not self._condition.wait_for(lambda: self._lines or self._closed, timeout):
                return None
            if self._closed:
                return None
            name, line = next(iter(self._lines.items()))
            job = line.popleft()
            del self._lines[name]
            if line:  # the user goes to the back of the round
                self._lines[name] = line
            if on_take is not None:
                on_take(job)
            return job

    def resume(self, job: Job) -> None:
        """Puts a started job back at the front of its user's line, whatever the limits (it was accepted)."""
        with self._condition:
            self._lines.setdefault(job.line, deque()).appendleft(job)
            self._condition.notify()

    def started(self) -> list[Job]:
        """Started jobs waiting for their next turn."""
        with self._condition:
            return [job for line in self._lines.values() for job in line if job.started]

    def others_waiting(self, line: str) -> bool:
        """Whether a user other than the one of `line` has a job waiting."""
        with self._condition:
            return any(name != line for name in self._lines)

    def remove(self, client: bytes, request_id: Any) -> Job | None:
        """Takes a waiting job that never started out of its line."""
        with self._condition:
            for name, line in self._lines.items():
                for job in line:
                    if job.client == client and job.request_id == request_id and not job.started:
                        line.remove(job)
                        if not line:
                            del self._lines[name]
                        return job
            return None

    def drop_client(self, client: bytes) -> list[Job]:
        with self._condition:
            dropped = []
            for name, line in list(self._lines.items()):
                mine = [job for job in line if job.client == client and not job.started]
                for job in mine:
                    line.remove(job)
                if not line:
                    del self._lines[name]
                dropped += mine
            return dropped

    def close(self) -> None:
        with self._condition:
            self._closed = True
            self._condition.notify_all()

    def _count(self) -> int:
        return sum(len(line) for line in self._lines.values())

    def in_order(self) -> list[Job]:
        """The waiting jobs in the order they will run (the round robin played forward)."""
        with self._condition:
            lines = [list(line) for line in self._lines.values()]
        order: list[Job] = []
        for depth in range(max(map(len, lines), default=0)):
            order.extend(line[depth] for line in lines if depth < len(line))
        return order

    def pending(self, client: bytes | None = None) -> int:
        with self._condition:
            if client is None:
                return self._count()
            return sum(1 for line in self._lines.values() for job in line if job.client == client)


class Worker:
    """Runs jobs one at a time on its own thread. `on_failure(job, exc)` answers a job that raised."""

    def __init__(self, queue: FairQueue, on_failure: Callable[[Job, BaseException], None]) -> None:
        self.queue = queue
        self.on_failure = on_failure
        self._current: Job | None = None
        self._parked: dict[tuple[bytes, Any], Job] = {}
        self._finished: dict[bytes, float] = {}  # connection -> when its last job ended (its reply went out)
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="dragd-worker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Cancels the running job, stops taking new ones and waits for the thread."""
        self.queue.close()
        with self._lock:
            current = self._current
        if current is not None:
            current.cancel()
        if self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def current(self) -> Job | None:
        with self._lock:
            return self._current

    def in_flight(self) -> tuple[set[bytes], dict[bytes, float]]:
        """(connections with a job waiting or running, connection -> when its last job ended), read so that no
        job is missed as it moves from the queue to the worker."""
        busy = {job.client for job in self.queue.in_order()}
        with self._lock:
            busy.update(client for client, _ in self._parked)
            if self._current is not None:
                busy.add(self._current.client)
            finished, self._finished = self._finished, {}
        return busy, finished

    def _take(self, job: Job) -> None:
        with self._lock:
            self._current = job
        job.started = True

    def park(self, job: Job) -> None:
        """The running `job` gives the worker back until `resume(job)`."""
        with self._lock:
            self._parked[(job.client, job.request_id)] = job

    def resume(self, job: Job) -> bool:
        """Queues a parked `job` to run again, ahead of its user's waiting jobs; False if it is not parked (it is
        running, queued, or finished: it will see whatever woke it)."""
        with self._lock:
            if self._parked.get((job.client, job.request_id)) is not job:
                return False
            del self._parked[(job.client, job.request_id)]
        self.queue.resume(job)
        return True

    def parked(self) -> list[Job]:
        with self._lock:
            return list(self._parked.values())

    def _started(self) -> list[Job]:
        """Every started job that is not done: parked, queued again, or running."""
        with self._lock:
            jobs = [*self._parked.values(), *([self._current] if self._current is not None else [])]
        return jobs + self.queue.started()

    def cancel(self, client: bytes, request_id: Any) -> tuple[Job, str] | None:
        """Cancels `client`'s request; returns it with "waiting" or "running", or None if it is not in flight.
        A job taken out of the queue never runs: the caller answers it."""
        job = self.queue.remove(client, request_id)
        if job is not None:
            job.cancel()
            return job, "waiting"
        for job in self._started():
            if job.client == client and job.request_id == request_id:
                job.cancel()
                return job, "running"
        return None

    def cancel_session(self, session_id: str) -> None:
        """Cancels the started jobs on a session that was just closed (waiting ones find it gone when they run)."""
        for job in self._started():
            if job.session_id == session_id:
                job.cancel()

    def cancel_client(self, client: bytes) -> list[Job]:
        """Drops everything of a client that went away: its waiting jobs, and cancels its running one."""
        dropped = self.queue.drop_client(client)
        for job in dropped:
            job.cancel()
        for job in self._started():
            if job.client == client:
                job.cancel()
        return dropped

    def _loop(self) -> None:
        while True:
            job = self.queue.get(on_take=self._take)
            if job is None:
                return
            try:
                job.run(job)
            except BaseException as exc:  # a failing job must never end the worker
                self.on_failure(job, exc)
            finally:
                with self._lock:
                    self._current = None
                    self._finished[job.client] = time.monotonic()
