"""The live-drag preview's point handling, in plain Python (no Gtk, no GIMP): tested without either.

The "DragGAN drag..." dialog (`live_dialog.py`) shows the layer, scaled into a drawing area, with every
handle -> target pair drawn on it. This module decides what the pointer and the keys do there:

- `ViewTransform`: view (widget pixels) <-> layer coordinates, for a zoom and a pan (offset). Layer
  coordinates here are the editor's: (0, 0) is the top-left corner of the top-left pixel (GIMP's path anchors,
  less the layer's offsets); `protocol.editor.corner_to_centre` turns them into the protocol's.
- `LivePoints`: the pairs and the gesture on them. A press near a target (or a handle) grabs the nearest one
  within `HIT_RADIUS_PX` view pixels (targets win ties: a target sitting on its handle moves the target);
  motion moves it (clamped onto the layer), release drops it, Escape puts it back. A grabbed target is sent
  while it moves (throttled); a grabbed handle is sent on release only, as a new pair (the daemon keeps a known
  pair's tracked handle, so a moved handle is a new key whose feature is read where it was dropped). Ctrl+press
  on an empty spot adds a pair there and grabs its target; a right press (or Delete over a point) removes a
  pair, never the last one. The middle button pans, the wheel and +, -, 0 zoom.
- `paint_points`: draws the pairs over the view's RGBA pixels (the dialog shows a pixbuf: no cairo needed,
  which GIMP's Python does not always have).
- `UpdateThrottle`: coalesces the moves into updates: at most one per `UPDATE_INTERVAL_S` while a target is
  being moved, and the newest points always go out when it is dropped; nothing is sent twice.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

Point = tuple[float, float]

HIT_RADIUS_PX = 10.0  # view pixels: how close to a point a press must be to grab it
UPDATE_INTERVAL_S = 0.05  # seconds between updates while a target moves: ~20 a second, a frame or two
ZOOM_STEP = 1.25  # one wheel notch or + / -
ZOOM_RANGE = (0.05, 32.0)  # view pixels per layer pixel
HANDLE, TARGET = "handle", "target"
HANDLE_RGB, TARGET_RGB, LINE_RGB, OUTLINE_RGB = (235, 50, 50), (40, 110, 255), (255, 255, 255), (0, 0, 0)
DOT_RADIUS_PX = 5  # view pixels; a grabbed point is drawn larger by GRABBED_EXTRA_PX
GRABBED_EXTRA_PX = 3


@dataclass(frozen=True)
class ViewTransform:
    """Layer (corner-origin) -> view: `view = offset + scale * layer`. `scale` is view pixels per layer pixel."""

    scale: float
    offset: Point

    @classmethod
    def fit(cls, layer: tuple[int, int], view: tuple[int, int], margin: float = 0.0) -> ViewTransform:
        """The whole layer, as large as fits in `view` (width, height) less `margin` on each side, centred."""
        usable = (max(view[0] - 2 * margin, 1.0), max(view[1] - 2 * margin, 1.0))
        scale = _clamp(min(usable[0] / max(layer[0], 1), usable[1] / max(layer[1], 1)), *ZOOM_RANGE)
        return cls(scale, ((view[0] - scale * layer[0]) / 2, (view[1] - scale * layer[1]) / 2))

    def to_view(self, point: Point) -> Point:
        return self.offset[0] + self.scale * point[0], self.offset[1] + self.scale * point[1]

    def to_layer(self, point: Point) -> Point:
        return (point[0] - self.offset[0]) / self.scale, (point[1] - self.offset[1]) / self.scale

    def zoomed(self, factor: float, about: Point) -> ViewTransform:
        """Zoomed by `factor` (within ZOOM_RANGE) keeping the layer point under the view point `about` still."""
        scale = _clamp(self.scale * factor, *ZOOM_RANGE)
        fixed = self.to_layer(about)
        return ViewTransform(scale, (about[0] - scale * fixed[0], about[1] - scale * fixed[1]))

    def panned(self, dx: float, dy: float) -> ViewTransform:
        return ViewTransform(self.scale, (self.offset[0] + dx, self.offset[1] + dy))


@dataclass(frozen=True)
class LivePair:
    """One handle -> target pair in layer coordinates; `key` names it to the daemon (protocol `points[i].key`)."""

    key: int
    handle: Point
    target: Point


@dataclass(frozen=True)
class Hit:
    key: int
    role: str  # HANDLE or TARGET


@dataclass
class _Grab:
    hit: Hit
    before: LivePair  # for Escape
    added: bool = False  # a pair this gesture created (Escape removes it again)


class LivePoints:
    """The pairs the artist edits in the preview, and the gesture on them (see the module docstring).

    `revision` counts the edits the daemon must hear about (targets moved, pairs added or removed): the
    dialog sends `wire()` when `UpdateThrottle` says so and remembers the revision it sent. `movable(point)`
    says whether a handle may sit at a layer point (inside the selection); a refused one is explained in
    `message`.
    """

    def __init__(self, pairs: Sequence[LivePair], width: int, height: int, max_points: int,
                 movable: Callable[[Point], bool] = lambda point: True) -> None:
        if not pairs:
            raise ValueError("a live drag needs at least one pair")
        self.pairs = list(pairs)
        self.width, self.height, self.max_points = width, height, max_points
        self.movable = movable
        self.revision = 0
        self.message = ""  # the last refusal, for the dialog's status line; "" when there is none
        self._grab: _Grab | None = None
        self._pan_from: Point | None = None
        self._next_key = max(pair.key for pair in pairs) + 1

    # ---- what the dialog reads ----

    @property
    def dragging(self) -> str | None:
        """HANDLE or TARGET while one is grabbed, else None."""
        return self._grab.hit.role if self._grab else None

    @property
    def grabbed(self) -> Hit | None:
        return self._grab.hit if self._grab else None

    def pair(self, key: int) -> LivePair:
        return next(pair for pair in self.pairs if pair.key == key)

    def wire(self) -> list[tuple[int, Point, Point]]:
        """(key, handle, target) per pair in layer coordinates, for `live_update`. A handle being dragged is
        left where it was tracked: it is sent as a new pair when dropped."""
        held = self._grab.before if self._grab and self._grab.hit.role == HANDLE else None
        return [(p.key, p.handle, p.target) if held is None or p.key != held.key
                else (held.key, held.handle, held.target) for p in self.pairs]

    def hit(self, view: Point, transform: ViewTransform, radius: float = HIT_RADIUS_PX) -> Hit | None:
        """The point nearest to `view` within `radius` view pixels; a target wins a tie with a handle."""
        best: tuple[float, int, Hit] | None = None
        for pair in self.pairs:
            for rank, role, point in ((0, TARGET, pair.target), (1, HANDLE, pair.handle)):
                x, y = transform.to_view(point)
                distance = math.hypot(x - view[0], y - view[1])
                if distance <= radius and (best is None or (distance, rank) < best[:2]):
                    best = (distance, rank, Hit(pair.key, role))
        return best[2] if best else None

    # ---- the daemon's side ----

    def track(self, keys: Sequence[int], handles: Sequence[Point]) -> None:
        """The tracked handles of a live progress (layer coordinates, in the order of `keys`); a handle the
        artist holds stays in the hand, and keys the dialog no longer has are ignored (an older update's)."""
        where = dict(zip(keys, handles, strict=True))
        held = self._grab.hit if self._grab and self._grab.hit.role == HANDLE else None
        self.pairs = [replace(p, handle=where[p.key]) if p.key in where and Hit(p.key, HANDLE) != held else p
                      for p in self.pairs]
        if self._grab and self._grab.hit.key in where and held is None:
            self._grab.before = replace(self._grab.before, handle=where[self._grab.hit.key])

    # ---- the pointer and the keys ----

    def press(self, view: Point, transform: ViewTransform, button: int = 1, add: bool = False) -> bool:
        """A button press at `view`; True when the pairs changed (the dialog redraws in any case).
        Button 1 grabs (or, with `add`, adds a pair on an empty spot), 2 starts a pan, 3 removes a pair."""
        self.message = ""
        if button == 2:
            self._pan_from = view
            return False
        hit = self.hit(view, transform)
        if button == 3:
            return self.remove(hit.key) if hit else False
        if button != 1 or self._grab is not None:
            return False
        if hit is not None:
            self._grab = _Grab(hit, self.pair(hit.key))
            return False
        if not add:
            return False
        point = self._clamped(transform.to_layer(view))
        if len(self.pairs) >= self.max_points:
            self.message = f"At most {self.max_points} points can be dragged at once."
            return False
        if not self.movable(point):
            self.message = "A new point must start inside the selection: only the selected area may move."
            return False
        pair = LivePair(self._next_key, point, point)
        self._next_key += 1
        self.pairs.append(pair)
        self._grab = _Grab(Hit(pair.key, TARGET), pair, added=True)
        self.revision += 1
        return True

    def motion(self, view: Point, transform: ViewTransform) -> tuple[bool, ViewTransform]:
        """The pointer moved to `view` with a button held: (pairs changed, the transform after any pan)."""
        if self._pan_from is not None:
            dx, dy = view[0] - self._pan_from[0], view[1] - self._pan_from[1]
            self._pan_from = view
            return False, transform.panned(dx, dy)
        if self._grab is None:
            return False, transform
        point = self._clamped(transform.to_layer(view))
        hit = self._grab.hit
        pair = self.pair(hit.key)
        if (pair.target if hit.role == TARGET else pair.handle) == point:
            return False, transform  # nothing moved (the release where the last motion was)
        self._replace(hit.key, **{hit.role: point})
        if hit.role == TARGET:
            self.revision += 1
            return True, transform
        return False, transform  # a handle is sent when it is dropped

    def release(self, view: Point, transform: ViewTransform, button: int = 1) -> bool:
        """The button went up at `view`; True when the pairs changed."""
        if button == 2:
            self._pan_from = None
            return False
        if button != 1 or self._grab is None:
            return False
        changed, _ = self.motion(view, transform)
        grab, self._grab = self._grab, None
        if grab.hit.role == TARGET:
            return changed
        pair = self.pair(grab.hit.key)
        if pair.handle == grab.before.handle:
            return False
        if not self.movable(pair.handle):
            self._replace(pair.key, handle=grab.before.handle)
            self.message = "A handle must stay inside the selection: only the selected area may move."
            return False
        # A new key: the daemon reads the feature to drag where the handle was dropped.
        self._replace(pair.key, key=self._next_key)
        self._next_key += 1
        self.revision += 1
        return True

    def key(self, name: str, view: Point | None, transform: ViewTransform) -> tuple[bool, ViewTransform]:
        """A key (Gdk's name, e.g. "Escape", "Delete", "plus") with the pointer at `view` (None: outside):
        (pairs changed, the transform after any zoom)."""
        if name == "Escape" and self._grab is not None:
            grab, self._grab = self._grab, None
            if grab.added:
                self.pairs = [p for p in self.pairs if p.key != grab.hit.key]
            else:
                self._replace(grab.hit.key, handle=grab.before.handle, target=grab.before.target)
            if grab.hit.role == TARGET:
                self.revision += 1
                return True, transform
            return False, transform
        if name in ("Delete", "BackSpace") and view is not None and self._grab is None:
            hit = self.hit(view, transform)
            return (self.remove(hit.key) if hit else False), transform
        about = view if view is not None else transform.to_view((self.width / 2, self.height / 2))
        if name in ("plus", "equal", "KP_Add"):
            return False, transform.zoomed(ZOOM_STEP, about)
        if name in ("minus", "KP_Subtract"):
            return False, transform.zoomed(1 / ZOOM_STEP, about)
        return False, transform

    def scroll(self, up: bool, view: Point, transform: ViewTransform) -> ViewTransform:
        return transform.zoomed(ZOOM_STEP if up else 1 / ZOOM_STEP, view)

    def remove(self, key: int) -> bool:
        """Removes the pair `key`, unless it is the last one (a live drag needs one)."""
        if len(self.pairs) <= 1:
            self.message = "The last point cannot be removed: a drag needs one. Cancel to keep nothing."
            return False
        if self._grab is not None and self._grab.hit.key == key:
            self._grab = None
        self.pairs = [p for p in self.pairs if p.key != key]
        self.revision += 1
        return True

    def _replace(self, which: int, **changes: object) -> None:
        self.pairs = [replace(p, **changes) if p.key == which else p for p in self.pairs]  # type: ignore[arg-type]

    def _clamped(self, point: Point) -> Point:
        return _clamp(point[0], 0.0, float(self.width)), _clamp(point[1], 0.0, float(self.height))


class UpdateThrottle:
    """When the dialog sends the points: the newest revision, at most once per `interval` seconds while a
    target is being moved, at once when nothing is held; never a revision already sent."""

    def __init__(self, interval: float = UPDATE_INTERVAL_S) -> None:
        self.interval = interval
        self.sent_revision = 0
        self._sent_at = -math.inf

    def due(self, revision: int, now: float, dragging: bool) -> bool:
        if revision <= self.sent_revision:
            return False
        return not dragging or now - self._sent_at >= self.interval

    def sent(self, revision: int, now: float) -> None:
        self.sent_revision, self._sent_at = revision, now


def paint_points(pixels: bytearray, width: int, height: int, pairs: Sequence[LivePair],
                 transform: ViewTransform, grabbed: Hit | None = None) -> None:
    """Draws each pair over `pixels` (RGBA rows of `width` x `height`, no padding): a line from the handle to
    the target, a red dot on the handle and a blue one on the target, each outlined in black; the grabbed
    point larger. Points off the view are clipped."""
    def dot(centre: Point, radius: float, rgb: tuple[int, int, int]) -> None:
        cx, cy = centre
        for y in range(max(0, math.floor(cy - radius)), min(height, math.ceil(cy + radius) + 1)):
            for x in range(max(0, math.floor(cx - radius)), min(width, math.ceil(cx + radius) + 1)):
                if (x - cx) ** 2 + (y - cy) ** 2 <= radius * radius:
                    i = (y * width + x) * 4
                    pixels[i:i + 4] = bytes((*rgb, 255))

    def line(a: Point, b: Point, radius: float, rgb: tuple[int, int, int]) -> None:
        t0, t1 = 0.0, 1.0  # the part of a -> b inside the view (Liang-Barsky clipping)
        for p, q in ((a[0] - b[0], a[0] + radius), (b[0] - a[0], width + radius - a[0]),
                     (a[1] - b[1], a[1] + radius), (b[1] - a[1], height + radius - a[1])):
            if p == 0:
                if q < 0:
                    return
            elif p < 0:
                t0 = max(t0, q / p)
            else:
                t1 = min(t1, q / p)
        if t0 > t1:
            return
        a, b = (a[0] + (b[0] - a[0]) * t0, a[1] + (b[1] - a[1]) * t0), (a[0] + (b[0] - a[0]) * t1,
                                                                        a[1] + (b[1] - a[1]) * t1)
        steps = max(1, math.ceil(math.hypot(b[0] - a[0], b[1] - a[1])))
        for k in range(steps + 1):
            dot((a[0] + (b[0] - a[0]) * k / steps, a[1] + (b[1] - a[1]) * k / steps), radius, rgb)

    for pair in pairs:
        line(transform.to_view(pair.handle), transform.to_view(pair.target), 1.5, OUTLINE_RGB)
        line(transform.to_view(pair.handle), transform.to_view(pair.target), 0.5, LINE_RGB)
    for pair in pairs:
        for role, point, rgb in ((HANDLE, pair.handle, HANDLE_RGB), (TARGET, pair.target, TARGET_RGB)):
            radius = DOT_RADIUS_PX + (GRABBED_EXTRA_PX if grabbed == Hit(pair.key, role) else 0)
            dot(transform.to_view(point), radius + 1, OUTLINE_RGB)
            dot(transform.to_view(point), radius, rgb)


def _clamp(value: float, low: float, high: float) -> float:
    return min(max(value, low), high)
