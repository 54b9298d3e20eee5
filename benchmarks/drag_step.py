"""Per-step time and memory of the drag loop, whole-map ("full") against windowed features, printed as JSON.

Random-weight generators with the shapes of NVIDIA's released models (channel base 32768, max 512, 8 mapping
layers) at 256, 512 and 1024 px, the default feature block (the 6th), 1 or 5 handles, with and without a mask.
For each configuration both modes run in the same process, one step of each in turn, so that a busy machine
slows both alike; the figures are medians over the timed steps. OpenMP waits passively (dragd's policy,
daemon/device.py) unless OMP_WAIT_POLICY says otherwise.

Memory: on CUDA, the peak allocated during one step of each mode. On CPU, what autograd keeps for the backward
pass during one step (the step's activation memory; parameters and the process are not counted), and the
process's peak resident size at the end.

    .venv/bin/python benchmarks/drag_step.py [--device cpu|cuda|mps] [--sizes 256 512] [--handles 1 5]
        [--masks no yes] [--threads 1 2] [--steps 5] [--windowed-blocks 4] [--tf32] [--before DIR]

--before DIR adds a third mode, "before": the drag loop of an older dragd, unpacked with
`git archive COMMIT daemon protocol | tar -x -C DIR` into a folder whose name is a Python identifier (e.g.
/tmp/dragd_before), imported under that name and run on the same weights, interleaved with the other two.
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import resource
import statistics
import sys
import time
from pathlib import Path
from types import ModuleType

import numpy as np
from dragd.daemon.device import apply_thread_policy

apply_thread_policy()  # dragd's OpenMP wait policy (passive) before torch loads; --threads sets the count per run
import torch  # noqa: E402
from dragd.daemon.device import describe_device, pick_device  # noqa: E402
from dragd.daemon.engine.drag import DragOptions, DragRun  # noqa: E402
from dragd.daemon.models.stylegan2 import Generator, GeneratorConfig  # noqa: E402


def load_before(folder: str) -> tuple[ModuleType, ModuleType]:
    """The drag and stylegan2 modules of an older dragd unpacked in `folder` (see the module docstring)."""
    path = Path(folder).resolve()
    if not path.name.isidentifier() or not (path / "daemon" / "engine" / "drag.py").is_file():
        raise SystemExit(f"--before needs a folder named like a Python module holding daemon/engine/drag.py: {path}")
    sys.path.insert(0, str(path.parent))
    return (importlib.import_module(f"{path.name}.daemon.engine.drag"),
            importlib.import_module(f"{path.name}.daemon.models.stylegan2"))


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def nvidia_shaped(size: int, device: torch.device) -> Generator:
    torch.manual_seed(0)
    return Generator(GeneratorConfig(img_resolution=size)).to(device).eval().requires_grad_(False)


def points(size: int, handles: int) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """1 handle: from 40 % to 60 % of the width at mid height; 5: spread over the image, each moved 20 %."""
    if handles == 1:
        return [(size * 0.4, size * 0.5)], [(size * 0.6, size * 0.5)]
    spots = [(0.3, 0.3), (0.7, 0.3), (0.5, 0.5), (0.3, 0.7), (0.7, 0.7)][:handles]
    return [(size * x, size * y) for x, y in spots], [(size * (x + 0.1), size * (y - 0.1)) for x, y in spots]


def saved_for_backward_bytes(iterator, generator: torch.nn.Module) -> int:
    """Bytes autograd keeps for the backward pass during one step (distinct storages; the generator's own
    parameters and buffers, which conv layers save too, are not counted)."""
    storages: dict[int, int] = {}
    weights = {t.untyped_storage().data_ptr() for t in [*generator.parameters(), *generator.buffers()]}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in weights:
            storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        next(iterator)
    return sum(storages.values())


def bench(generator: Generator, device: torch.device, handles: int, masked: bool, steps: int,
          windowed_blocks: int, before: tuple[ModuleType, torch.nn.Module] | None = None) -> dict[str, object]:
    size = generator.img_resolution
    mask = None
    if masked:
        mask = np.zeros((size, size), bool)
        mask[size // 4: 3 * size // 4, size // 4: 3 * size // 4] = True
    sources, targets = points(size, handles)
    common = dict(step_size=2e-3, max_steps=steps + 10, stop_distance=0.0)
    runs = {}
    if before is not None:
        drag, old_generator = before
        runs["before"] = drag.DragRun(old_generator, generator.ws_for_seed(0), sources, targets, mask,
                                      drag.DragOptions(**common))
    for mode in ("full", "windowed"):
        options = DragOptions(compute=mode, windowed_blocks=windowed_blocks, **common)
        runs[mode] = DragRun(generator, generator.ws_for_seed(0), sources, targets, mask, options)
    iterators = {mode: run.steps() for mode, run in runs.items()}
    for iterator in iterators.values():
        next(iterator)  # warm-up: the first step builds the references and the allocator's pools
    times: dict[str, list[float]] = {mode: [] for mode in runs}
    for _ in range(steps):
        for mode, iterator in iterators.items():
            sync(device)
            start = time.perf_counter()
            next(iterator)
            sync(device)
            times[mode].append(time.perf_counter() - start)
    record: dict[str, object] = {"size": size, "handles": handles, "masked": masked, "threads": torch.get_num_threads(),
                                 "feature_block": runs["full"].feature_block}
    for mode, iterator in iterators.items():
        per_step = statistics.median(times[mode])
        record[f"{mode}_s_per_step"] = round(per_step, 4)
        record[f"{mode}_steps_per_s"] = round(1 / per_step, 2)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
            next(iterator)
            record[f"{mode}_peak_gpu_GB"] = round(torch.cuda.max_memory_allocated(device) / 1e9, 3)
        else:
            record[f"{mode}_autograd_MB"] = round(saved_for_backward_bytes(iterator, runs[mode].generator) / 1e6, 1)
    record["windowed_used"] = runs["windowed"].first_windowed is not None
    for mode in [m for m in ("full", "before") if m in runs]:
        record[f"speed_up_vs_{mode}"] = round(statistics.median(times[mode]) / statistics.median(times["windowed"]), 2)
    return record


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="auto")
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024])
    parser.add_argument("--handles", type=int, nargs="+", default=[1, 5], choices=[1, 2, 3, 4, 5])
    parser.add_argument("--masks", nargs="+", default=["no", "yes"], choices=["no", "yes"])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--windowed-blocks", type=int, default=DragOptions.windowed_blocks)
    parser.add_argument("--tf32", action="store_true", help="allow TF32 matmuls and convolutions (CUDA only)")
    parser.add_argument("--before", help="folder with an older dragd's daemon/ and protocol/ (see above)")
    args = parser.parse_args()
    old = load_before(args.before) if args.before else None
    device = pick_device(args.device)
    torch.backends.cuda.matmul.allow_tf32 = args.tf32
    torch.backends.cudnn.allow_tf32 = args.tf32
    results = []
    for size in args.sizes:
        generator = nvidia_shaped(size, device)
        before = None
        if old is not None:
            drag, stylegan2 = old
            old_generator = stylegan2.Generator(stylegan2.GeneratorConfig(img_resolution=size))
            old_generator.load_state_dict(generator.state_dict())
            before = drag, old_generator.to(device).eval().requires_grad_(False)
        for threads in args.threads:
            torch.set_num_threads(threads)
            for handles in args.handles:
                for masked in args.masks:
                    results.append(bench(generator, device, handles, masked == "yes", args.steps,
                                         args.windowed_blocks, before))
                    print(json.dumps(results[-1]), file=sys.stderr)
    print(json.dumps({
        "torch": torch.__version__, "device": describe_device(device), "machine": platform.machine(),
        "tf32": args.tf32, "windowed_blocks": args.windowed_blocks, "steps_timed": args.steps,
        "before": args.before,
        "peak_process_rss_GB": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 3),
        "results": results}, indent=1))


if __name__ == "__main__":
    main()
