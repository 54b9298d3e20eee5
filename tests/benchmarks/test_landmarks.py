"""The landmark benchmark's pieces: seed pairing, landmark choice, MD, the per-pair flow and the summary.

The benchmark itself (minutes, needs dlib) is not run here: a stand-in detector replaces dlib and a tiny
random generator replaces the face model.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from dragd.daemon.models.registry import ModelInfo

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "landmarks.py"


def _load():
    spec = importlib.util.spec_from_file_location("landmarks_benchmark", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


landmarks = _load()


def test_seed_pairs_are_disjoint_and_consecutive():
    pairs = landmarks.seed_pairs(10, 3)
    assert pairs == [(10, 11), (12, 13), (14, 15)]
    seeds = [s for pair in pairs for s in pair]
    assert len(set(seeds)) == len(seeds)


def test_mean_distance_over_chosen_landmarks_only():
    points = np.array([[0.0, 0.0], [10.0, 10.0], [5.0, 5.0]])
    targets = np.array([[3.0, 4.0], [10.0, 10.0], [100.0, 100.0]])
    assert landmarks.mean_distance(points, targets, np.array([0, 1])) == pytest.approx(2.5)  # (5 + 0) / 2
    assert landmarks.mean_distance(points, targets, np.array([0])) == pytest.approx(5.0)


def test_pick_landmarks_draws_distinct_visible_points_reproducibly():
    rng_points = np.random.default_rng(0)
    source = rng_points.uniform(0, 31, size=(68, 2))
    target = rng_points.uniform(0, 31, size=(68, 2))
    source[:30, 1] = 40.0  # outside a 32 x 32 image on A
    target[30:60, 0] = -3.0  # outside on B
    visible = set(range(60, 68))
    for count in (1, 5):
        picked = landmarks.pick_landmarks(count, source, target, 32, 32, np.random.default_rng(7))
        again = landmarks.pick_landmarks(count, source, target, 32, 32, np.random.default_rng(7))
        assert len(picked) == count == len(set(picked.tolist()))
        assert set(picked.tolist()) <= visible
        assert picked.tolist() == again.tolist()
    # All 68: every landmark, visible or not (the drag clamps them into the image).
    assert landmarks.pick_landmarks(68, source, target, 32, 32, np.random.default_rng(7)).tolist() == list(range(68))


def test_clamp_keeps_points_on_the_image():
    points = np.array([[-2.0, 5.0], [40.0, 31.5], [3.0, 4.0]])
    assert landmarks.clamp_to_image(points, 32, 32) == [(0.0, 5.0), (31.0, 31.0), (3.0, 4.0)]


class FakeDetector:
    """Stands in for dlib: known landmarks for the two faces of a pair, the targets' on any other image,
    and no face on the images listed in `faceless` (A, B or 'result')."""

    def __init__(self, generator, seed_a, seed_b, faceless=()):
        import torch
        from dragd.daemon.models.stylegan2 import to_uint8_image

        rng = np.random.default_rng(1)
        self.by_image = {}
        for name, seed in (("A", seed_a), ("B", seed_b)):
            with torch.no_grad():
                image = to_uint8_image(generator.synthesis(generator.ws_for_seed(seed)))
            self.by_image[image.tobytes()] = name
        self.marks = {"A": rng.uniform(4, 27, (68, 2)).round(), "B": rng.uniform(4, 27, (68, 2)).round()}
        self.faceless = set(faceless)
        self.calls = []

    def __call__(self, image):
        name = self.by_image.get(image.tobytes(), "result")
        self.calls.append(name)
        if name in self.faceless:
            return None
        return self.marks["B"] + 1.0 if name == "result" else self.marks[name]


def _info():
    return ModelInfo("tiny", Path("tiny.safetensors"), domain="faces", default_step_size=2e-3)


def test_run_benchmark_drags_a_to_b_on_every_block_with_the_same_landmarks(tiny_generator):
    detect = FakeDetector(tiny_generator, 0, 1)
    out = landmarks.run_benchmark(tiny_generator, _info(), [(0, 1)], blocks=[3, 2], steps=2, counts=(1, 5, 68),
                                  detect=detect)
    drags = out["drags"]
    assert out["skipped_pairs"] == []
    assert [(d["block"], d["count"]) for d in drags] == [(3, 1), (3, 5), (3, 68), (2, 1), (2, 5), (2, 68)]
    for block_3, block_2 in zip(drags[:3], drags[3:], strict=True):
        assert block_3["landmarks"] == block_2["landmarks"]  # the blocks compare on the same points
    a, b = detect.marks["A"], detect.marks["B"]
    for d in drags:
        idx = np.array(d["landmarks"])
        assert d["seeds"] == [0, 1]
        assert d["no_edit"] == pytest.approx(np.linalg.norm(a[idx] - b[idx], axis=1).mean(), abs=1e-3)
        assert d["md"] == pytest.approx(np.sqrt(2.0), abs=1e-3)  # the stand-in puts the result 1 px off in x and y
        assert d["steps"] <= 2 and d["seconds"] >= 0
    rows = out["summary"]
    assert [(r["block"], r["count"]) for r in rows] == [(3, 1), (3, 5), (3, 68), (2, 1), (2, 5), (2, 68)]
    assert all(r["drags"] == 1 and r["face_lost"] == 0 for r in rows)


@pytest.mark.parametrize("faceless", ["A", "B"])
def test_pair_without_a_face_is_skipped_and_counted(tiny_generator, faceless):
    detect = FakeDetector(tiny_generator, 0, 1, faceless={faceless})
    out = landmarks.run_benchmark(tiny_generator, _info(), [(0, 1)], blocks=[3], steps=1, detect=detect)
    assert out["skipped_pairs"] == [[0, 1]]
    assert out["drags"] == [] and out["summary"] == []


def test_lost_face_after_the_drag_is_counted_and_left_out_of_md(tiny_generator):
    detect = FakeDetector(tiny_generator, 0, 1, faceless={"result"})
    out = landmarks.run_benchmark(tiny_generator, _info(), [(0, 1)], blocks=[3], steps=1, counts=(5,),
                                  detect=detect)
    (row,) = out["summary"]
    assert out["drags"][0]["md"] is None
    assert row["face_lost"] == 1 and row["md"] is None and row["no_edit"] is not None


def test_summary_averages_per_block_and_count_and_table_shows_them():
    def drag(block, count, md, no_edit, reached, steps):
        return {"block": block, "count": count, "md": md, "no_edit": no_edit, "tracked_md": 1.0,
                "reached": reached, "steps": steps, "seconds": 0.5}

    drags = [drag(4, 1, 1.0, 3.0, True, 10), drag(4, 1, 2.0, 5.0, False, 100), drag(4, 1, None, 7.0, False, 100),
             drag(5, 1, 4.0, 3.0, False, 100)]
    rows = landmarks.summarise(drags)
    assert [(r["block"], r["count"]) for r in rows] == [(5, 1), (4, 1)]  # the paper's block first
    block4 = rows[1]
    assert block4["drags"] == 3 and block4["face_lost"] == 1
    assert block4["md"] == pytest.approx(1.5)  # over the results with a face
    assert block4["no_edit"] == pytest.approx(5.0)  # over all drags
    assert block4["reached"] == pytest.approx(1 / 3, abs=1e-3)
    assert block4["mean_steps"] == pytest.approx(70.0)
    table = landmarks.markdown_table(rows, {4: 64, 5: 128})
    assert "| dragd, block 4 (64 px) | 1.50 |" in table
    assert "| dragd, block 5 (128 px) | 4.00 |" in table
    assert "| no edit | 3.00 |" in table  # no edit of the first block shown (5 here)
    assert "| (block 4: tracked handles) | 1.00 |" in table
