"""Stand-ins for Krita (a workspace of documents with layers, a selection and drag lines), for the daemon (the
calls of DragdClient the docker makes, answering with real protocol messages) and for the Qt runner (runs each
job at once, on the calling thread). They record what the controller did, so tests can check it.
"""

from __future__ import annotations

import queue
import struct
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from dragd.krita_plugin.controller import PanelState
from dragd.krita_plugin.ports import Canvas
from dragd.protocol import (
    DEFAULT_LIMITS,
    PROTOCOL_VERSION,
    Capability,
    DragdError,
    DragOptions,
    DragProgress,
    DragResult,
    ErrorCode,
    GenerateResult,
    HelloResult,
    HistoryResult,
    Image,
    InversionProgress,
    ModelInfo,
    OpenSessionResult,
    PointPair,
    Quality,
    paste,
)
from dragd.protocol.binding import Binding, decode, encode, pixels_digest
from dragd.protocol.messages import InversionOptions, LiveUpdateResult, RestoreResult, StateResult

MODEL = ModelInfo("faces-8", (8, 6), "faces", 0.002, "a tiny model for tests", True)
SIZE = MODEL.resolution


def seed_image(seed: int, width: int = SIZE[0], height: int = SIZE[1]) -> Image:
    return Image.filled("RGBA", width, height, (seed % 256, 10, 20, 255))


def dragged_image(base: Image, step: int) -> Image:
    """The fake drag's image after `step` steps: every pixel's green channel set to the step, and its blue one
    16 more than the start state's (so the state a drag started from shows in its result)."""
    data = bytearray(base.tight().data)
    data[1::4] = bytes([step % 256]) * (base.width * base.height)
    data[2::4] = bytes((b + 16) % 256 for b in data[2::4])
    return Image.rgba(base.width, base.height, bytes(data))


# ---- Krita ---------------------------------------------------------------------------------------------------


@dataclass
class FakeLayer:
    id: str
    name: str
    type: str
    pixels: Image | None = None
    writes: int = 0  # how often its pixels were set


