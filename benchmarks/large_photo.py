"""Where the time goes before the first projection step on a large photo: reading, each "align" step, writing.

Builds a WIDTHxHEIGHT JPEG (../shared/photos/grace_hopper.jpg enlarged onto a canvas, stored turned with EXIF
orientation 6 as a phone would), then times `read_photo`, the three "align" steps of `invert` (face and frame,
paste plan, model view; no projection or tuning steps) for the whole photo and for a region around the face, and
`write_photo` of the result. Prints JSON.

    .venv/bin/python benchmarks/large_photo.py [--size 6000x4000] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
from dragd.daemon.images import read_photo, write_photo
from dragd.daemon.invert.align import alignment_for, landmarks_available
from dragd.daemon.invert.pipeline import InversionOptions, invert
from dragd.daemon.invert.project import ProjectionOptions
from dragd.daemon.invert.pti import TuningOptions
from dragd.daemon.models.loader import load_generator
from dragd.daemon.models.registry import find_model
from PIL import Image

PHOTO = Path(__file__).resolve().parents[2] / "shared" / "photos" / "grace_hopper.jpg"
NO_STEPS = InversionOptions(ProjectionOptions(w_steps=0, wplus_steps=0), TuningOptions(steps=0))


def build(width: int, height: int, path: Path) -> tuple[int, int, int, int]:
    """The test photo at `path`; returns the face's region (x, y, w, h) in the upright photo."""
    with Image.open(PHOTO) as im:
        portrait = im.convert("RGB")
    scale = height / portrait.height
    portrait = portrait.resize((round(portrait.width * scale), height), Image.BICUBIC)
    canvas = Image.new("RGB", (width, height), (90, 100, 110))
    left = (width - portrait.width) // 2
    canvas.paste(portrait, (left, 0))
    exif = Image.Exif()
    exif[0x0112] = 6
    canvas.transpose(Image.Transpose.ROTATE_90).save(path, quality=92, exif=exif)
    # The face in grace_hopper.jpg spans about x 170-370, y 140-350 of its 512 x 600 pixels.
    return round(left + 170 * scale), round(140 * scale), round(200 * scale), round(210 * scale)


def align_steps(generator, rgb, region, alignment) -> dict[str, float]:
    stamps: list[tuple[str, int, float]] = []
    start = time.perf_counter()
    inversion = invert(generator, rgb, region, options=NO_STEPS, alignment=alignment,
                       on_progress=lambda stage, step, total: stamps.append((stage, step, time.perf_counter())))
    align = [t for stage, _, t in stamps if stage == "align"]
    names = ("face_and_frame", "paste_plan", "model_view")
    seconds = {name: round(b - a, 2) for name, a, b in zip(names, align, align[1:], strict=False)}
    seconds["align_total"] = round(align[-1] - start, 2)
    seconds["aligned"] = inversion.aligned
    seconds["edit_box"] = list(inversion.plan.box)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="6000x4000")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    width, height = (int(v) for v in args.size.split("x"))
    info = find_model(None)
    generator = load_generator(info.path)
    alignment = alignment_for(info.name, info.domain)
    report: dict[str, object] = {"size": args.size, "threads": args.threads, "model": info.name,
                                 "landmarks": landmarks_available()}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "large.jpg"
        face = build(width, height, path)
        started = time.perf_counter()
        photo = read_photo(path)
        report["read_s"] = round(time.perf_counter() - started, 2)
        report["read_as"] = photo.describe()
        report["face_region"] = align_steps(generator, photo.working, face, alignment)
        report["whole_photo"] = align_steps(generator, photo.working, None, alignment)
        started = time.perf_counter()
        write_photo(photo.result(photo.working), Path(folder) / "out.png", photo.icc)
        report["write_s"] = round(time.perf_counter() - started, 2)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
