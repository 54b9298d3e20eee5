"""How long `dragd` takes to say something: the time to its first line of output, as a user at a terminal sees it.

Each case runs the real `dragd` command (the script beside this Python, or --dragd) in a pseudo-terminal, so
that it behaves as in a terminal (progress lines rewrite themselves with '\\r'); a line ends at '\\n' or '\\r'.
Printed as JSON: per case the median and every run of first_line_s (start -> first line) and total_s (start ->
exit), the exit status and the first line; and the machine's state (CPU count, load averages before and after,
torch's thread setting as the environment leaves it). Cases:

- help, drag_help: `dragd --help`, `dragd drag --help`;
- error_points, error_seed, missing_image: a malformed --points pair, --seed -1, a photo that does not exist;
- status_no_daemon: `dragd status` where nothing listens;
- import_torch: `python -c "import torch"` alone, for scale (not a dragd command);
- demo: the README's demo, `dragd drag --seed 0 --points 76,89:86,84 --steps 150 --gif` (1 run unless
  --demo-repeats).

    .venv/bin/python benchmarks/first_line.py [--repeats 3] [--demo-repeats 1] [--cases help,error_points,...]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import pty
import re
import select
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")  # e.g. the line clearing dragd writes before an error


def free_tcp_address() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{probe.getsockname()[1]}"


def cases(dragd: str, folder: Path) -> dict[str, list[str]]:
    out = str(folder / "x.png")
    return {
        "help": [dragd, "--help"],
        "drag_help": [dragd, "drag", "--help"],
        "error_points": [dragd, "drag", "--seed", "0", "--points", "10,10", "--out", out],
        "error_seed": [dragd, "drag", "--seed", "-1", "--points", "1,1:2,2", "--out", out],
        "missing_image": [dragd, "drag", "--image", str(folder / "none.png"), "--points", "1,1:2,2", "--out", out],
        "status_no_daemon": [dragd, "status", "--address", free_tcp_address()],
        "import_torch": [sys.executable, "-c", "import torch"],
        "demo": [dragd, "drag", "--seed", "0", "--points", "76,89:86,84", "--steps", "150", "--gif", "--out",
                 str(folder / "demo.png")],
    }


def timed_run(argv: list[str], timeout_s: float = 600) -> dict:
    """Runs `argv` with a pseudo-terminal as stdout and stderr; times its first line and its exit."""
    leader, follower = pty.openpty()
    start = time.perf_counter()
    process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=follower, stderr=follower, close_fds=True)
    os.close(follower)
    output, first_line_s = b"", None
    while True:
        ready, _, _ = select.select([leader], [], [], timeout_s)
        if not ready:
            process.kill()
            break
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the follower side closed: the process has exited
            break
        if not chunk:
            break
        output += chunk
        if first_line_s is None and (b"\n" in output or b"\r" in output.lstrip(b"\r")):
            first_line_s = time.perf_counter() - start
    status = process.wait()
    total_s = time.perf_counter() - start
    os.close(leader)
    text = output.decode("utf-8", "replace").replace("\r\n", "\n")
    text = ANSI_ESCAPE.sub("", text)
    first = next((part.strip() for part in text.replace("\r", "\n").split("\n") if part.strip()), "")
    return {"first_line_s": first_line_s, "total_s": total_s, "status": status, "first_line": first[:120]}


def machine_state() -> dict:
    return {"platform": platform.platform(), "python": sys.version.split()[0], "cpus": os.cpu_count(),
            "load_average_1_5_15": [round(v, 2) for v in os.getloadavg()],
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS", "unset (torch uses one thread per core)")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dragd", default=shutil.which("dragd", path=str(Path(sys.executable).parent)),
                        help="the dragd command to time (default: the one beside this Python)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--demo-repeats", type=int, default=1)
    parser.add_argument("--cases", help="comma-separated subset of the cases (default: all)")
    args = parser.parse_args(argv)
    if not args.dragd:
        parser.error("no dragd command beside this Python; give --dragd")
    report: dict = {"machine_before": machine_state(), "dragd": args.dragd, "cases": {}}
    with tempfile.TemporaryDirectory(prefix="dragd-first-line-") as folder:
        table = cases(args.dragd, Path(folder))
        chosen = args.cases.split(",") if args.cases else list(table)
        unknown = set(chosen) - set(table)
        if unknown:
            parser.error(f"unknown cases {sorted(unknown)}; known: {', '.join(table)}")
        for name in chosen:
            runs = [timed_run(table[name]) for _ in range(args.demo_repeats if name == "demo" else args.repeats)]
            firsts = [run["first_line_s"] for run in runs if run["first_line_s"] is not None]
            report["cases"][name] = {
                "command": " ".join(table[name][1:]) if name != "import_torch" else "python -c 'import torch'",
                "first_line_s": round(statistics.median(firsts), 3) if firsts else None,
                "total_s": round(statistics.median(run["total_s"] for run in runs), 3),
                "runs_first_line_s": [None if f is None else round(f, 3) for f in (r["first_line_s"] for r in runs)],
                "status": runs[-1]["status"], "first_line": runs[-1]["first_line"],
            }
            print(f"{name}: first line {report['cases'][name]['first_line_s']} s, total "
                  f"{report['cases'][name]['total_s']} s", file=sys.stderr)
    report["machine_after"] = machine_state()
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