@dataclass
class FakeCanvas:
    """A document: layers bottom to top (flat: groups are the real-Krita test's), an optional selection, drag
    lines by id (corner-origin pixels), the bindings the adapter keeps in a document annotation."""

    width: int = SIZE[0]
    height: int = SIZE[1]
    name: str = "doc"
    colour: str = ""  # a non-empty `problem()`
    layers: list[FakeLayer] = field(default_factory=list)
    active: str | None = None
    mask: Image | None = None
    lines: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    handle_moves: list[dict[str, tuple[float, float]]] = field(default_factory=list)
    previews: list[Image] = field(default_factory=list)
    annotation: dict[str, Binding] = field(default_factory=dict)
    open: bool = True
    _ids: int = 0

    def __post_init__(self) -> None:
        self.layers.append(self._new("Background", "paintlayer", Image.filled("RGBA", self.width, self.height,
                                                                               (255, 255, 255, 255))))
        self.active = self.layers[0].id

    def _new(self, name: str, kind: str, pixels: Image | None = None) -> FakeLayer:
        self._ids += 1
        return FakeLayer(f"{self.name}-{self._ids}", name, kind, pixels)

    def layer(self, name: str) -> FakeLayer:
        return next(layer for layer in self.layers if layer.name == name)

    def names(self) -> list[str]:
        return [layer.name for layer in self.layers]

    def add_user_layer(self, name: str, pixels: Image, kind: str = "paintlayer") -> FakeLayer:
        """A layer of the user's own, on top of the others but below the points layer."""
        layer = self._new(name, kind, pixels)
        names = self.names()
        self.layers.insert(names.index("DragGAN points") if "DragGAN points" in names else len(names), layer)
        return layer

    def _find(self, layer: str) -> FakeLayer | None:
        return next((candidate for candidate in self.layers if candidate.id == layer), None)

    # controller.Canvas

    def key(self) -> str:
        return self.name

    def is_open(self) -> bool:
        return self.open

    def size(self) -> tuple[int, int]:
        return self.width, self.height

    def problem(self) -> str:
        return self.colour

    def active_layer(self) -> tuple[str, str, str] | None:
        layer = self._find(self.active) if self.active else None
        return (layer.id, layer.name, layer.type) if layer else None

    def layer_below_points(self) -> tuple[str, str, str] | None:
        names = self.names()
        if "DragGAN points" not in names:
            return None
        below = [layer for layer in self.layers[:names.index("DragGAN points")] if layer.name != "DragGAN preview"]
        return (below[-1].id, below[-1].name, below[-1].type) if below else None

    def layer_under(self, layer: str) -> str | None:
        index = next(i for i, candidate in enumerate(self.layers) if candidate.id == layer)
        return self.layers[index - 1].id if index > 0 else None

    def layer_exists(self, layer: str) -> bool:
        return self._find(layer) is not None

    def layer_name(self, layer: str) -> str | None:
        found = self._find(layer)
        return found.name if found else None

    def layer_names(self) -> list[str]:
        return self.names()

    def layer_pixels(self, layer: str) -> Image:
        found = self._find(layer)
        assert found is not None and found.pixels is not None
        return found.pixels

    def layer_digest(self, layer: str) -> str:
        found = self._find(layer)
        if found is None or found.pixels is None:
            return ""
        return pixels_digest(found.pixels.tight().data, found.pixels.width, found.pixels.height, "RGBA U8")

    def bindings(self) -> dict[str, Binding]:
        return dict(self.annotation)

    def set_binding(self, layer: str, binding: Binding | None) -> None:
        self.annotation.pop(layer, None)
        if binding is not None:
            self.annotation[layer] = decode(encode(binding))  # as stored: through the text form

    def selection(self) -> Image | None:
        return self.mask

    def has_points_layer(self) -> bool:
        return "DragGAN points" in self.names()

    def ensure_points_layer(self) -> None:
        if "DragGAN points" not in self.names():
            self.layers.append(self._new("DragGAN points", "vectorlayer"))
        self.active = self.layer("DragGAN points").id

    def point_lines(self) -> list[tuple[str, list[tuple[float, float]]]]:
        return [(line, list(nodes)) for line, nodes in self.lines.items()] if self.has_points_layer() else []

    def move_handles(self, handles: dict[str, tuple[float, float]]) -> None:
        self.handle_moves.append(dict(handles))
        for line, handle in handles.items():
            if line in self.lines:
                self.lines[line][0] = tuple(handle)

    def add_layer(self, name: str, pixels: Image, above: str | None, source: str | None = None,
                  edit: Any = None) -> str:
        layer = self._new(name, "paintlayer", pixels.tight())
        layer.writes = 1
        if above is None:
            names = self.names()
            index = names.index("DragGAN points") if "DragGAN points" in names else len(self.layers)
        else:
            index = next(i for i, candidate in enumerate(self.layers) if candidate.id == above) + 1
        self.layers.insert(index, layer)
        return layer.id

    def copy_layer(self, layer: str) -> Image:
        found = self._find(layer)
        assert found is not None and found.pixels is not None
        return found.pixels

    def add_copy(self, name: str, copy: Image, above: str | None) -> str:
        return self.add_layer(name, copy, above)

    def remove_layer(self, layer: str) -> None:
        self.layers = [candidate for candidate in self.layers if candidate.id != layer]

    def show_preview(self, pixels: Image, above: str) -> None:
        self.previews.append(pixels)
        if "DragGAN preview" not in self.names():
            index = next(i for i, candidate in enumerate(self.layers) if candidate.id == above) + 1
            self.layers.insert(index, self._new("DragGAN preview", "paintlayer"))
        self.layer("DragGAN preview").pixels = pixels

    def remove_preview(self) -> None:
        self.layers = [layer for layer in self.layers if layer.name != "DragGAN preview"]


@dataclass
class FakeWorkspace:
    canvases: list[FakeCanvas] = field(default_factory=list)
    settings: dict[str, str] = field(default_factory=dict)

    def active_canvas(self) -> Canvas | None:
        shown = [canvas for canvas in self.canvases if canvas.open]  # a closed document is never in front
        return shown[-1] if shown else None

    def new_canvas(self, width: int, height: int, name: str) -> FakeCanvas:
        canvas = FakeCanvas(width, height, name=f"new-{len(self.canvases)}")
        self.canvases.append(canvas)
        return canvas

    def setting(self, name: str, default: str = "") -> str:
        return self.settings.get(name, default)


class RecordingView:
    def __init__(self) -> None:
        self.states: list[PanelState] = []

    def render(self, state: PanelState) -> None:
        self.states.append(state)


