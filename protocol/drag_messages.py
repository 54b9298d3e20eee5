"""The messages of a drag, plain and live (SPEC.md: "drag", "Live drags", "live_update"). Every name here is
also a name of protocol/messages.py, which lists them with all the other messages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .fields import COUNT, MASK, OFFSET, RGBA, SEQ, PairKey, Point, RequestId
from .images import Image
from .limits import LIVE_TIMEOUT_MAX_S, MASK_STRENGTH_MAX, STEP_SIZE_MAX, Limits
from .wire import (
    ID,
    KEY,
    POINT,
    SESSION,
    array,
    bad,
    boolean,
    integer,
    nested,
    number,
    one_of,
    optional,
    shorten,
    wire,
)


def _unique_keys(keys: list[PairKey], path: str) -> None:
    seen: set[tuple[type, PairKey]] = set()
    for index, key in enumerate(keys):
        if (type(key), key) in seen:
            raise bad(f"{path}[{index}].key", f"key {shorten(repr(key))} is used by two pairs")
        seen.add((type(key), key))


@dataclass(frozen=True)
class PointPair:
    """Drag the content at `handle` to `target`. `key` names the pair in a live drag's updates; None: its index."""

    handle: Point = wire(POINT)
    target: Point = wire(POINT)
    key: PairKey | None = wire(optional(KEY), None, sparse=True)


def pair_keys(points: tuple[PointPair, ...]) -> list[PairKey]:
    """The key of every pair: its own, else its index in the request."""
    return [index if pair.key is None else pair.key for index, pair in enumerate(points)]


@dataclass(frozen=True)
class LivePoint:
    """One pair of a `live_update`: a known `key` keeps its tracked handle (its `handle` is ignored); a new key
    needs `handle`."""

    key: PairKey = wire(KEY)
    target: Point = wire(POINT)
    handle: Point | None = wire(optional(POINT), None, sparse=True)


@dataclass(frozen=True)
class DragOptions:
    """How a drag runs. None means: the daemon's default for this model (as the paper and its code do)."""

    step_size: float | None = wire(optional(number(0, STEP_SIZE_MAX, lo_open=True)), None)  # Adam lr; model default
    max_steps: int = wire(integer(1, limit="max_steps"), 300)
    latent_space: str = wire(one_of("w+", "w"), "w+")
    mask_strength: float | None = wire(optional(number(0, MASK_STRENGTH_MAX)), None)  # lambda of the mask term
    feature_block: int | None = wire(optional(integer(0, 31)), None)  # 0-based block; None: the paper's 6th
    r1: float | None = wire(optional(number(0, 4096, lo_open=True)), None)  # motion supervision radius, px
    r2: float | None = wire(optional(number(0, 4096, lo_open=True)), None)  # tracking search half-size, px
    stop_distance: float | None = wire(optional(number(0, 1e6)), None)  # px; None: 1 for <= 5 handles, else 2
    preview_every: int = wire(integer(0, 2**31), 0)  # send an image every N steps; 0: none (live: adaptive)
    live: bool = wire(boolean, False, sparse=True)  # a live drag: takes `live_update`s, idles at its targets
    # live: end ("timeout") after this long without new points; None: limits.DEFAULT_LIVE_TIMEOUT_S
    live_timeout_s: float | None = wire(optional(number(0, LIVE_TIMEOUT_MAX_S, lo_open=True)), None, sparse=True)


@dataclass(frozen=True)
class DragRequest:
    TYPE: ClassVar[str] = "drag"
    session: str = wire(SESSION)
    points: tuple[PointPair, ...] = wire(array(nested(PointPair), min_length=1, limit="max_points"))
    mask: Image | None = wire(optional(MASK), None)  # session-frame size; non-zero: allowed to move
    options: DragOptions = wire(nested(DragOptions), DragOptions())

    def cross_check(self, path: str, limits: Limits) -> None:
        _unique_keys(pair_keys(self.points), f"{path}.points")


