"""Face landmark manipulation (DragGAN paper, Table 1) with dragd's drag engine on the embedded face model.

For each pair of seeds (A, B): generate both faces, find dlib's 68 landmarks on each, drag A's landmarks
(1 random, 5 random, all 68) to B's positions, find the landmarks again on the result. MD is the mean distance
between the dragged landmarks on the result and their targets; "no edit" is the same distance before the drag.
Every feature block runs on the same pairs and the same randomly chosen landmarks, so blocks compare pair by pair.

Choices the paper leaves open, made here:
- random landmarks are drawn among those inside the image on both faces (a user cannot click outside it); with
  all 68, handles and targets outside the image are clamped to its edge for the drag (the engine refuses them)
  and MD is still measured against the unclamped targets;
- a pair where dlib finds no face on A or B is skipped; a drag whose result has no face found is counted as
  "face lost" and left out of MD (no edit keeps every drag, so it is the same for every block).

JSON on stdout, progress and a Markdown table on stderr. On one CPU thread of a shared 2-core machine the
embedded model took 262 s for 50 pairs at 100 steps and 598 s for 30 pairs at 300 steps (6 drags per pair):

    .venv/bin/python benchmarks/landmarks.py [--pairs 20] [--steps 100] [--blocks 5 4] [--first-seed 0]
                                             [--threads 1] [--device cpu] > landmarks.json
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import torch
from dragd.daemon.device import describe_device, pick_device
from dragd.daemon.engine.drag import DragOptions, DragRun, with_model_defaults
from dragd.daemon.invert.align import find_landmarks, landmarks_available
from dragd.daemon.models.loader import load_generator
from dragd.daemon.models.registry import ModelInfo, find_model
from dragd.daemon.models.stylegan2 import Generator, to_uint8_image

NUM_LANDMARKS = 68
LANDMARK_COUNTS = (1, 5, NUM_LANDMARKS)
PAPER_TABLE_1 = {"no edit": {1: 12.93, 5: 11.66, 68: 16.02}, "DragGAN": {1: 2.44, 5: 3.18, 68: 4.73}}

Detector = Callable[[np.ndarray], "np.ndarray | None"]  # H x W x 3 uint8 -> 68 x 2 (x, y) or None


@dataclass(frozen=True)
class Face:
    seed: int
    ws: torch.Tensor
    landmarks: np.ndarray  # 68 x 2, (x, y) pixels; may lie a little outside the image


# --- the protocol's pieces -----------------------------------------------------------------------------------


def seed_pairs(first_seed: int, pairs: int) -> list[tuple[int, int]]:
    """Disjoint consecutive seeds: (first, first + 1), (first + 2, first + 3), ..."""
    return [(first_seed + 2 * i, first_seed + 2 * i + 1) for i in range(pairs)]


def inside_image(points: np.ndarray, width: int, height: int) -> np.ndarray:
    """Which points lie on a pixel of a width x height image (pixel centres at integers)."""
    x, y = points[:, 0], points[:, 1]
    return (x >= -0.5) & (x <= width - 0.5) & (y >= -0.5) & (y <= height - 0.5)


def pick_landmarks(count: int, source: np.ndarray, target: np.ndarray, width: int, height: int,
                   rng: np.random.Generator) -> np.ndarray:
    """Indices of the landmarks to drag: all of them for 68, else `count` drawn among those visible on both."""
    if count >= len(source):
        return np.arange(len(source))
    visible = np.flatnonzero(inside_image(source, width, height) & inside_image(target, width, height))
    return np.sort(rng.choice(visible, size=min(count, len(visible)), replace=False))


def clamp_to_image(points: np.ndarray, width: int, height: int) -> list[tuple[float, float]]:
    x = np.clip(points[:, 0], 0, width - 1)
    y = np.clip(points[:, 1], 0, height - 1)
    return [(float(a), float(b)) for a, b in zip(x, y, strict=True)]


def mean_distance(points: np.ndarray, targets: np.ndarray, indices: np.ndarray) -> float:
    """MD: the mean Euclidean distance between points[i] and targets[i] over the chosen landmarks."""
    return float(np.linalg.norm(points[indices] - targets[indices], axis=1).mean())


# --- running it ----------------------------------------------------------------------------------------------


def make_face(generator: Generator, seed: int, truncation: float, detect: Detector) -> Face | None:
    ws = generator.ws_for_seed(seed, truncation)
    with torch.no_grad():
        image = to_uint8_image(generator.synthesis(ws))
    landmarks = detect(image)
    return None if landmarks is None else Face(seed, ws, np.asarray(landmarks, dtype=np.float64))


def drag_landmarks(generator: Generator, a: Face, b: Face, indices: np.ndarray, options: DragOptions,
                   detect: Detector) -> dict[str, object]:
    """One drag of A's chosen landmarks to B's; its MD (None when no face is found on the result)."""
    height, width = generator.img_shape
    handles = clamp_to_image(a.landmarks[indices], width, height)
    targets = clamp_to_image(b.landmarks[indices], width, height)
    start = time.perf_counter()
    result = DragRun(generator, a.ws, handles, targets, None, options).run()
    seconds = time.perf_counter() - start
    after = detect(result.image)
    tracked = np.array(result.points)
    return {
        "seeds": [a.seed, b.seed], "count": len(indices), "landmarks": indices.tolist(),
        "no_edit": round(mean_distance(a.landmarks, b.landmarks, indices), 3),
        "md": None if after is None else round(mean_distance(np.asarray(after, np.float64), b.landmarks, indices), 3),
        # Where the engine's own tracking believes the handles ended, against the (clamped) targets.
        "tracked_md": round(float(np.linalg.norm(tracked - np.array(targets), axis=1).mean()), 3),
        "steps": result.steps, "reached": result.reached, "seconds": round(seconds, 3),
        "clamped": int((~inside_image(a.landmarks[indices], width, height)).sum()
                       + (~inside_image(b.landmarks[indices], width, height)).sum()),
    }


def run_benchmark(generator: Generator, info: ModelInfo, pairs: list[tuple[int, int]], blocks: Iterable[int],
                  steps: int, counts: Iterable[int] = LANDMARK_COUNTS, truncation: float = 0.7,
                  step_size: float = 2e-3, detect: Detector = find_landmarks,
                  log: Callable[[str], None] = lambda line: None) -> dict[str, object]:
    """All drags for every pair, block and landmark count; pairs without a face on A or B are skipped."""
    height, width = generator.img_shape
    blocks, counts = list(blocks), list(counts)
    drags: list[dict[str, object]] = []
    skipped: list[list[int]] = []
    for seed_a, seed_b in pairs:
        a = make_face(generator, seed_a, truncation, detect)
        b = make_face(generator, seed_b, truncation, detect) if a is not None else None
        if a is None or b is None:
            skipped.append([seed_a, seed_b])
            log(f"pair {seed_a},{seed_b}: no face found, skipped")
            continue
        # The same landmarks for every block: the blocks then differ only by their features.
        rng = np.random.default_rng([seed_a, seed_b])
        chosen = {count: pick_landmarks(count, a.landmarks, b.landmarks, width, height, rng) for count in counts}
        for block in blocks:
            options = with_model_defaults(DragOptions(step_size=step_size, feature_block=block, max_steps=steps),
                                          info.default_step_size, info.feature_block, info.mask_strength)
            for count in counts:
                record = {"block": block, **drag_landmarks(generator, a, b, chosen[count], options, detect)}
                drags.append(record)
                log(json.dumps({k: v for k, v in record.items() if k != "landmarks"}))
    return {"drags": drags, "skipped_pairs": skipped, "summary": summarise(drags)}


def _mean(values: list[float]) -> float | None:
    return round(float(np.mean(values)), 3) if values else None


def summarise(drags: list[dict[str, object]]) -> list[dict[str, object]]:
    """One row per (block, count): MD over the drags whose result still has a face, no edit over all."""
    rows = []
    for block, count in sorted({(d["block"], d["count"]) for d in drags}, key=lambda k: (-k[0], k[1])):
        group = [d for d in drags if d["block"] == block and d["count"] == count]
        found = [d for d in group if d["md"] is not None]
        rows.append({
            "block": block, "count": count, "drags": len(group), "face_lost": len(group) - len(found),
            "md": _mean([d["md"] for d in found]), "no_edit": _mean([d["no_edit"] for d in group]),
            "tracked_md": _mean([d["tracked_md"] for d in group]),
            "reached": round(sum(bool(d["reached"]) for d in group) / len(group), 3),
            "mean_steps": _mean([d["steps"] for d in group]), "mean_seconds": _mean([d["seconds"] for d in group]),
        })
    return rows


def markdown_table(summary: list[dict[str, object]], block_sizes: dict[int, int]) -> str:
    counts = sorted({row["count"] for row in summary})
    by_key = {(row["block"], row["count"]): row for row in summary}
    blocks = sorted({row["block"] for row in summary}, reverse=True)

    def cells(block: int, field: str) -> list[str]:
        values = [by_key.get((block, c), {}).get(field) for c in counts]
        return ["–" if v is None else f"{v:.2f}" for v in values]

    head = "| method | " + " | ".join(f"MD {c} pt{'s' if c > 1 else ''}" for c in counts)
    head += " | reached | steps | time/drag (s) | face lost |"
    lines = [head, "|---" * (len(counts) + 5) + "|"]
    if blocks:  # the same pairs and landmarks for every block: one no-edit row
        lines.append("| no edit | " + " | ".join(cells(blocks[0], "no_edit")) + " | – | – | – | – |")
    for block in blocks:
        rows = [by_key[(block, c)] for c in counts if (block, c) in by_key]
        reached = " / ".join(f"{r['reached']:.2f}" for r in rows)
        steps = " / ".join(f"{r['mean_steps']:.0f}" for r in rows)
        seconds = " / ".join(f"{r['mean_seconds']:.2f}" for r in rows)
        lost = " / ".join(str(r["face_lost"]) for r in rows)
        lines.append(f"| dragd, block {block} ({block_sizes.get(block, '?')} px) | "
                     + " | ".join(cells(block, "md")) + f" | {reached} | {steps} | {seconds} | {lost} |")
        # Where the engine's tracking believes the handles are: far below MD means the tracking drifted.
        lines.append(f"| (block {block}: tracked handles) | " + " | ".join(cells(block, "tracked_md"))
                     + " | – | – | – | – |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=20)
    parser.add_argument("--steps", type=int, default=100, help="most optimisation steps per drag (paper: 300)")
    parser.add_argument("--blocks", type=int, nargs="+", default=[5, 4], help="feature blocks (0 = 4 px)")
    parser.add_argument("--counts", type=int, nargs="+", default=list(LANDMARK_COUNTS))
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--truncation", type=float, default=0.7)
    parser.add_argument("--step-size", type=float, default=2e-3)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (the machine is shared)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    problems = [(args.pairs < 1, "--pairs must be >= 1"),
                (not 0 <= args.steps <= 100_000, "--steps must be in 0..100000"),
                (any(not 1 <= c <= NUM_LANDMARKS for c in args.counts), "--counts must be in 1..68"),
                (not 0 <= args.first_seed <= 2**32 - 2 * args.pairs, "--first-seed must be in [0, 2**32)"),
                (not 0 <= args.truncation <= 1, "--truncation must be in [0, 1]"),
                (not 0 < args.step_size <= 1, "--step-size must be in (0, 1]"),
                (args.threads < 1, "--threads must be >= 1"),
                (not landmarks_available(), "dlib's landmark model is missing: install dragd[faces]")]
    for bad, message in problems:
        if bad:
            sys.exit(f"landmarks.py: {message}")
    torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    info = find_model(None)
    generator = load_generator(info.path, device)
    if any(not 0 <= b < generator.synthesis.num_blocks for b in args.blocks):
        sys.exit(f"landmarks.py: --blocks must be in 0..{generator.synthesis.num_blocks - 1}")
    block_sizes = {b: generator.cfg.block_resolutions[b] for b in args.blocks}
    start = time.perf_counter()
    results = run_benchmark(generator, info, seed_pairs(args.first_seed, args.pairs), args.blocks, args.steps,
                            args.counts, args.truncation, args.step_size,
                            log=lambda line: print(line, file=sys.stderr, flush=True))
    total = time.perf_counter() - start
    report = {"model": info.name, "resolution": list(generator.img_shape), "device": describe_device(device),
              "torch": torch.__version__, "threads": torch.get_num_threads(), "machine": platform.machine(),
              "pairs": args.pairs, "first_seed": args.first_seed, "steps": args.steps,
              "truncation": args.truncation, "step_size": args.step_size, "block_sizes": block_sizes,
              "total_seconds": round(total, 1), "paper_table_1_512px": PAPER_TABLE_1, **results}
    print(json.dumps(report, indent=1))
    print(f"\n{info.name}, {len(args.blocks) * len(args.counts)} drags per pair, "
          f"{args.pairs - len(results['skipped_pairs'])}/{args.pairs} pairs (seeds {args.first_seed}.."
          f"{args.first_seed + 2 * args.pairs - 1}), up to {args.steps} steps, {total:.0f} s in all\n", file=sys.stderr)
    print(markdown_table(results["summary"], block_sizes), file=sys.stderr)


if __name__ == "__main__":
    main()