class SyncRunner:
    """Runs every job at once on this thread; `hold` keeps the next drag job waiting until `release()`."""

    def __init__(self) -> None:
        self.jobs = 0
        self.held: list[Callable[[], None]] = []
        self.hold_next = False

    def submit(self, work: Callable[[Callable[[Any], None]], Any], done: Callable[[Any], None],
               failed: Callable[[BaseException], None], progress: Callable[[Any], None] | None = None) -> None:
        self.jobs += 1

        def run() -> None:
            try:
                result = work(progress or (lambda item: None))
            except Exception as exc:
                failed(exc)
                return
            try:
                done(result)
            except Exception as exc:  # the Qt runner sends a bug in `done` to `failed` too
                failed(exc)

        if self.hold_next:
            self.hold_next = False
            self.held.append(run)
        else:
            run()

    def release(self) -> None:
        while self.held:
            self.held.pop(0)()


class ThreadRunner:
    """Like the Qt runner: each job on its own thread, its callbacks queued for the UI thread, which here is the
    test calling `pump` (so a test sees what piles up when the UI thread is slow: `queued`)."""

    def __init__(self) -> None:
        self.queue: queue.Queue[Callable[[], None]] = queue.Queue()
        self.threads: list[threading.Thread] = []

    def submit(self, work: Callable[[Callable[[Any], None]], Any], done: Callable[[Any], None],
               failed: Callable[[BaseException], None], progress: Callable[[Any], None] | None = None) -> None:
        def report(item: Any) -> None:
            if progress is not None:
                self.queue.put(lambda: progress(item))

        def run() -> None:
            try:
                result = work(report)
            except BaseException as exc:
                error = exc
                self.queue.put(lambda: failed(error))
                return
            self.queue.put(lambda: done(result))

        thread = threading.Thread(target=run, daemon=True)
        self.threads.append(thread)
        thread.start()

    def queued(self) -> int:
        return self.queue.qsize()

    def pump(self, until: Callable[[], bool], timeout: float = 10.0, tick: Callable[[], None] | None = None) -> None:
        """Run queued callbacks (and `tick`, as the docker's timer would) until `until()` holds."""
        deadline = time.monotonic() + timeout
        while not until():
            if time.monotonic() > deadline:
                raise AssertionError("timed out pumping the UI queue")
            if tick is not None:
                tick()
            try:
                callback = self.queue.get(timeout=0.01)
            except queue.Empty:
                continue
            callback()


# ---- the daemon ----------------------------------------------------------------------------------------------


