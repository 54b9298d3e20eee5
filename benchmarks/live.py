"""Live drags end to end (issue 14): preview rate, update-to-preview latency and how the handle follows, as JSON.

A daemon runs in this process (its own threads, a loopback socket, CurveZMQ as always) and a `DragdClient` drives
a live drag the way an editor does: a scripted artist moves the target in 10 increments along a path, one every
`--increment-s` seconds, polling for previews in between (as an editor timer does, every `--poll-s`), then waits
until the drag is idle (or `--settle-s` passed). Measured by the client:

- previews/s: progress messages with an image, per second, from the first to the last after the first step;
- latency: from sending update r to the first preview whose `revision` is >= r (the latent shown was optimised
  for the new target), median and largest over the 10 updates;
- lag: the largest distance (px) of the tracked handle, in any progress, behind the target current at the time;
- whether the final handle lies within the stop distance of the final target.

Then, in the same process, where one preview's time goes: a drag step (observe + optimise), rendering the
image, turning it into a wire image and encoding the progress message (the rest of the latency is waiting for
the step under way, transport and the client's poll interval).

Models: "embedded" (the 128 px face model, the demo drag 76,89 -> 86,84) and "random-512" (a random-weight
generator with NVIDIA's released shapes at 512 px, the same drag scaled by 4: it has no meaning, it has the cost).

    .venv/bin/python benchmarks/live.py [--models embedded random-512] [--device cpu|cuda] [--threads 1]
        [--increment-s 0.1] [--poll-s 0.01] [--settle-s 30]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

from dragd.daemon.device import apply_thread_policy

apply_thread_policy()  # dragd's OpenMP wait policy before torch loads
import torch  # noqa: E402
from dragd.daemon.device import describe_device, pick_device  # noqa: E402
from dragd.daemon.engine.drag import DragOptions as EngineOptions  # noqa: E402
from dragd.daemon.engine.drag import DragRun, with_model_defaults  # noqa: E402
from dragd.daemon.engine.live import LiveLoop, PreviewBudget  # noqa: E402
from dragd.daemon.models.loader import load_generator  # noqa: E402
from dragd.daemon.models.registry import ModelInfo, find_model  # noqa: E402
from dragd.daemon.models.stylegan2 import Generator, GeneratorConfig  # noqa: E402
from dragd.daemon.server.app import Daemon  # noqa: E402
from dragd.daemon.server.config import ServerConfig  # noqa: E402
from dragd.daemon.server.jobs import rgba  # noqa: E402
from dragd.daemon.server.live import LiveJob  # noqa: E402
from dragd.daemon.server.models import ModelCache  # noqa: E402
from dragd.protocol import DragdClient, DragOptions, DragProgress, DragResult, PointPair, codec  # noqa: E402
from dragd.protocol import messages as m  # noqa: E402

START, END = (76.0, 89.0), (86.0, 84.0)  # the demo drag on the embedded model (README)
INCREMENTS = 10


def models(device: torch.device, names: list[str]) -> ModelCache:
    cache = ModelCache(device, catalogue=lambda: [], default=names[0])
    for name in names:
        if name == "embedded":
            info = find_model(None)
            cache.register(dataclasses.replace(info, name="embedded"), load_generator(info.path))
        else:
            torch.manual_seed(0)
            generator = Generator(GeneratorConfig(img_resolution=512)).to(device).eval().requires_grad_(False)
            cache.register(ModelInfo(name, Path(name), default_step_size=2e-3), generator)
    return cache


def path(scale: float) -> list[tuple[float, float]]:
    return [(scale * (START[0] + (END[0] - START[0]) * i / INCREMENTS),
             scale * (START[1] + (END[1] - START[1]) * i / INCREMENTS)) for i in range(1, INCREMENTS + 1)]


def session_run(client: DragdClient, model: str, scale: float, args: argparse.Namespace) -> dict[str, object]:
    """The scripted artist: returns the client-side figures."""
    session = client.generate(seed=1, model=model).session
    start = (scale * START[0], scale * START[1])
    drag = client.live_drag(session, [PointPair(start, start, "handle")], options=DragOptions(max_steps=1000))
    sent: dict[int, float] = {}
    latency: dict[int, float] = {}
    previews: list[float] = []
    lags: list[float] = []
    current = start
    began = time.perf_counter()
    last: DragProgress | None = None

    def pump(until: float, stop_when_idle: bool) -> None:
        nonlocal last
        while time.perf_counter() < until:
            reply = drag.poll(args.poll_s)
            if not isinstance(reply, DragProgress):
                continue
            now = time.perf_counter()
            last = reply
            if reply.image is not None and reply.step > 0:  # a preview of the drag under way (or where it idles)
                previews.append(now)
                for revision, at in sent.items():
                    if reply.revision >= revision and revision not in latency:
                        latency[revision] = now - at
            lags.append(math.dist(reply.points[0], current))
            if stop_when_idle and reply.idle and reply.revision == INCREMENTS:
                return

    pump(time.perf_counter() + 2.0, stop_when_idle=False)  # the drag starts idle (handle on target); warm-up
    for revision, target in enumerate(path(scale), start=1):
        current = target
        sent[revision] = time.perf_counter()
        drag.update([("handle", target)])
        pump(time.perf_counter() + args.increment_s, stop_when_idle=False)
    moved_until = time.perf_counter()
    pump(moved_until + args.settle_s, stop_when_idle=True)
    settled = last is not None and last.idle and last.revision == INCREMENTS
    result = drag.commit()
    assert isinstance(result, DragResult)
    stepping_s = (previews[-1] - previews[0]) if len(previews) > 1 else float("nan")
    waits = list(latency.values())
    final = result.points[0]
    return {
        "previews": len(previews), "previews_per_s": round((len(previews) - 1) / stepping_s, 2) if waits else None,
        "latency_median_ms": round(1000 * statistics.median(waits), 1) if waits else None,
        "latency_max_ms": round(1000 * max(waits), 1) if waits else None,
        "updates_reflected": f"{len(waits)}/{INCREMENTS}",
        "largest_lag_px": round(max(lags), 2) if lags else None,
        "settled_within_s": settled,
        "final_handle": final, "final_target": path(scale)[-1],
        "final_distance_px": round(math.dist(final, path(scale)[-1]), 2),
        "steps": result.steps, "stopped": result.stopped,
        "session_s": round(time.perf_counter() - began, 2),
    }


POLICIES = {"adaptive": (True, True), "plain": (False, False)}  # LiveJob.render_fresh, PreviewBudget.rounding


def summary(sessions: list[dict[str, object]]) -> dict[str, object]:
    """One session as it is, several as the median of each figure (and every session's)."""
    if len(sessions) == 1:
        return sessions[0]
    numbers = [key for key, value in sessions[0].items() if isinstance(value, (int, float)) and
               not isinstance(value, bool)]
    medians = {key: statistics.median(s[key] for s in sessions if s[key] is not None) for key in numbers}
    return {"median": medians, "sessions": sessions}


def components(generator: Generator, info: ModelInfo, scale: float, repeats: int) -> dict[str, float]:
    """Median seconds of the parts of one preview, measured in this process."""
    options = with_model_defaults(EngineOptions(max_steps=1000, stop_distance=0.0), info.default_step_size,
                                  info.feature_block, info.mask_strength)
    start = (scale * START[0], scale * START[1])
    run = DragRun(generator, generator.ws_for_seed(1), [start], [path(scale)[-1]], None, options, ["handle"])
    loop = LiveLoop(run, 1000)
    loop.advance(False)  # warm-up: references
    step, render, wire = [], [], []
    for _ in range(repeats):
        began = time.perf_counter()
        loop.advance(False)
        step.append(time.perf_counter() - began)
        frame = loop.advance(True)
        render.append(frame.render_s)
        began = time.perf_counter()
        message = m.progress_message(1, "drag", m.DragProgress(frame.steps, tuple(frame.points), frame.loss,
                                                               rgba(frame.image), (0, 0), ("handle",), 0, 1, False))
        codec.encode(message)
        wire.append(time.perf_counter() - began)
    return {name: round(1000 * statistics.median(values), 2)
            for name, values in (("step_ms", step), ("render_ms", render), ("to_wire_ms", wire))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["embedded", "random-512"], choices=["embedded", "random-512"])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--increment-s", type=float, default=0.1, help="the artist's time between increments")
    parser.add_argument("--poll-s", type=float, default=0.01, help="the editor's poll interval")
    parser.add_argument("--settle-s", type=float, default=30.0, help="the longest wait for idle after the path")
    parser.add_argument("--repeats", type=int, default=5, help="component timings (median)")
    parser.add_argument("--sessions", type=int, default=1, help="scripted sessions per model and policy")
    parser.add_argument("--policies", nargs="+", default=["adaptive"], choices=sorted(POLICIES),
                        help="preview policies, sessions taken in turn (adaptive: dragd's; plain: the budget alone)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    cache = models(device, args.models)
    # The first optimiser a process makes imports torch._dynamo (seconds, once): paid here, not in a session.
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])
    load_before = os.getloadavg()
    daemon = Daemon(ServerConfig(address="tcp://127.0.0.1:*", device=str(device)), cache)
    thread = daemon.start_in_thread()
    results = {}
    try:
        with DragdClient(daemon.endpoint, 120) as client:
            for name in args.models:
                scale = 1.0 if name == "embedded" else 4.0
                runs: dict[str, list[dict[str, object]]] = {policy: [] for policy in args.policies}
                for _ in range(args.sessions):
                    for policy in args.policies:
                        LiveJob.render_fresh, PreviewBudget.rounding = POLICIES[policy]
                        runs[policy].append(session_run(client, name, scale, args))
                        print(json.dumps({name: {policy: runs[policy][-1]}}), file=sys.stderr)
                results[name] = {policy: summary(sessions) for policy, sessions in runs.items()}
    finally:
        daemon.request_stop()
        thread.join(30)
    LiveJob.render_fresh, PreviewBudget.rounding = POLICIES["adaptive"]
    for name in args.models:
        model = cache.get(name)
        results[name]["components"] = components(model.generator, model.info, 1.0 if name == "embedded" else 4.0,
                                                 args.repeats)
    print(json.dumps({
        "torch": torch.__version__, "device": describe_device(device), "threads": torch.get_num_threads(),
        "machine": platform.machine(), "cpus": os.cpu_count(), "load_average_before": load_before,
        "load_average_after": os.getloadavg(), "increment_s": args.increment_s, "poll_s": args.poll_s,
        "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
