"""A whole edit, start to final image: seconds, steps and whether the handle arrived, printed as JSON.

Two edits: the README's demo drag (embedded face model, seed 3, handle 76,89 -> 86,84, the model's defaults, at
most 300 steps) and a 512 px drag on a random NVIDIA-shaped generator (seed 0, one handle moved 20 px, at most
`--max-steps-512` steps; random weights need not let it arrive). Each runs with whole-map ("full") and windowed
features and, with --before DIR (see benchmarks/drag_step.py), with an older dragd's loop; the modes take turns.

    .venv/bin/python benchmarks/drag_edit.py [--threads 1] [--rounds 1] [--max-steps-512 40] [--before DIR]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from types import ModuleType

import torch
from drag_step import load_before
from dragd.daemon.engine import drag
from dragd.daemon.models.loader import load_generator
from dragd.daemon.models.registry import find_model
from dragd.daemon.models.stylegan2 import Generator, GeneratorConfig


def edit(module: ModuleType, generator: torch.nn.Module, ws: torch.Tensor, handle: tuple[float, float],
         target: tuple[float, float], options: object) -> dict[str, object]:
    start = time.perf_counter()
    result = module.DragRun(generator, ws, [handle], [target], None, options).run()
    seconds = time.perf_counter() - start
    return {"seconds": round(seconds, 2), "steps": result.steps, "reached": result.reached,
            "final_distance_px": round(math.dist(result.points[0], target), 2)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--max-steps-512", type=int, default=40)
    parser.add_argument("--before", help="folder with an older dragd's daemon/ and protocol/")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    old = load_before(args.before) if args.before else None

    info = find_model(None)
    embedded = load_generator(info.path)
    torch.manual_seed(0)
    random512 = Generator(GeneratorConfig(img_resolution=512)).eval().requires_grad_(False)
    edits = {
        "demo (embedded 128 px, seed 3)": (embedded, embedded.ws_for_seed(3), (76.0, 89.0), (86.0, 84.0), 300,
                                           (info.default_step_size, info.feature_block, info.mask_strength)),
        "512 px random generator": (random512, random512.ws_for_seed(0), (205.0, 256.0), (225.0, 256.0),
                                    args.max_steps_512, (2e-3, None, None)),
    }
    results = []
    for name, (generator, ws, handle, target, max_steps, defaults) in edits.items():
        modes: dict[str, tuple[ModuleType, torch.nn.Module, object]] = {}
        if old is not None:
            old_drag, stylegan2 = old
            old_generator = stylegan2.Generator(stylegan2.GeneratorConfig.from_dict(generator.cfg.to_dict()))
            old_generator.load_state_dict(generator.state_dict())
            old_generator.eval().requires_grad_(False)
            modes["before"] = (old_drag, old_generator,
                               old_drag.with_model_defaults(old_drag.DragOptions(max_steps=max_steps), *defaults))
        for compute in ("full", "windowed"):
            options = drag.with_model_defaults(drag.DragOptions(max_steps=max_steps, compute=compute), *defaults)
            modes[compute] = (drag, generator, options)
        for round_ in range(args.rounds):
            for mode, (module, gen, options) in modes.items():
                record = {"edit": name, "mode": mode, "round": round_, "threads": torch.get_num_threads(),
                          **edit(module, gen, ws, handle, target, options)}
                results.append(record)
                print(json.dumps(record), file=sys.stderr)
    print(json.dumps({"torch": torch.__version__, "before": args.before, "results": results}, indent=1))


if __name__ == "__main__":
    main()
