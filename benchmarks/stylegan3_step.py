"""Per-step time of the drag loop on StyleGAN3 (configs T and R) next to StyleGAN2 at the same resolution.

Random-weight generators with the shapes of NVIDIA's released models at each size: StyleGAN2 (channel base
32768, max 512, 8 mapping layers; the engine's default windowed compute, and full compute), StyleGAN3-T
(channel base 32768, max 512) and StyleGAN3-R (65536, 1024, 1x1 convs, radial filters). The default feature
block (StyleGAN2: the 6th block; StyleGAN3: layer L5), one handle, no mask, no previews. The drags run in one
process, one step of each in turn, so a busy machine slows all alike; figures are medians over the timed steps
(the first step of each, which warms caches up, is not timed). Prints JSON.

    .venv/bin/python benchmarks/stylegan3_step.py [--sizes 256 512] [--steps 5] [--threads 1] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import torch
from dragd.daemon.device import describe_device, pick_device
from dragd.daemon.engine.drag import DragOptions, DragRun
from dragd.daemon.models.generators import new_generator
from dragd.daemon.models.stylegan2 import GeneratorConfig
from dragd.daemon.models.stylegan3 import StyleGAN3Config


def generators(size: int) -> dict[str, tuple[object, str]]:
    """name -> (config, compute mode)."""
    return {
        "stylegan2 windowed": (GeneratorConfig(img_resolution=size), "windowed"),
        "stylegan2 full": (GeneratorConfig(img_resolution=size), "full"),
        "stylegan3-t": (StyleGAN3Config(img_resolution=size), "full"),
        "stylegan3-r": (StyleGAN3Config(img_resolution=size, channel_base=65536, channel_max=1024, conv_kernel=1,
                                        use_radial_filters=True), "full"),
    }


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(size: int, steps: int, device: torch.device) -> dict[str, object]:
    runs = {}
    for name, (config, compute) in generators(size).items():
        torch.manual_seed(0)
        generator = new_generator(config).to(device).eval().requires_grad_(False)
        ws = generator.ws_for_seed(0)
        handle, target = (size * 0.4, size * 0.5), (size * 0.6, size * 0.5)
        run = DragRun(generator, ws, [handle], [target],
                      options=DragOptions(max_steps=steps + 1, stop_distance=0, compute=compute))
        feature = run.feature_block
        layer = getattr(generator.synthesis, "layer_names", None)
        runs[name] = (run.steps(), [], layer[feature] if layer else f"block {feature} (b{4 * 2 ** feature})")
    for step in range(steps + 1):
        for _name, (iterator, times, _) in runs.items():
            sync(device)
            start = time.perf_counter()
            next(iterator)
            sync(device)
            if step > 0:
                times.append(time.perf_counter() - start)
    return {name: {"median_s": round(statistics.median(times), 4), "steps": len(times), "feature": feature}
            for name, (_, times, feature) in runs.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    results = {str(size): measure(size, args.steps, device) for size in args.sizes}
    print(json.dumps({"device": describe_device(device), "threads": args.threads, "python": platform.python_version(),
                      "torch": torch.__version__, "results": results}, indent=1))


if __name__ == "__main__":
    main()
