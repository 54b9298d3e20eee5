"""A real daemon on a real socket for the server tests: tiny random generators, started on a thread."""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections.abc import Iterator
from pathlib import Path

import torch
import zmq
from conftest import make_generator
from dragd.daemon.engine.drag import DragResult, DragRun, with_model_defaults
from dragd.daemon.models.registry import ModelInfo
from dragd.daemon.server.app import Daemon
from dragd.daemon.server.config import ServerConfig
from dragd.daemon.server.jobs import engine_options
from dragd.daemon.server.models import ModelCache
from dragd.daemon.server.security import client_keys
from dragd.protocol import DragOptions, DragProgress
from dragd.protocol.client import DragdClient
from dragd.protocol.limits import Limits
from dragd.protocol.transport import dealer_socket, keys_folder, local_client_keys

TINY_INFO = ModelInfo("tiny", Path("tiny.safetensors"), domain="test", default_step_size=0.02,
                      description="random 32 px test generator")
LOOPBACK = "tcp://127.0.0.1:*"  # * : the OS picks a free port


def tiny_models() -> ModelCache:
    """A cache holding only the tiny generator (no files, no catalogue), the default model."""
    models = ModelCache(torch.device("cpu"), catalogue=lambda: [], default=TINY_INFO.name)
    models.register(TINY_INFO, make_generator())
    return models


@contextlib.contextmanager
def running_daemon(models: ModelCache | None = None, limits: Limits | None = None,
                   **config: object) -> Iterator[Daemon]:
    options = {"address": LOOPBACK, "housekeeping_s": 0.05} | config
    daemon = Daemon(ServerConfig(limits=limits or Limits(), **options), models or tiny_models())
    thread = daemon.start_in_thread()
    try:
        yield daemon
    finally:
        daemon.request_stop()
        thread.join(15)
        assert not thread.is_alive(), "the daemon did not stop"


def connect(daemon: Daemon, timeout: float = 20.0, user: str | None = None, **kwargs: object) -> DragdClient:
    """A client of `daemon`; `user`: the name of another client key in the run's keys folder (conftest's
    OTHER_USERS), else the run's own key."""
    assert daemon.endpoint is not None
    if user is not None:
        kwargs["keys"] = client_keys(keys_folder(), user)
    return DragdClient(daemon.endpoint, timeout, **kwargs)


def raw_dealer(daemon: Daemon, user: str | None = None) -> zmq.Socket:
    """A bare DEALER (CurveZMQ with the run's keys) for frames no DragdClient would send."""
    keys = client_keys(keys_folder(), user) if user is not None else local_client_keys()
    return dealer_socket(zmq.Context.instance(), daemon.endpoint, keys, max_reply_bytes=1 << 30)


def limits(**changes: object) -> Limits:
    return dataclasses.replace(Limits(), **changes)


def expected_drag(seed: int, handles, targets, options: DragOptions) -> DragResult:
    """The same drag run directly on the engine, to check the daemon returned *this* client's result."""
    generator = make_generator()
    run = DragRun(generator, generator.ws_for_seed(seed, 0.7), handles, targets, None,
                  with_model_defaults(engine_options(options), 0.02, None))
    return run.run()


def when_stepping(event: threading.Event):
    """An on_progress callback that sets `event` at a drag's first step, not at a `waiting` keepalive (which
    may come first: the worker can still be finishing the previous job whose reply was already sent)."""
    return lambda update: isinstance(update, DragProgress) and event.set()
