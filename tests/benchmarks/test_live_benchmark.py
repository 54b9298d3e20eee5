"""The live-drag benchmark on the embedded model: a real daemon, the scripted artist, JSON out."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "live.py"


@pytest.mark.slow
def test_live_benchmark_runs_the_scripted_session_on_the_embedded_model(capsys):
    spec = importlib.util.spec_from_file_location("live_benchmark", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--models", "embedded", "--increment-s", "0.05", "--settle-s", "60", "--repeats", "1"]) == 0
    report = json.loads(capsys.readouterr().out)
    result = report["results"]["embedded"]
    assert report["threads"] == 1 and report["device"] == "cpu"
    assert result["stopped"] == "committed" and result["settled_within_s"]
    assert result["final_distance_px"] <= 1.0  # the stop distance of one handle
    assert result["previews"] >= 1 and result["updates_reflected"] == "10/10"
    assert result["latency_median_ms"] > 0 and result["largest_lag_px"] >= 0
    assert set(result["components"]) == {"step_ms", "render_ms", "to_wire_ms"}
