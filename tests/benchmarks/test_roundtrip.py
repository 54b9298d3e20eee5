"""The round-trip benchmark's upload: the whole image reaches the daemon and is refused before any inversion (an
`open_session` that ran the default inversion per upload is why the benchmark stopped finishing)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from dragd.daemon.server.jobs import rgba
from server_fixtures import connect, running_daemon

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "roundtrip.py"


@pytest.fixture(scope="module")
def roundtrip():
    spec = importlib.util.spec_from_file_location("roundtrip_benchmark", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # tests/conftest.py's OMP_NUM_THREADS=1 keeps the thread policy at 1
    return module


def test_an_upload_is_answered_without_an_inversion_or_a_session(roundtrip):
    image = rgba(np.random.default_rng(0).integers(0, 256, (64, 64, 4), dtype=np.uint8))
    with running_daemon() as daemon, connect(daemon) as client:
        progress: list[object] = []
        original = client.open_session

        def watched(*args, **kwargs):
            return original(*args, on_progress=progress.append, **kwargs)

        client.open_session = watched
        roundtrip.upload(client, image)
        assert progress == []  # no inversion stage started
        assert daemon.sessions.count() == 0
