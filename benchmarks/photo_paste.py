"""What the paste-back does to a photo: detail kept inside the selection, how far the handle's content moved, and
the time it adds to a drag; the default "carry" paste against pasting the generator's reconstruction.

On the photos in ../shared/photos (astronaut and Grace Hopper face-aligned, the cat in a plain region) and on
the astronaut upscaled 4x (2048 px), each with a few drags on the embedded 128 px face model:

- sharpness: mean squared Laplacian of the luma inside the selection, result / original (1 = all detail kept;
  the issue's goal is >= 0.9);
- moved: the handle's content found again in the result (normalised cross-correlation of the original patch
  around the handle, searched around it), its displacement against the intended one (target - handle), in
  photo px; `reached` is the share of the intended move along its direction. The same search between the
  generator's images before and after (G0 -> G1, mapped to photo px) says how far the generator itself moved
  it: `vs_generator` is how far the paste's move is from the generator's (what a paste can be blamed for);
- still: the largest difference to the photo after a drag that moves nothing (zero steps), 8-bit levels;
- time: the paste's seconds against the drag's (same process, one after the other).

    .venv/bin/python benchmarks/photo_paste.py [--threads 1] [--steps 60] [--inversion 100,50,50]
                                               [--strip docs/photo_paste_strip.png] [--only astronaut]

Prints one JSON object per drag and a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import torch
from dragd.daemon.engine.drag import DragOptions, DragRun, with_model_defaults
from dragd.daemon.invert.align import alignment_for, find_landmarks, landmarks_available
from dragd.daemon.invert.paste import paste_back
from dragd.daemon.invert.pipeline import Inversion, InversionOptions, invert
from dragd.daemon.invert.project import ProjectionOptions
from dragd.daemon.invert.pti import TuningOptions
from dragd.daemon.models.loader import load_generator
from dragd.daemon.models.registry import find_model
from PIL import Image

PHOTOS = Path(__file__).resolve().parents[2] / "shared" / "photos"
Point = tuple[float, float]
# dlib's 68 landmarks: 48 and 54 the mouth corners, 30 the nose tip.
MOUTH_LEFT, MOUTH_RIGHT, NOSE = 48, 54, 30


def load(name: str, upscale: int = 1) -> np.ndarray:
    with Image.open(PHOTOS / name) as im:
        im = im.convert("RGB")
        if upscale > 1:
            im = im.resize((im.width * upscale, im.height * upscale), Image.BICUBIC)
        return np.asarray(im)


def sharpness(rgb: np.ndarray, weights: np.ndarray) -> float:
    """Mean squared Laplacian of the luma, weighted (the selection)."""
    laplacian = cv2.Laplacian(rgb[:, :, :3].astype(np.float32).mean(axis=2), cv2.CV_32F)
    return float((laplacian ** 2 * weights).sum() / weights.sum())


def found_move(original: np.ndarray, result: np.ndarray, handle: Point, target: Point,
               half: int) -> tuple[float, float]:
    """Where the patch of `original` around `handle` is found in `result` (normalised cross-correlation over a
    window reaching past the target), as a displacement from the handle."""
    hx, hy = round(handle[0]), round(handle[1])
    reach = half + math.ceil(math.dist(handle, target)) + half
    height, width = original.shape[:2]
    template = original[hy - half:hy + half + 1, hx - half:hx + half + 1, :3]
    x0, y0 = max(0, hx - reach), max(0, hy - reach)
    window = result[y0:min(height, hy + reach + 1), x0:min(width, hx + reach + 1), :3]
    scores = cv2.matchTemplate(window, template, cv2.TM_CCOEFF_NORMED)
    _, _, _, (bx, by) = cv2.minMaxLoc(scores)
    # Sub-pixel: a parabola through the peak and its neighbours on each axis.
    def refine(values: np.ndarray, i: int) -> float:
        if 0 < i < len(values) - 1:
            left, mid, right = values[i - 1], values[i], values[i + 1]
            denominator = left - 2 * mid + right
            return i + (0.5 * (left - right) / denominator if denominator != 0 else 0.0)
        return float(i)

    fx, fy = refine(scores[by], bx), refine(scores[:, bx], by)
    return x0 + fx + half - hx, y0 + fy + half - hy


def cases(resolution: int) -> list[tuple[str, np.ndarray, tuple[int, int, int, int] | None, bool, list]]:
    """(name, photo, region, align, drags): the drags' points from dlib landmarks where there is a face."""
    out = []
    faces = landmarks_available()
    for name, upscale in (("astronaut.png", 1), ("grace_hopper.jpg", 1), ("astronaut.png", 4)):
        if not faces:
            break
        photo = load(name, upscale)
        marks = find_landmarks(photo)
        if marks is None:
            continue
        x0, y0 = marks.min(axis=0)
        x1, y1 = marks.max(axis=0)
        face = max(x1 - x0, y1 - y0)
        region = (int(x0 - 0.15 * face), int(y0 - 0.35 * face), int(1.3 * face), int(1.5 * face))
        step = 0.06 * face  # about 6 px on the 512 px astronaut's face

        def pair(i: int, dx: float, dy: float, marks: np.ndarray = marks, step: float = step) -> tuple[Point, Point]:
            x, y = float(marks[i][0]), float(marks[i][1])
            return (x, y), (x + dx * step, y + dy * step)

        smile = [pair(MOUTH_LEFT, -1, -1), pair(MOUTH_RIGHT, 1, -1)]
        label = name if upscale == 1 else f"{name} x{upscale} ({photo.shape[1]} px)"
        out.append((label, photo, region, True, [("smile", smile), ("nose up", [pair(NOSE, 0, -1.2)])]))
    cat = load("chelsea.png")
    out.append(("chelsea.png (plain region)", cat, (150, 40, 120, 100), False,
                [("head right", [((200.0, 90.0), (208.0, 90.0))])]))
    return out


