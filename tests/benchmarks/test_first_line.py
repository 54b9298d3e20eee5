"""The time-to-first-line benchmark, on its quick cases: real `dragd` runs in a pseudo-terminal, JSON out."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "first_line.py"


def test_first_line_benchmark_times_help_and_an_error(capsys):
    spec = importlib.util.spec_from_file_location("first_line_benchmark", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--repeats", "1", "--cases", "help,error_points,status_no_daemon"]) == 0
    report = json.loads(capsys.readouterr().out)
    help_case, error, status = (report["cases"][name] for name in ("help", "error_points", "status_no_daemon"))
    assert help_case["status"] == 0 and help_case["first_line"].startswith("usage: dragd")
    assert error["status"] == 2 and error["first_line"].startswith("dragd: error: malformed point pair '10,10'")
    assert status["status"] == 2 and "no dragd daemon at tcp://127.0.0.1:" in status["first_line"]
    for case in (help_case, error, status):
        assert 0 < case["first_line_s"] <= case["total_s"]
    assert report["machine_before"]["cpus"] >= 1 and len(report["machine_after"]["load_average_1_5_15"]) == 3
    assert Path(report["dragd"]).parent == Path(sys.executable).parent