@dataclass
class FakeDaemon:
    """The DragdClient calls of the docker. A drag runs `steps` steps, each moving every handle 1 px towards
    its target, with a preview at `preview_every`; `fail` maps a method name to the DragdError it raises."""

    address: str = "tcp://127.0.0.1:5557"
    steps: int = 3
    capabilities: tuple[str, ...] = (Capability.GENERATE, Capability.DRAG, Capability.UNDO, Capability.PREVIEWS,
                                     Capability.RESTORE, Capability.LIVE)
    fail: dict[str, DragdError] = field(default_factory=dict)
    calls: list[tuple[str, Any]] = field(default_factory=list)
    sessions: dict[str, list[Image]] = field(default_factory=dict)  # session -> history
    index: dict[str, int] = field(default_factory=dict)
    # latent -> the picture it makes; shared between "restarts" (a new FakeDaemon given the same dict), as a
    # model's generator is the same in any daemon
    pictures: dict[bytes, Image] = field(default_factory=dict)
    opened: set[str] = field(default_factory=set)
    cancel_requested: bool = False
    closed: bool = False
    live: FakeLiveDrag | None = None  # the last live drag started

    def _call(self, name: str, detail: Any = None) -> None:
        self.calls.append((name, detail))
        if name in self.fail:
            raise self.fail[name]

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    def hello(self, timeout: float | None = None) -> HelloResult:
        self._call("hello")
        return HelloResult(PROTOCOL_VERSION, "0.test", "cpu", (MODEL,), DEFAULT_LIMITS, self.capabilities)

    def generate(self, seed: int, model: str | None = None, truncation: float = 0.7) -> GenerateResult:
        self._call("generate", (seed, model, truncation))
        session = f"s{len(self.sessions) + 1}"
        self.sessions[session] = [seed_image(seed)]
        self.index[session] = 0
        return GenerateResult(session, self.sessions[session][0], SIZE[0], SIZE[1], MODEL.name)

    def open_session(self, image: Image, model: str | None = None, region: Any = None, mask: Image | None = None,
                     on_progress: Callable[[Any], None] | None = None,
                     options: InversionOptions | None = None) -> OpenSessionResult:
        """The reconstruction of the region (the selection's box): its pixels with the blue channel zeroed."""
        self._call("open_session", (image, model, region, mask, options))
        if on_progress is not None:
            for step in range(3):
                on_progress(InversionProgress("projection", step, 2))
        x, y, width, height = region or (0, 0, image.width, image.height)
        part = bytearray(image.crop(x, y, width, height).data)
        part[2::4] = bytes(width * height)
        reconstruction = Image.rgba(width, height, bytes(part))
        session = f"s{len(self.sessions) + 1}"
        self.sessions[session] = [paste(image, reconstruction, x, y)]
        self.index[session] = 0
        self.opened.add(session)
        return OpenSessionResult(session, reconstruction, (x, y), Quality(30.0), model=MODEL.name)

    def drag(self, session: str, points: Sequence[PointPair], mask: Image | None = None,
             options: DragOptions | None = None, on_progress: Callable[[Any], None] | None = None) -> DragResult:
        self._call("drag", {"session": session, "points": tuple(points), "mask": mask, "options": options})
        if session not in self.sessions:
            raise DragdError(ErrorCode.UNKNOWN_SESSION, f"no session {session}")
        options = options or DragOptions()
        base = self.sessions[session][self.index[session]]
        handles = [list(pair.handle) for pair in points]
        step = 0
        stopped = "max_steps"
        for step in range(1, min(self.steps, options.max_steps) + 1):
            for handle, pair in zip(handles, points, strict=True):
                handle[1] += 1.0 if pair.target[1] > handle[1] else -1.0 if pair.target[1] < handle[1] else 0.0
            preview = options.preview_every and step % options.preview_every == 0
            if on_progress is not None:
                on_progress(DragProgress(step, tuple(tuple(h) for h in handles), 1.0 / step,
                                         dragged_image(base, step) if preview else None, (0, 0) if preview else None))
            if self.cancel_requested:
                stopped = "cancelled"
                break
        history = self.sessions[session][:self.index[session] + 1]
        history.append(dragged_image(base, step))
        self.sessions[session] = history
        self.index[session] = len(history) - 1
        return DragResult(step, tuple(tuple(h) for h in handles), False, stopped, history[-1], (0, 0),
                          self.index[session])

    def _latent_of(self, image: Image) -> bytes:
        for latent, picture in self.pictures.items():
            if picture == image:
                return latent
        latent = struct.pack("<4f", len(self.pictures) + 1.0, 0.0, 0.0, 0.0)
        self.pictures[latent] = image
        return latent

    def state(self, session: str) -> StateResult:
        self._call("state", session)
        if session not in self.sessions:
            raise DragdError(ErrorCode.UNKNOWN_SESSION, f"no session {session}")
        image = self.sessions[session][self.index[session]]
        return StateResult(MODEL.name, self.index[session], self._latent_of(image), (2, 2), session in self.opened)

    def restore(self, latent: bytes, shape: tuple[int, int], session: str | None = None,
                model: str | None = None) -> RestoreResult:
        self._call("restore", (session, model))
        image = self.pictures[latent]
        if session is None:
            session = f"s{len(self.sessions) + 1}"
            self.sessions[session], self.index[session] = [image], 0
        elif session not in self.sessions:
            raise DragdError(ErrorCode.UNKNOWN_SESSION, f"no session {session}")
        else:
            history = self.sessions[session][:self.index[session] + 1] + [image]
            self.sessions[session], self.index[session] = history, len(history) - 1
        return RestoreResult(session, image, (0, 0), self.index[session], MODEL.name)

    def cancel(self, target: Any = None) -> bool:
        self._call("cancel", target)
        self.cancel_requested = True
        return True

    def _move(self, name: str, session: str, delta: int) -> HistoryResult:
        self._call(name, session)
        history, index = self.sessions[session], self.index[session] + delta
        if not 0 <= index < len(history):
            raise DragdError(ErrorCode.BAD_REQUEST, f"nothing to {name} in this session")
        self.index[session] = index
        return HistoryResult(history[index], (0, 0), index, index > 0, index + 1 < len(history))

    def undo(self, session: str) -> HistoryResult:
        return self._move("undo", session, -1)

    def redo(self, session: str) -> HistoryResult:
        return self._move("redo", session, +1)

    def heartbeat(self, sessions: Sequence[str] = ()) -> tuple[str, ...]:
        self._call("heartbeat", tuple(sessions))
        return tuple(s for s in sessions if s in self.sessions)

    def close_session(self, session: str) -> None:
        self._call("close_session", session)
        self.sessions.pop(session, None)

    def close(self) -> None:
        self.closed = True

    def live_drag(self, session: str, points: Sequence[PointPair], mask: Image | None = None,
                  options: DragOptions | None = None) -> FakeLiveDrag:
        self._call("live_drag", {"session": session, "points": tuple(points), "mask": mask, "options": options})
        live = FakeLiveDrag(self, session, options or DragOptions())
        if session not in self.sessions:
            live.error = DragdError(ErrorCode.UNKNOWN_SESSION, f"no session {session}")
        else:
            live.base = self.sessions[session][self.index[session]]
            live.set_points([(pair.key, pair.handle, pair.target) for pair in points])
        self.live = live
        return live


