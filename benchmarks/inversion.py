"""Inversion time and reconstruction quality against the number of steps, printed as a Markdown table.

On the embedded face model (128 px): one of its own samples (seed 3: the ground truth is reachable) and a real
photo (../shared/photos/astronaut.png, face-aligned when dragd[faces] is installed). Each row runs w steps,
W+ steps and pivotal-tuning steps as given; PSNR is in the model frame, after projection and after tuning.
`--timing-sizes` adds the per-step time of projection and tuning on random-weight generators with the shapes
of NVIDIA's released models (for planning defaults at 512 px; quality means nothing there).

    .venv/bin/python benchmarks/inversion.py [--device cpu|cuda] [--threads 2] [--schedules 50,25,25 100,50,50]
                                             [--timing-sizes 256 512]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from dragd.daemon.device import describe_device, pick_device
from dragd.daemon.invert.align import alignment_for, landmarks_available
from dragd.daemon.invert.losses import ReconstructionLoss
from dragd.daemon.invert.lpips import load_lpips
from dragd.daemon.invert.pipeline import InversionOptions, invert
from dragd.daemon.invert.project import ProjectionOptions, project
from dragd.daemon.invert.pti import TuningOptions, pivotal_tuning
from dragd.daemon.models.loader import load_generator
from dragd.daemon.models.registry import find_model
from dragd.daemon.models.stylegan2 import Generator, GeneratorConfig, to_uint8_image
from PIL import Image

PHOTO = Path(__file__).resolve().parents[2] / "shared" / "photos" / "astronaut.png"
DEFAULT_SCHEDULES = ["50,25,25", "100,50,50", "200,100,100", "400,200,200"]


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def quality_rows(device: torch.device, schedules: list[tuple[int, int, int]]) -> list[dict[str, object]]:
    info = find_model(None)
    generator = load_generator(info.path, device)
    lpips = load_lpips(device=device)
    with torch.no_grad():
        sample = to_uint8_image(generator.synthesis(generator.ws_for_seed(3)))
    with Image.open(PHOTO) as im:
        photo = np.asarray(im.convert("RGB"))
    cases = [("own sample (seed 3)", sample, None), ("astronaut.png", photo, alignment_for(info.name, info.domain))]
    rows = []
    for name, rgb, alignment in cases:
        for w, wplus, tuning in schedules:
            options = InversionOptions(ProjectionOptions(w_steps=w, wplus_steps=wplus), TuningOptions(steps=tuning))
            sync(device)
            start = time.perf_counter()
            inversion = invert(generator, rgb, options=options, alignment=alignment, lpips=lpips)
            sync(device)
            rows.append({"image": name, "w": w, "w+": wplus, "tuning": tuning, "aligned": inversion.aligned,
                         "seconds": round(time.perf_counter() - start, 2),
                         "projection_s": round(inversion.seconds["projection"], 2),
                         "tuning_s": round(inversion.seconds["tuning"], 2),
                         "psnr_projection": round(inversion.projection_psnr, 2),
                         "psnr": round(inversion.quality.psnr, 2), "lpips": inversion.quality.lpips})
            print(json.dumps(rows[-1]), file=sys.stderr)
    return rows


def step_times(size: int, device: torch.device, steps: int = 3) -> dict[str, object]:
    torch.manual_seed(0)
    generator = Generator(GeneratorConfig(img_resolution=size)).to(device).eval().requires_grad_(False)
    target = torch.rand(1, 3, size, size, device=device) * 2 - 1
    loss = ReconstructionLoss(None)
    options = ProjectionOptions(w_steps=steps, wplus_steps=0, stat_samples=1024)
    project(generator, target, loss, ProjectionOptions(w_steps=1, wplus_steps=0, stat_samples=64), lambda i: None)
    sync(device)
    start = time.perf_counter()
    ws = project(generator, target, loss, options, lambda i: None)
    sync(device)
    projection = (time.perf_counter() - start) / steps
    start = time.perf_counter()
    pivotal_tuning(generator, ws, target, loss, TuningOptions(steps=steps), lambda i: None)
    sync(device)
    tuning = (time.perf_counter() - start) / steps
    return {"size": size, "projection_step_s": round(projection, 3), "tuning_step_s": round(tuning, 3)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--schedules", nargs="*", default=DEFAULT_SCHEDULES, help="W,W+,TUNING step counts")
    parser.add_argument("--timing-sizes", nargs="*", type=int, default=[])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    schedules = [tuple(int(v) for v in s.split(",")) for s in args.schedules]
    print(f"device: {describe_device(device)}, torch threads {torch.get_num_threads()}, "
          f"face alignment {'on' if landmarks_available() else 'off (dragd[faces] not installed)'}, "
          f"LPIPS {'on' if load_lpips() is not None else 'off (weights not installed)'}\n")
    rows = quality_rows(device, schedules) if schedules else []
    if rows:
        print("| image | w / W+ / tuning steps | time (s) | projection (s) | tuning (s) | PSNR after projection "
              "(dB) | PSNR after tuning (dB) |")
        print("|---|---|---|---|---|---|---|")
        for r in rows:
            print(f"| {r['image']} | {r['w']} / {r['w+']} / {r['tuning']} | {r['seconds']} | {r['projection_s']} | "
                  f"{r['tuning_s']} | {r['psnr_projection']} | {r['psnr']} |")
    if args.timing_sizes:
        print("\n| size (random weights, NVIDIA shapes) | projection step (s) | tuning step (s) |\n|---|---|---|")
        for size in args.timing_sizes:
            t = step_times(size, device)
            print(f"| {size} | {t['projection_step_s']} | {t['tuning_step_s']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
