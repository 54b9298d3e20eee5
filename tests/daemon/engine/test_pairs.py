"""Pairs that change while a drag runs (daemon/engine/pairs.py through DragRun.set_pairs)."""

from __future__ import annotations

import pytest
import torch
from dragd.daemon.engine.drag import DragInputError, DragOptions, DragRun


def make_run(generator, handles, targets, keys=None, **options):
    options = {"step_size": 0.02, "max_steps": 200, **options}
    return DragRun(generator, generator.ws_for_seed(0), handles, targets, None, DragOptions(**options), keys)


def take_steps(run, count):
    for _ in range(count):
        ws, feat, state = run.observe()
        run.optimise(ws, feat, state, False)


def test_known_keys_keep_their_tracked_handle_and_reference(tiny_generator):
    run = make_run(tiny_generator, [(12, 16), (5, 5)], [(19, 16), (5, 5)], keys=["a", "pin"])
    take_steps(run, 5)
    moved, reference = run.points[0], run.references[:, 0].clone()
    assert moved != (12.0, 16.0)
    run.set_pairs([("a", (0, 0), (12, 16))], revision=4)  # the handle given for a known key is ignored
    assert run.keys == ["a", "pin"] and run.revision == 0  # nothing changes before the next step
    run.observe()
    assert run.keys == ["a"] and run.targets == [(12.0, 16.0)] and run.revision == 4 and run.pair_updates == 1
    # tracked on from where it was (within its search square), not reset to (0, 0)
    assert max(abs(run.points[0][0] - moved[0]), abs(run.points[0][1] - moved[1])) <= run.r2
    assert torch.equal(run.references[:, 0], reference)


def test_a_new_key_reads_its_reference_from_the_current_features(tiny_generator):
    run = make_run(tiny_generator, [(12, 16)], [(19, 16)], keys=["a"])
    take_steps(run, 3)
    run.set_pairs([("a", None, (19, 16)), ("b", (20, 8), (24, 8))], revision=1)
    ws, feat, _ = run.observe()
    assert run.keys == ["a", "b"] and run.points[1] == (20.0, 8.0)
    full = make_run(tiny_generator, [(20, 8)], [(24, 8)], compute="full")
    full.offset.data.copy_(run.offset.data)
    full.observe()  # a fresh run at the same latent reads the same feature there
    assert torch.allclose(run.references[:, 1], full.references[:, 0], atol=1e-5)


def test_windowed_and_full_follow_the_same_updates(tiny_generator):
    runs = {mode: make_run(tiny_generator, [(12, 16)], [(19, 16)], keys=["a"], compute=mode)
            for mode in ("windowed", "full")}
    assert runs["windowed"].first_windowed is not None and runs["full"].first_windowed is None
    trajectories = {}
    for mode, run in runs.items():
        take_steps(run, 4)
        run.set_pairs([("a", None, (16, 22)), ("b", (6, 6), (9, 9))], revision=1)
        take_steps(run, 4)
        run.set_pairs([("b", None, (10, 9))], revision=2)
        take_steps(run, 4)
        trajectories[mode] = (list(run.points), run.keys)
    assert trajectories["windowed"] == trajectories["full"]
    assert torch.allclose(runs["windowed"].offset, runs["full"].offset, atol=1e-4)


def test_the_latest_update_wins_and_a_pending_new_key_keeps_its_handle(tiny_generator):
    run = make_run(tiny_generator, [(12, 16)], [(19, 16)], keys=["a"])
    run.observe()
    run.set_pairs([("a", None, (19, 16)), ("b", (20, 8), (24, 8))], revision=1)
    run.set_pairs([("b", None, (25, 8))], revision=2)  # "b" is still new: its handle comes from revision 1
    run.note_revision(3)  # an update without pairs rides with the waiting one
    run.observe()
    assert run.keys == ["b"] and run.points == [(20.0, 8.0)] and run.targets == [(25.0, 8.0)]
    assert run.revision == 3 and run.pair_updates == 1
    run.note_revision(4)
    assert run.revision == 4


@pytest.mark.parametrize(("pairs", "message"), [
    ([], "at least one pair"),
    ([("a", None, (1, 1)), ("a", None, (2, 2))], "own key"),
    ([("new", None, (1, 1))], "needs a handle"),
    ([("a", None, (40, 1))], "outside"),
    ([("new", (-3, 1), (1, 1))], "outside"),
    ([("a", None, (float("nan"), 1))], "finite"),
])
def test_bad_updates_are_refused_and_the_drag_carries_on(tiny_generator, pairs, message):
    run = make_run(tiny_generator, [(12, 16)], [(19, 16)], keys=["a"])
    run.set_pairs([("a", None, (18, 16))], revision=1)
    with pytest.raises(DragInputError, match=message):
        run.set_pairs(pairs, revision=2)
    run.observe()
    assert run.targets == [(18.0, 16.0)] and run.revision == 1  # the earlier update still applies


def test_keys_are_unique_and_one_per_pair(tiny_generator):
    with pytest.raises(DragInputError):
        make_run(tiny_generator, [(1, 1), (2, 2)], [(3, 3), (4, 4)], keys=["a", "a"])
    with pytest.raises(DragInputError):
        make_run(tiny_generator, [(1, 1)], [(3, 3)], keys=["a", "b"])
    assert make_run(tiny_generator, [(1, 1), (2, 2)], [(3, 3), (4, 4)], keys=["1", 1]).keys == ["1", 1]
