"""Keyed handle/target pairs that change while a drag runs (live drags; SPEC.md, "Live drags").

A pair is named by its key. An update is the full new list of (key, handle, target): a key the run knows keeps
its tracked handle and its reference feature (the handle given is ignored), a new key starts at its handle
and reads its reference feature at the step that applies it, a key left out is dropped. Updates arrive on any
thread; the worker takes the latest one at the start of a step (`DragRun._apply_pairs`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import torch

from .errors import DragInputError
from .points import Point

PairKey = str | int  # default: the pair's index in the drag request
PairSpec = tuple[PairKey, Point | None, Point]  # key, handle (None: a known key's tracked one), target


def key_id(key: PairKey) -> tuple[type, PairKey]:
    """A key's identity: the string "1" and the integer 1 are different keys."""
    return type(key), key


class PairMailbox:
    """The latest pair update of one run, checked on arrival. Callers hold `lock` around every method."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._pending: tuple[list[PairSpec], int] | None = None

    def put(self, pairs: list[PairSpec], revision: int, known: list[PairKey],
            check_point: Callable[[Point], None]) -> None:
        """Replaces the waiting update with `pairs`. `known`: the run's keys now; a new key may leave out its
        handle only if the update it replaces gave one. Raises DragInputError (from `check_point` too) and keeps
        the waiting update when a pair is unusable."""
        if not pairs:
            raise DragInputError("need at least one pair")
        if len({key_id(key) for key, _, _ in pairs}) != len(pairs):
            raise DragInputError("every pair needs its own key")
        known_ids = set(map(key_id, known))
        waiting = {} if self._pending is None else {key_id(k): h for k, h, _ in self._pending[0]}
        checked: list[PairSpec] = []
        for key, handle, target in pairs:
            if key_id(key) in known_ids:
                handle = None
            else:
                handle = handle if handle is not None else waiting.get(key_id(key))
                if handle is None:
                    raise DragInputError(f"pair {key!r} is new and needs a handle")
                check_point(handle)
            check_point(target)
            checked.append((key, handle, (float(target[0]), float(target[1]))))
        self._pending = (checked, revision)

    def attach(self, revision: int) -> bool:
        """Gives the waiting update a newer revision (one that changes no pairs); False when none waits."""
        if self._pending is None:
            return False
        self._pending = (self._pending[0], revision)
        return True

    def take(self) -> tuple[list[PairSpec], int] | None:
        pending, self._pending = self._pending, None
        return pending


def rearranged(pairs: list[PairSpec], keys: list[PairKey], points: list[Point], fresh: list[int],
               references: torch.Tensor | None, to_pixel: Callable[[Point], Point]
               ) -> tuple[list[PairKey], list[Point], list[Point], list[int], torch.Tensor | None]:
    """The run's (keys, points, targets, fresh, references) after an update. `fresh`: indices whose reference
    is read at the next step (their columns of `references` hold zeros until then); `references`: [C, N]."""
    index = {key_id(key): i for i, key in enumerate(keys)}
    was_fresh = set(fresh)
    new_keys: list[PairKey] = []
    new_points: list[Point] = []
    targets: list[Point] = []
    new_fresh: list[int] = []
    columns: list[torch.Tensor | None] = []
    for key, handle, target in pairs:
        i = index.get(key_id(key))
        if i is None or i in was_fresh or references is None:  # its reference is read at the next step
            new_fresh.append(len(new_keys))
            new_points.append(points[i] if i is not None else to_pixel(handle))  # type: ignore[arg-type]
            columns.append(None)
        else:
            new_points.append(points[i])
            columns.append(references[:, i])
        new_keys.append(key)
        targets.append(target)
    if references is not None:
        blank = torch.zeros_like(references[:, 0])
        references = torch.stack([blank if column is None else column for column in columns], dim=1)
    return new_keys, new_points, targets, new_fresh, references
