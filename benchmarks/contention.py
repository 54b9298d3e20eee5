"""Drag steps per second while other processes keep the CPU busy, for several thread policies, printed as JSON.

As when Krita or GIMP renders beside the daemon: `--busy N` CPU-bound processes (a Python busy loop each) run for
the whole measurement. Each policy runs in a fresh interpreter (OpenMP reads its wait policy once, when torch loads
it), the policies take turns `--rounds` times, and each figure is the median over the rounds:
- torch-default: what torch does unconfigured (one thread per core, OpenMP's default spin-then-sleep wait);
- dragd-default: `apply_thread_policy()` with no arguments, what `dragd drag` and `dragd serve` use;
- N-passive / N-active: N threads with OMP_WAIT_POLICY PASSIVE or ACTIVE.
Workload: the embedded model's drag (seed 3, handle 76,89 -> 86,84, its own defaults), or with --size a random
NVIDIA-shaped generator of that size (one handle, windowed features).

    .venv/bin/python benchmarks/contention.py [--busy 2] [--rounds 3] [--steps 20] [--size 512]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

POLICIES = {
    "torch-default": None,
    "dragd-default": (None, None),
    "1-passive": (1, "passive"),
    "2-passive": (2, "passive"),
    "2-active": (2, "active"),
}


def worker(policy: tuple[int | None, str | None] | None, steps: int, size: int | None) -> dict[str, object]:
    """Runs in the fresh interpreter: apply the policy, then load torch and time drag steps."""
    if policy is not None:
        from dragd.daemon.device import apply_thread_policy

        apply_thread_policy(*policy)
    import torch
    from dragd.daemon.engine.drag import DragOptions, DragRun, with_model_defaults

    if size is None:
        from dragd.daemon.models.loader import load_generator
        from dragd.daemon.models.registry import find_model

        info = find_model(None)
        generator = load_generator(info.path)
        options = with_model_defaults(DragOptions(max_steps=10_000, stop_distance=0.0), info.default_step_size,
                                      info.feature_block, info.mask_strength)
        ws, handle, target = generator.ws_for_seed(3), (76.0, 89.0), (86.0, 84.0)
    else:
        from dragd.daemon.models.stylegan2 import Generator, GeneratorConfig

        torch.manual_seed(0)
        generator = Generator(GeneratorConfig(img_resolution=size)).eval().requires_grad_(False)
        options = DragOptions(step_size=2e-3, max_steps=10_000, stop_distance=0.0)
        ws, handle, target = generator.ws_for_seed(0), (size * 0.4, size * 0.5), (size * 0.6, size * 0.5)
    steps_iter = DragRun(generator, ws, [handle], [target], None, options).steps()
    for _ in range(3):
        next(steps_iter)
    start = time.perf_counter()
    for _ in range(steps):
        next(steps_iter)
    elapsed = time.perf_counter() - start
    return {"threads": torch.get_num_threads(), "steps_per_s": round(steps / elapsed, 2)}


def run_policy(name: str, steps: int, size: int | None) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY")}
    spec = json.dumps({"policy": POLICIES[name], "steps": steps, "size": size})
    done = subprocess.run([sys.executable, __file__, "--worker", spec], capture_output=True, text=True, env=env,
                          check=True)
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--busy", type=int, default=2, help="CPU-bound processes beside the drag (default 2)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--size", type=int, help="a random NVIDIA-shaped generator of this size instead")
    parser.add_argument("--policies", nargs="+", default=list(POLICIES), choices=list(POLICIES))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        spec = json.loads(args.worker)
        print(json.dumps(worker(spec["policy"], spec["steps"], spec["size"])))
        return
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.busy)]
    try:
        rates: dict[str, list[float]] = {name: [] for name in args.policies}
        threads: dict[str, object] = {}
        for _ in range(args.rounds):
            for name in args.policies:
                record = run_policy(name, args.steps, args.size)
                rates[name].append(float(record["steps_per_s"]))  # type: ignore[arg-type]
                threads[name] = record["threads"]
                print(name, record, file=sys.stderr)
    finally:
        for process in busy:
            process.kill()
            process.wait()
    print(json.dumps({
        "busy_processes": args.busy, "cpu_count": os.cpu_count(), "workload": args.size or "embedded",
        "steps_timed": args.steps, "rounds": args.rounds,
        "results": [{"policy": name, "threads": threads[name], "median_steps_per_s": statistics.median(rates[name]),
                     "all_steps_per_s": rates[name]} for name in args.policies]}, indent=1))


if __name__ == "__main__":
    main()