def run_case(generator, info, name, photo, region, align, drags, args, strip_out: list) -> list[dict]:
    w, wplus, tuning = args.inversion
    options = InversionOptions(ProjectionOptions(w_steps=w, wplus_steps=wplus), TuningOptions(steps=tuning),
                               align="auto" if align else "plain")
    inversion: Inversion = invert(generator, photo, region, options=options,
                                  alignment=alignment_for(info.name, info.domain) if align else None)
    rows = []
    weights = np.zeros(photo.shape[:2], np.float32)
    x, y, w_, h = inversion.plan.box
    weights[y:y + h, x:x + w_] = inversion.plan.alpha
    still = paste_back(photo, inversion.reconstruction, inversion.reconstruction, inversion.frame, inversion.plan)
    still_levels = int(np.abs(still.astype(int) - photo).max())
    for label, pairs in drags:
        handles, targets = [p for p, _ in pairs], [t for _, t in pairs]
        drag_options = with_model_defaults(DragOptions(max_steps=args.steps), info.default_step_size,
                                           info.feature_block, info.mask_strength)
        started = time.perf_counter()
        result = DragRun(inversion.generator, inversion.ws, inversion.to_model(handles), inversion.to_model(targets),
                         None, drag_options).run()
        drag_seconds = time.perf_counter() - started
        started = time.perf_counter()
        carried = inversion.paste(photo, result.image)
        carry_seconds = time.perf_counter() - started
        started = time.perf_counter()
        pasted = paste_back(photo, inversion.reconstruction, result.image, inversion.frame,
                            replace(inversion.plan, mode="reconstruction"))
        reconstruction_seconds = time.perf_counter() - started
        half = max(4, round(4 / inversion.frame.scale))  # a patch of about 9 model px
        # How far the generator itself moved the handle's content (G0 -> G1), in photo px: what a paste can carry.
        to_photo = np.linalg.inv(inversion.frame.matrix[:, :2])
        generator_moves = []
        for handle, target in zip(inversion.to_model(handles), inversion.to_model(targets), strict=True):
            generator_moves.append(to_photo @ np.array(found_move(inversion.reconstruction, result.image, handle,
                                                                    target, 4)))
        row = {"photo": name, "drag": label, "size": f"{photo.shape[1]}x{photo.shape[0]}",
               "inversion_psnr": round(inversion.quality.psnr, 2), "steps": result.steps,
               "stopped": result.stopped, "still_max_levels": still_levels,
               "drag_s": round(drag_seconds, 3), "carry_paste_s": round(carry_seconds, 4),
               "reconstruction_paste_s": round(reconstruction_seconds, 4)}
        original_sharpness = sharpness(photo, weights)
        for mode, image in (("carry", carried), ("reconstruction", pasted)):
            row[f"sharpness_{mode}"] = round(sharpness(image, weights) / original_sharpness, 3)
            errors, shares, fidelity = [], [], []
            for (handle, target), generator_move in zip(pairs, generator_moves, strict=True):
                dx, dy = found_move(photo, image, handle, target, half)
                ix, iy = target[0] - handle[0], target[1] - handle[1]
                errors.append(math.dist((dx, dy), (ix, iy)))
                shares.append((dx * ix + dy * iy) / (ix * ix + iy * iy))
                fidelity.append(math.dist((dx, dy), generator_move))
            row[f"move_error_px_{mode}"] = round(float(np.mean(errors)), 2)
            row[f"reached_{mode}"] = round(float(np.mean(shares)), 2)
            row[f"vs_generator_px_{mode}"] = round(float(np.mean(fidelity)), 2)
        row["intended_px"] = round(float(np.mean([math.dist(h, t) for h, t in pairs])), 1)
        row["generator_moved_px"] = round(float(np.mean([np.hypot(*m) for m in generator_moves])), 1)
        row["generator_error_px"] = round(float(np.mean([math.dist(m, (t[0] - h[0], t[1] - h[1])) for m, (h, t) in
                                                         zip(generator_moves, pairs, strict=True)])), 1)
        rows.append(row)
        print(json.dumps(row), flush=True)
        if not strip_out and name == "astronaut.png":
            strip_out.append((photo, pasted, carried, inversion.plan.box, handles, targets))
    return rows