class FakeLiveDrag:
    """The daemon's live drag as protocol.live.LiveDrag shows it: each `poll` runs one step (every handle 1 px
    towards its target, in x and y) and returns its progress with a preview, until every handle is on its target
    (then one idle progress, then nothing). Used from the plugin's job thread; tests read what it recorded."""

    def __init__(self, daemon: FakeDaemon, session: str, options: DragOptions) -> None:
        self.daemon, self.session, self.options = daemon, session, options
        self.base: Image | None = None
        self.error: DragdError | None = None  # raised by the next poll (an error reply)
        self.handles: dict[str, list[float]] = {}
        self.targets: dict[str, tuple[float, float]] = {}
        self.keys: tuple[str, ...] = ()
        self.revision = self.step = self.seq = 0
        self.idle_sent = False
        self.result: DragResult | None = None
        self.updates: list[tuple[str, ...]] = []  # the keys of every update accepted, in order
        self.refuse: DragdError | None = None  # the next update's error

    def set_points(self, points: Sequence[tuple[str, Any, Any]]) -> None:
        handles = {}
        for key, handle, target in points:
            handles[key] = self.handles.get(key) or [float(handle[0]), float(handle[1])]
            self.targets[key] = (float(target[0]), float(target[1]))
        self.handles, self.keys = handles, tuple(key for key, _, _ in points)
        self.targets = {key: self.targets[key] for key in self.keys}
        self.idle_sent = False

    def update(self, points: Sequence[tuple[str, Any, Any]]) -> LiveUpdateResult:
        if self.result is not None:
            raise DragdError(ErrorCode.NOT_FOUND, "no running live drag")
        if self.refuse is not None:
            error, self.refuse = self.refuse, None
            raise error
        self.updates.append(tuple(key for key, _, _ in points))
        self.set_points(points)
        self.revision += 1
        return LiveUpdateResult(self.revision, False)

    def commit(self, stopped: str = "committed") -> DragResult:
        """Ends it with its state as a new history state; `time_out` is the daemon's own end, "timeout"."""
        if self.result is None:
            history = self.daemon.sessions[self.session][:self.daemon.index[self.session] + 1]
            history.append(self._image())
            self.daemon.sessions[self.session] = history
            self.daemon.index[self.session] = len(history) - 1
            self.result = DragResult(self.step, self._points(), self._reached(), stopped, history[-1], (0, 0),
                                     len(history) - 1, self.keys)
        return self.result

    def time_out(self) -> None:
        self.commit("timeout")

    def cancel(self) -> DragResult:
        if self.result is None:
            self.result = DragResult(self.step, self._points(), False, "cancelled", self.base, (0, 0),
                                     self.daemon.index[self.session], self.keys)
        return self.result

    def _image(self) -> Image:
        assert self.base is not None
        return dragged_image(self.base, self.step)

    def poll(self, timeout: float = 0.0) -> DragProgress | DragResult | None:
        if self.error is not None:
            raise self.error
        if self.result is not None:
            return self.result
        if self._reached() and self.idle_sent:
            time.sleep(timeout)
            return None
        if not self._reached():
            self.step += 1
            for key, handle in self.handles.items():
                for axis in (0, 1):
                    gap = self.targets[key][axis] - handle[axis]
                    handle[axis] += max(-1.0, min(1.0, gap))
        self.seq += 1
        self.idle_sent = self._reached()
        return DragProgress(max(self.step, 1), self._points(), 1.0 / max(self.step, 1), self._image(), (0, 0),
                            self.keys, self.revision, self.seq, self.idle_sent)

    def _points(self) -> tuple[tuple[float, float], ...]:
        return tuple((self.handles[key][0], self.handles[key][1]) for key in self.keys)

    def _reached(self) -> bool:
        return all(tuple(self.handles[key]) == self.targets[key] for key in self.keys)


