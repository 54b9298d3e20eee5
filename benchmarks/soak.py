"""Soak: N clients against one `dragd serve` for a fixed time; does anything get lost?

The daemon runs as its own process (`dragd serve`, the embedded 128 px model, a fresh state folder, a keys
folder with one client key per client: N users). Each client is a thread with its own connection and key that
opens a session (`generate`) and then loops: a short drag, `undo` or `redo`, `heartbeat`, `session_info`,
`ping`, now and then `close_session` and a new `generate`. Printed as JSON:

- requests: requests sent; replies: final replies received (result or error); errors: error replies by code;
- lost_replies: requests that got no final reply within the client timeout (should be 0);
- sessions_lost: `unknown_session` for a session its client opened and never closed (should be 0);
- wrong_results: replies that do not match the request (a drag result whose history index is not the one
  after the session's current state, an undo that lands elsewhere; should be 0);
- peak_rss_bytes: the daemon process's peak resident memory (VmHWM), Linux only;
- latency_s: median and 95th percentile of request -> final reply, per request type.

    .venv/bin/python benchmarks/soak.py --clients 16 --seconds 120 [--steps 5] [--client-timeout 60]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from dragd.daemon.server.security import client_keys, create_keys
from dragd.protocol import DragdClient, DragdError, DragdTimeout, DragOptions
from dragd.protocol.transport import resolve_address

HANDLE, TARGET = (76.0, 89.0), (86.0, 84.0)  # the embedded model's mouth corner (128 px)


class Tally:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests = 0
        self.replies = 0
        self.errors: collections.Counter[str] = collections.Counter()
        self.lost = 0
        self.sessions_lost = 0
        self.wrong = 0
        self.latency: dict[str, list[float]] = collections.defaultdict(list)

    def check(self, correct: bool) -> None:
        with self.lock:
            self.wrong += not correct

    def call(self, kind: str, function, *args, **kwargs):
        """One request: counted, timed; returns its result, or the DragdError it ended with."""
        with self.lock:
            self.requests += 1
        started = time.monotonic()
        try:
            result = function(*args, **kwargs)
        except DragdTimeout as exc:
            with self.lock:
                self.lost += 1
            return exc
        except DragdError as exc:
            with self.lock:
                self.replies += 1
                self.errors[exc.code] += 1
                self.latency[kind].append(time.monotonic() - started)
            return exc
        with self.lock:
            self.replies += 1
            self.latency[kind].append(time.monotonic() - started)
        return result


def client_loop(address: str, keys, tally: Tally, deadline: float, steps: int, timeout: float, seed: int) -> None:
    rng = random.Random(seed)
    with DragdClient(address, timeout, keys=keys, client_name=f"soak-{seed}") as client:
        session, index, length = None, 0, 0
        while time.monotonic() < deadline:
            if session is None:
                opened = tally.call("generate", client.generate, seed=rng.randrange(1000))
                if isinstance(opened, DragdError):
                    time.sleep(0.2)
                    continue
                session, index, length = opened.session, 0, 1
            action = rng.choice(["drag", "drag", "history", "heartbeat", "info", "ping", "close"])
            if action == "drag":
                result = tally.call("drag", client.drag, session, [(HANDLE, TARGET)],
                                    options=DragOptions(max_steps=steps, stop_distance=0.0))
                if not isinstance(result, DragdError):
                    tally.check(result.history_index == index + 1)
                    index, length = result.history_index, result.history_index + 1
            elif action == "history":
                undo = index > 0 and (index == length - 1 or rng.random() < 0.5)
                if index == 0 and length == 1:
                    continue
                result = tally.call("undo" if undo else "redo", client.undo if undo else client.redo, session)
                if not isinstance(result, DragdError):
                    expected = index - 1 if undo else index + 1
                    tally.check(result.history_index == expected)
                    index = result.history_index
            elif action == "heartbeat":
                alive = tally.call("heartbeat", client.heartbeat, [session])
                if not isinstance(alive, DragdError) and session not in alive:
                    with tally.lock:
                        tally.sessions_lost += 1
                    session = None
                continue
            elif action == "info":
                result = tally.call("session_info", client.session_info, session)
                if not isinstance(result, DragdError):
                    tally.check((result.history_index, result.history_length) == (index, length))
            elif action == "ping":
                tally.call("ping", client.ping)
                continue
            else:
                tally.call("close_session", client.close_session, session)
                session = None
                continue
            if isinstance(result, DragdError) and result.code == "unknown_session":
                with tally.lock:
                    tally.sessions_lost += 1
                session = None


def peak_rss(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--steps", type=int, default=5, help="drag steps per drag request")
    parser.add_argument("--client-timeout", type=float, default=60.0, help="the daemon's liveness window, s")
    parser.add_argument("--address", default="tcp://127.0.0.1:5599")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="dragd-soak-"))
    names = [f"soak{n}" for n in range(args.clients)]
    for name in names:
        create_keys(work / "keys", name)
    address = resolve_address(args.address)
    server = subprocess.Popen([sys.executable, "-m", "dragd.daemon.cli", "serve", "--address", address,
                               "--device", "cpu", "--curve-keys", str(work / "keys"), "--state-dir",
                               str(work / "state"), "--client-timeout", str(args.client_timeout),
                               "--log-file", str(work / "serve.jsonl")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with DragdClient(address, 120, keys=client_keys(work / "keys", names[0])) as probe:
            probe.hello()  # waits for the daemon to start
            probe.close_session(probe.generate(seed=0).session)  # and for the model to load: not timed
        tally = Tally()
        started = time.monotonic()
        deadline = started + args.seconds
        threads = [threading.Thread(target=client_loop, args=(address, client_keys(work / "keys", name), tally,
                                                              deadline, args.steps, 120.0, n))
                   for n, name in enumerate(names)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
        rss = peak_rss(server.pid)
        with DragdClient(address, 30, keys=client_keys(work / "keys", names[0])) as last:
            status = last.status()
    finally:
        server.terminate()
        server.wait(30)
    events = collections.Counter(json.loads(line)["event"] for line in (work / "serve.jsonl").read_text().splitlines())
    print(json.dumps({
        "clients": args.clients, "users": args.clients, "seconds": round(elapsed, 1), "drag_steps": args.steps,
        "client_timeout_s": args.client_timeout, "torch_threads": os.environ.get("OMP_NUM_THREADS", "default"),
        "requests": tally.requests, "replies": tally.replies, "errors": dict(tally.errors),
        "lost_replies": tally.lost, "sessions_lost": tally.sessions_lost, "wrong_results": tally.wrong,
        "peak_rss_bytes": rss, "sessions_in_memory_at_end": status.sessions,
        "latency_s": {kind: {"median": round(statistics.median(times), 3),
                             "p95": round(sorted(times)[int(0.95 * (len(times) - 1))], 3), "n": len(times)}
                      for kind, times in sorted(tally.latency.items())},
        "daemon_log_events": {name: events[name] for name in ("session_set_aside", "session_restored",
                                                              "session_evicted", "client_gone", "refused")},
    }, indent=1))


if __name__ == "__main__":
    main()