def save_strip(path: Path, photo, pasted, carried, box, handles, targets) -> None:
    """before | reconstruction paste | carry paste | |carry - before| x 4, cropped to the edit region, enlarged
    2x (nearest)."""
    from dragd.daemon.images import draw_points

    x, y, w, h = box
    difference = np.clip(4 * np.abs(carried[:, :, :3].astype(int) - photo[:, :, :3]), 0, 255).astype(np.uint8)
    tiles = []
    for image, points in ((photo, handles), (pasted, None), (carried, None), (difference, None)):
        crop = np.ascontiguousarray(image[y:y + h, x:x + w, :3])
        if points is not None:
            local = [(px - x, py - y) for px, py in handles]
            tile = draw_points(crop, local, [(px - x, py - y) for px, py in targets], scale=2)
        else:
            tile = Image.fromarray(crop).resize((2 * w, 2 * h), Image.NEAREST)
        tiles.append(np.asarray(tile.convert("RGB")))
    gap = np.full((2 * h, 8, 3), 255, np.uint8)
    Image.fromarray(np.hstack([tiles[0], gap, tiles[1], gap, tiles[2], gap, tiles[3]])).save(path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=60, help="drag steps at most (default 60)")
    parser.add_argument("--inversion", default="100,50,50", help="W,W+,tuning steps (default 100,50,50)")
    parser.add_argument("--strip", type=Path, help="write before | reconstruction paste | carry | difference here")
    parser.add_argument("--only", help="run only the photos whose label contains this text")
    args = parser.parse_args()
    args.inversion = tuple(int(v) for v in args.inversion.split(","))
    torch.set_num_threads(args.threads)
    info = find_model(None)
    generator = load_generator(info.path, "cpu")
    if not landmarks_available():
        print("dlib landmarks unavailable: only the plain-region case runs", file=sys.stderr)
    rows: list[dict] = []
    strip: list = []
    for name, photo, region, align, drags in cases(generator.img_shape[0]):
        if args.only and args.only not in name:
            continue
        rows += run_case(generator, info, name, photo, region, align, drags, args, strip)
    if args.strip and strip:
        save_strip(args.strip, *strip[0])
    print(f"\ntorch threads {args.threads}, inversion {args.inversion}, drags of at most {args.steps} steps, CPU\n")
    print("| photo | drag | sharpness carry / reconstruction | intended move px | generator moved px (error) | "
          "carry: move error px (vs generator) | reconstruction: move error px (vs generator) | "
          "carry paste s / drag s |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['photo']} | {r['drag']} | {r['sharpness_carry']:.2f} / {r['sharpness_reconstruction']:.2f} | "
              f"{r['intended_px']:.1f} | {r['generator_moved_px']:.1f} ({r['generator_error_px']:.1f}) | "
              f"{r['move_error_px_carry']:.1f} ({r['vs_generator_px_carry']:.1f}) | "
              f"{r['move_error_px_reconstruction']:.1f} ({r['vs_generator_px_reconstruction']:.1f}) | "
              f"{r['carry_paste_s']:.3f} / {r['drag_s']:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
