"""Per-step time and peak memory of the drag loop, printed as JSON.

Random-weight generators with the shapes of NVIDIA's released models (channel base 32768, max 512, 8 mapping
layers) at 256, 512 and 1024 px, one handle, the default feature block (the 6th), with and without a mask.

    .venv/bin/python benchmarks/drag_step.py [--device cpu|cuda|mps] [--sizes 256 512] [--steps 5]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import time

import numpy as np
import torch
from dragd.daemon.device import describe_device, pick_device
from dragd.daemon.engine.drag import DragOptions, DragRun
from dragd.daemon.models.stylegan2 import Generator, GeneratorConfig


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def bench(size: int, device: torch.device, steps: int, masked: bool) -> dict[str, object]:
    torch.manual_seed(0)
    generator = Generator(GeneratorConfig(img_resolution=size)).to(device).eval().requires_grad_(False)
    ws = generator.ws_for_seed(0)
    mask = None
    if masked:
        mask = np.zeros((size, size), bool)
        mask[size // 4: 3 * size // 4, size // 4: 3 * size // 4] = True
    handle, target = (size * 0.4, size * 0.5), (size * 0.6, size * 0.5)
    options = DragOptions(step_size=2e-3, max_steps=steps + 2, stop_distance=0.0)
    run = DragRun(generator, ws, [handle], [target], mask, options)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    iterator = run.steps()
    for _ in range(2):  # warm-up: first step builds references and allocator pools
        next(iterator)
    sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        next(iterator)
    sync(device)
    per_step = (time.perf_counter() - start) / steps
    record: dict[str, object] = {
        "size": size, "masked": masked, "device": describe_device(device), "steps_timed": steps,
        "seconds_per_step": round(per_step, 5), "steps_per_second": round(1 / per_step, 2),
        "feature_block": run.feature_block,
        "parameters_M": round(sum(p.numel() for p in generator.parameters()) / 1e6, 1),
    }
    if device.type == "cuda":
        record["peak_gpu_memory_GB"] = round(torch.cuda.max_memory_allocated(device) / 1e9, 3)
    else:
        # ru_maxrss is KiB on Linux: the whole process's peak, model included.
        record["peak_process_rss_GB"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 3)
    return record


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="auto")
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--no-mask-variant", action="store_true")
    args = parser.parse_args()
    device = pick_device(args.device)
    results = []
    for size in args.sizes:
        for masked in (False,) if args.no_mask_variant else (False, True):
            results.append(bench(size, device, args.steps, masked))
            print(json.dumps(results[-1]), file=sys.stderr)
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "machine": platform.machine(),
                      "results": results}, indent=1))


if __name__ == "__main__":
    main()
