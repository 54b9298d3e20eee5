"""The fair queue and the worker thread, without sockets."""

from __future__ import annotations

import threading

import pytest
from dragd.daemon.server.worker import FairQueue, Job, Worker
from dragd.protocol.errors import DragdError, ErrorCode


def _job(client: bytes, request_id: int, log: list | None = None) -> Job:
    return Job(client, request_id, "test", lambda job: log.append((job.client, job.request_id)) if log is not None
               else None)


def test_round_robin_across_clients():
    queue = FairQueue(max_total=100, max_per_user=10)
    for i in range(3):
        queue.put(_job(b"a", i))
    queue.put(_job(b"b", 0))
    queue.put(_job(b"c", 0))
    planned = [(job.client, job.request_id) for job in queue.in_order()]
    order = [(job.client, job.request_id) for job in iter(lambda: queue.get(timeout=0), None)]
    assert order == planned == [(b"a", 0), (b"b", 0), (b"c", 0), (b"a", 1), (b"a", 2)]


def test_lines_are_per_user_not_per_connection():
    queue = FairQueue(max_total=100, max_per_user=2)
    queue.put(Job(b"a1", 0, "test", lambda job: None, user="alice"))
    queue.put(Job(b"a2", 0, "test", lambda job: None, user="alice"))  # her second connection: same line
    with pytest.raises(DragdError):
        queue.put(Job(b"a3", 0, "test", lambda job: None, user="alice"))
    queue.put(Job(b"b1", 0, "test", lambda job: None, user="bob"))
    assert [job.client for job in queue.in_order()] == [b"a1", b"b1", b"a2"]
    assert [job.client for job in queue.drop_client(b"a1")] == [b"a1"] and queue.pending() == 2


def test_a_job_leaving_the_queue_is_never_invisible():
    queue = FairQueue(max_total=10, max_per_user=10)
    worker = Worker(queue, lambda job, exc: None)
    release = threading.Event()
    queue.put(Job(b"a", 0, "test", lambda job: release.wait(10)))
    seen = []
    original = queue.get

    def get_and_look(timeout=None, on_take=None):  # housekeeping's view right after the job was taken
        job = original(timeout, on_take)
        if job is not None:
            seen.append(worker.in_flight()[0])
        return job

    queue.get = get_and_look
    worker.start()
    while not seen:
        threading.Event().wait(0.01)
    release.set()
    worker.stop()
    assert seen[0] == {b"a"}
    assert b"a" in worker.in_flight()[1]  # and when it ended: the reply just went out


def test_limits_per_client_and_total():
    queue = FairQueue(max_total=3, max_per_user=2)
    queue.put(_job(b"a", 0))
    queue.put(_job(b"a", 1))
    with pytest.raises(DragdError) as caught:
        queue.put(_job(b"a", 2))
    assert caught.value.code == ErrorCode.BUSY and "per user" in caught.value.message
    queue.put(_job(b"b", 0))
    with pytest.raises(DragdError) as caught:
        queue.put(_job(b"c", 0))
    assert caught.value.code == ErrorCode.BUSY and "queue is full" in caught.value.message


def test_remove_and_drop_client():
    queue = FairQueue(max_total=10, max_per_user=10)
    for i in range(3):
        queue.put(_job(b"a", i))
    queue.put(_job(b"b", 0))
    assert queue.remove(b"a", 1).request_id == 1
    assert queue.remove(b"b", 1) is None
    assert [j.request_id for j in queue.drop_client(b"a")] == [0, 2]
    assert queue.pending() == 1 and queue.pending(b"a") == 0


def test_cancel_hook_runs_once_even_when_registered_late():
    job = _job(b"a", 0)
    calls = []
    job.on_cancel(lambda: calls.append("early"))
    job.cancel()
    job.on_cancel(lambda: calls.append("late"))
    job.cancel()
    assert calls == ["early", "late"] and job.cancelled


def test_worker_survives_a_failing_job_and_cancels_a_running_one():
    failures: list = []
    queue = FairQueue(max_total=10, max_per_user=10)
    worker = Worker(queue, lambda job, exc: failures.append((job.request_id, type(exc))))
    worker.start()
    started, finished = threading.Event(), threading.Event()

    def long_job(job: Job) -> None:
        stop = threading.Event()
        job.on_cancel(stop.set)
        started.set()
        stop.wait(10)
        finished.set()

    def boom(job: Job) -> None:
        raise RuntimeError("bug")

    done = threading.Event()
    queue.put(Job(b"a", 1, "boom", boom))
    queue.put(Job(b"a", 2, "long", long_job))
    queue.put(Job(b"a", 3, "after", lambda job: done.set()))
    assert started.wait(5)
    running = worker.current
    assert running.request_id == 2
    assert worker.cancel(b"b", 2) is None  # another client cannot cancel it
    assert worker.cancel(b"a", 2) == (running, "running")
    assert finished.wait(5) and done.wait(5)
    assert failures == [(1, RuntimeError)]
    worker.stop()