@dataclass(frozen=True)
class LiveUpdateRequest:
    """New targets for a running live drag of this connection, an acknowledgement of its progress, a commit."""

    TYPE: ClassVar[str] = "live_update"
    target: RequestId = wire(ID)  # the live drag's request id
    # counts the updates that change points: strictly increasing per live drag, required with `points`
    revision: int | None = wire(optional(SEQ), None)
    points: tuple[LivePoint, ...] | None = wire(optional(array(nested(LivePoint), min_length=1,
                                                                limit="max_points")), None)  # None: unchanged
    seen: int | None = wire(optional(integer(0, 2**53)), None)  # acknowledges live progress up to this seq
    commit: bool = wire(boolean, False)  # end the drag, keeping its state as one new history state

    def cross_check(self, path: str, limits: Limits) -> None:
        if self.points is not None:
            if self.revision is None:
                raise bad(f"{path}.revision", "new points need a revision")
            _unique_keys([point.key for point in self.points], f"{path}.points")


@dataclass(frozen=True)
class DragResult:
    steps: int = wire(COUNT)  # optimisation steps this drag ran
    points: tuple[Point, ...] = wire(array(POINT, limit="max_points"))  # final handle positions, request order
    reached: bool = wire(boolean)  # every handle within stop_distance of its target
    # live drags also end "committed" (live_update commit) or "timeout" (no live_update for live_timeout_s)
    stopped: str = wire(one_of("reached", "max_steps", "cancelled", "committed", "timeout"))
    image: Image = wire(RGBA)  # the edited part of the session frame, placed at `offset`
    offset: tuple[int, int] = wire(OFFSET)
    history_index: int = wire(COUNT)  # of the new state (the session's first image is 0)
    keys: tuple[PairKey, ...] | None = wire(optional(array(KEY, limit="max_points")), None, sparse=True)  # live

    def cross_check(self, path: str, limits: Limits) -> None:
        if self.keys is not None and len(self.keys) != len(self.points):
            raise bad(path, f"{len(self.keys)} keys for {len(self.points)} points")


@dataclass(frozen=True)
class LiveUpdateResult:
    revision: int = wire(integer(0, 2**53))  # the highest revision accepted
    idle: bool = wire(boolean)  # the drag is idle (at its targets, or max_steps spent on them)


@dataclass(frozen=True)
class DragProgress:
    step: int = wire(COUNT)  # steps done so far (from 1; a live drag idle before its first step: 0)
    points: tuple[Point, ...] = wire(array(POINT, limit="max_points"))  # tracked handle positions now
    loss: float = wire(number())
    image: Image | None = wire(optional(RGBA), None)  # a preview, every options.preview_every steps
    offset: tuple[int, int] | None = wire(optional(OFFSET), None)  # where the preview goes
    # Live drags only (all four or none): the pairs' keys in `points` order, the highest update revision the
    # state shown reflects (0: the drag's own points), this job's progress number (1, 2, ...), and whether the
    # drag is idle (no steps until something new arrives).
    keys: tuple[PairKey, ...] | None = wire(optional(array(KEY, limit="max_points")), None, sparse=True)
    revision: int | None = wire(optional(integer(0, 2**53)), None, sparse=True)
    seq: int | None = wire(optional(SEQ), None, sparse=True)
    idle: bool | None = wire(optional(boolean), None, sparse=True)

    def cross_check(self, path: str, limits: Limits) -> None:
        if (self.image is None) != (self.offset is None):
            raise bad(path, "a preview needs both image and offset")
        live = [self.keys is None, self.revision is None, self.seq is None, self.idle is None]
        if any(live) and not all(live):
            raise bad(path, "a live progress has keys, revision, seq and idle together")
        if self.keys is not None and len(self.keys) != len(self.points):
            raise bad(path, f"{len(self.keys)} keys for {len(self.points)} points")

    @property
    def live(self) -> bool:
        return self.seq is not None
