"""A drag that follows its targets while they move (live drags; SPEC.md, "Live drags").

`LiveLoop` drives a `DragRun` one step at a time: the run's pairs may change between steps (`DragRun.set_pairs`,
from any thread); the loop steps while a handle is farther than the stop distance from its target and fewer than
`max_steps` steps were spent on the current targets, and is then *idle*: it takes no step (its caller parks it)
until new pairs arrive. `finish` turns the current state into a `DragResult` as a finished drag's.

What a frame shows: `revision` is that of the pairs whose optimisation step produced the latent shown (an update is
reflected once a step was taken with it; an idle frame reflects the pairs it is idle at), so an editor can tell
from it how far behind the artist the preview is.

`PreviewBudget` keeps rendering (and what the caller does with the image: paste-back, encoding) within a share
of the wall time: previews come as often as the step time allows.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .drag import DragResult, DragRun, PairKey, Point

RENDER_SHARE = 0.5  # the most of the wall time that preview rendering may take
_SMOOTHING = 0.3  # weight of the newest measurement in the running render cost


@dataclass
class LiveFrame:
    """One iteration of a live drag: the tracked handles of the latent shown and, when rendered, its image."""

    steps: int  # optimisation steps taken so far (all targets together)
    keys: list[PairKey]
    points: list[Point]  # tracked handles, in `keys` order
    distances: list[float]  # to the current targets
    loss: float  # of the last step (0 before the first)
    revision: int  # of the pairs the latent shown was optimised for (see the module docstring)
    idle: bool
    image: np.ndarray | None = None  # H x W x C uint8
    render_s: float = 0.0  # what rendering `image` took (0: not rendered for this frame)


class LiveLoop:
    """Steps a DragRun live. Worker thread only, except `wake` (an Event any thread may set: something new)."""

    def __init__(self, run: DragRun, max_steps: int) -> None:
        """`max_steps`: the most steps spent on one set of targets (every pair update restarts the count)."""
        self.run = run
        self.max_steps = max_steps
        self.steps = 0
        self.steps_on_targets = 0
        self.loss = 0.0
        self.idle = False
        self.reached = False
        self.wake = threading.Event()
        self.step_s = 0.0  # running estimate of one step (observe + optimise), seconds
        self._updates_seen = run.pair_updates
        self._latent_revision = 0  # of the pairs the last optimisation step used
        self._idle_image: np.ndarray | None = None  # rendered when it turned idle; the latent has not moved since

    def advance(self, want_image: bool) -> LiveFrame:
        """One iteration: take new pairs, track the handles; then either turn (or stay) idle, rendering the image,
        or take one optimisation step, rendering the latent it started from when `want_image`."""
        run = self.run
        self.wake.clear()
        began = time.perf_counter()
        ws, feat, state = run.observe()
        if run.pair_updates != self._updates_seen:
            self._updates_seen = run.pair_updates
            self.steps_on_targets = 0
        distances = run.distances()
        self.reached = run.reached(distances)
        keys, points = list(run.keys), list(run.points)
        if self.reached or self.steps_on_targets >= self.max_steps:
            started, render_s = time.perf_counter(), 0.0
            if not self.idle or self._idle_image is None:
                self._idle_image = run.render(ws, state)
                render_s = time.perf_counter() - started
            self.idle = True
            return LiveFrame(self.steps, keys, points, distances, self.loss, run.revision, True, self._idle_image,
                             render_s)
        self.idle = False
        self._idle_image = None
        shown = self._latent_revision
        self.loss, _ = run.optimise(ws, feat, state, False)
        took = time.perf_counter() - began
        self.step_s = took if self.step_s == 0 else (1 - _SMOOTHING) * self.step_s + _SMOOTHING * took
        image, render_s = None, 0.0
        if want_image:  # the latent the handles were tracked on; optimise made a new one and left `ws` as it was
            started = time.perf_counter()
            image = run.render(ws, state)
            render_s = time.perf_counter() - started
        self._latent_revision = run.revision
        self.steps += 1
        self.steps_on_targets += 1
        return LiveFrame(self.steps, keys, points, distances, self.loss, shown, False, image, render_s)

    @property
    def next_revision(self) -> int:
        """The revision the next stepping frame will show (the pairs the last step optimised for)."""
        return self._latent_revision

    def finish(self, stopped: str) -> DragResult:
        """The current state as a finished drag's result (`stopped`: why it ended). Tracks the handles on the
        latest latent unless the loop is idle (then nothing moved since)."""
        run = self.run
        if self.idle and self._idle_image is not None:
            ws, image = run.current_ws(), self._idle_image
        else:
            ws, _, state = run.observe()
            image = run.render(ws, state)
            self.reached = run.reached(run.distances())
        return DragResult(ws.detach().clone(), list(run.points), image, self.steps, self.reached, stopped)


class PreviewBudget:
    """When a preview is due, so that rendering takes about `share` of the wall time: after a preview that cost
    c seconds, the next one is due c * (1 - share) / share seconds after it ended, rounded to the nearest step
    (a step that would end past the due time by less than half its length may render: else a step a little
    shorter than a render would halve the preview rate)."""

    rounding = True  # round the due time to the nearest step (False: the plain rule, for benchmarks/live.py)

    def __init__(self, share: float = RENDER_SHARE, clock: Callable[[], float] = time.monotonic) -> None:
        if not 0 < share <= 1:
            raise ValueError("share must be in (0, 1]")
        self.share = share
        self.clock = clock
        self.cost = 0.0  # running estimate of one preview's cost, seconds
        self._ended = -float("inf")

    def due(self, step_s: float = 0.0) -> bool:
        """`step_s`: how long a step takes (0: no rounding)."""
        ahead = step_s / 2 if self.rounding else 0.0
        return self.clock() - self._ended + ahead >= self.cost * (1 - self.share) / self.share

    def spent(self, seconds: float) -> None:
        """A preview was made (rendered, pasted, encoded) in `seconds`, ending now."""
        self.cost = seconds if self.cost == 0 else (1 - _SMOOTHING) * self.cost + _SMOOTHING * seconds
        self._ended = self.clock()
