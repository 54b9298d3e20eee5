"""A real daemon on a real socket for the server tests: tiny random generators, started on a thread."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from pathlib import Path

import torch
from conftest import make_generator
from dragd.daemon.engine.drag import DragResult, DragRun, with_model_defaults
from dragd.daemon.models.registry import ModelInfo
from dragd.daemon.server.app import Daemon
from dragd.daemon.server.config import ServerConfig
from dragd.daemon.server.jobs import engine_options
from dragd.daemon.server.models import ModelCache
from dragd.protocol import DragOptions
from dragd.protocol.client import DragdClient
from dragd.protocol.limits import Limits

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


def connect(daemon: Daemon, timeout: float = 20.0, **kwargs: object) -> DragdClient:
    assert daemon.endpoint is not None
    return DragdClient(daemon.endpoint, timeout, **kwargs)


def limits(**changes: object) -> Limits:
    return dataclasses.replace(Limits(), **changes)


def expected_drag(seed: int, handles, targets, options: DragOptions) -> DragResult:
    """The same drag run directly on the engine, to check the daemon returned *this* client's result."""
    generator = make_generator()
    run = DragRun(generator, generator.ws_for_seed(seed, 0.7), handles, targets, None,
                  with_model_defaults(engine_options(options), 0.02, None))
    return run.run()
