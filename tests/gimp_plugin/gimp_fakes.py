"""Stand-ins for GIMP (a `drag.Document`), the progress display and the daemon, for the plug-in's unit tests."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

from dragd.gimp_plugin.session import layer_digest
from dragd.protocol import messages
from dragd.protocol.binding import Binding, Latent, encode
from dragd.protocol.errors import DragdError, ErrorCode
from dragd.protocol.images import Image


def gradient(width: int, height: int) -> Image:
    """An RGBA picture whose every pixel differs from its neighbours, so misplaced bytes show."""
    data = bytes(v for y in range(height) for x in range(width) for v in (x % 256, y % 256, (x + y) % 256, 255))
    return Image.rgba(width, height, data)


LATENT_SHAPE = (2, 3)  # num_ws, w_dim of the fake daemon's latents


def bind(session: str, state: int, kind: str = "generated", seed: int | None = 7, latent: bytes | None = None,
         pixels: Image | None = None, frame: tuple[int, int, int, int] = (0, 0, 16, 12)) -> bytes:
    """A binding parasite's data for a layer showing `pixels` (default: the fake layer's gradient)."""
    latent_value = None if latent is None else Latent.from_rows(latent, *LATENT_SHAPE)
    return encode(Binding(session, state, "faces-128", kind, latent_value, frame,
                          layer_digest(pixels or gradient(16, 12)), seed, 0.5 if seed is not None else None))


GENERATED = bind("s-old", 0)  # a generated layer, untouched: seed 7 is generated again for a drag


def latent_of(session: str, index: int, how: str = "") -> bytes:
    """A W+ latent (2 x 3 float32) that differs between sessions, states and how a state was made."""
    base = float(sum(map(ord, session + how)) % 97)
    return struct.pack("<6f", *(base + index + k / 8 for k in range(6)))


@dataclass
class FakeDocument:
    """A layer of `width` x `height` at `offsets` in an image, with paths, a selection and a binding parasite."""

    width: int = 16
    height: int = 12
    offsets: tuple[int, int] = (0, 0)
    path_list: list[tuple[str, bool, list[list[tuple[float, float]]]]] = field(default_factory=list)
    mask: Image | None = None
    layer_binding: bytes | None = None
    names: list[str] = field(default_factory=lambda: ["Background"])
    source: Image | None = None

    def __post_init__(self) -> None:
        if self.source is None:
            self.source = gradient(self.width, self.height)

    def pixels(self) -> Image:
        return self.source

    def selection(self) -> Image | None:
        return self.mask

    def paths(self) -> list[tuple[str, bool, list[list[tuple[float, float]]]]]:
        return self.path_list

    def layer_names(self) -> list[str]:
        return self.names

    def binding(self) -> bytes | None:
        return self.layer_binding


class RecordingFeedback:
    def __init__(self) -> None:
        self.updates: list[tuple[float, str]] = []
        self.previews: list[Image] = []

    def progress(self, fraction: float, text: str) -> None:
        self.updates.append((fraction, text))

    def preview(self, pixels: Image) -> None:
        self.previews.append(pixels)


class FakeDaemon:
    """Answers like a daemon whose drags move every handle by (+2, -1) per step and paint the edit region.

    The edit region is a `patch_size` square at `patch_offset`, filled with `patch_colour`; `steps` progress
    messages precede the result, each with a preview when the options ask for one. Each session keeps a
    history of (image, offset, latent) states for undo and redo; "s-existing" has four, each the `gradient`
    layer `FakeDocument` shows by default, with the latents `latent_of("s-existing", i)`, and is at its last.
    `open_session` inverts in `inversion_steps` steps (unless `can_open` is False: an old daemon) and opens
    "s-open". `state` / `restore` answer like a daemon with the restore capability unless `can_restore` is
    False (then they are unknown requests, as to an older daemon).
    """

    def __init__(self, size: tuple[int, int] = (16, 12), steps: int = 3) -> None:
        self.size = size
        self.steps = steps
        self.calls: list[tuple[str, Any]] = []
        self.history: dict[str, list[tuple[Image, tuple[int, int], bytes]]] = {
            "s-existing": [(gradient(*size), (0, 0), latent_of("s-existing", i)) for i in range(4)]}
        self.index: dict[str, int] = {"s-existing": 3}
        self.opened: set[str] = set()
        self.can_open = True
        self.can_restore = True
        self.limits: Any = None  # a protocol Limits to announce, like DragdClient.limits after hello
        self.inversion_steps = 4
        self.on_inversion_step: Any = None
        self.closed = False
        self.cancelled = False
        self.cancel_at_step: int | None = None  # the test sets the cancel event from on_progress at this step
        self.on_step: Any = None
        self.patch_offset = (2, 3)
        self.patch_size = 4
        self.patch_colour = (200, 10, 20, 255)
        self.wrong_point_count = False

    def generate(self, seed: int, model: str | None = None, truncation: float = 0.7) -> messages.GenerateResult:
        self.calls.append(("generate", (seed, model, truncation)))
        session = f"s-gen-{seed}"
        w, h = self.size
        image = Image.filled("RGBA", w, h, (seed % 256, 1, 2, 255))
        self.history[session], self.index[session] = [(image, (0, 0), latent_of(session, 0))], 0
        return messages.GenerateResult(session, image, w, h, model or "faces-128")

    @property
    def sessions(self) -> set[str]:
        return set(self.history)

    def open_session(self, image: Image, model: str | None = None, region: Any = None, mask: Image | None = None,
                     on_progress: Any = None,
                     options: messages.InversionOptions | None = None) -> messages.OpenSessionResult:
        self.calls.append(("open_session", (image, model, region, mask, options)))
        if not self.can_open:
            raise DragdError(ErrorCode.UNSUPPORTED, "opening a session from an image needs GAN inversion, "
                                                    "which this daemon does not offer yet")
        for step in range(self.inversion_steps + 1):
            if on_progress is not None:
                on_progress(messages.InversionProgress("projection", step, self.inversion_steps))
            if self.on_inversion_step is not None:
                self.on_inversion_step(step)
            if self.cancelled:
                raise DragdError(ErrorCode.CANCELLED, "inversion cancelled")
        reconstruction = self._patch()
        self.history["s-open"], self.index["s-open"] = [(reconstruction, self.patch_offset,
                                                          latent_of("s-open", 0))], 0
        self.opened.add("s-open")
        return messages.OpenSessionResult("s-open", reconstruction, self.patch_offset,
                                          messages.Quality(30.0, None), None, ("plain region",), model or "faces-128")

    def drag(self, session: str, points: Any, mask: Image | None = None, options: Any = None,
             on_progress: Any = None) -> messages.DragResult:
        self.calls.append(("drag", (session, tuple(points), mask, options)))
        if session not in self.sessions:
            raise DragdError(ErrorCode.UNKNOWN_SESSION, f"no session {session!r}")
        tracked = [pair.handle for pair in points]
        step = 0
        for step in range(1, self.steps + 1):
            tracked = [(x + 2, y - 1) for x, y in tracked]
            preview = options.preview_every and step % options.preview_every == 0
            if on_progress is not None:
                on_progress(messages.DragProgress(step, tuple(tracked), 1.0 / step,
                                                  self._patch() if preview else None,
                                                  self.patch_offset if preview else None))
            if self.on_step is not None:
                self.on_step(step)
            if self.cancelled:
                break
        if self.wrong_point_count:
            tracked = tracked[:-1]
        stopped = "cancelled" if self.cancelled else "max_steps"
        index = self.index[session] + 1
        self.history[session][index:] = [(self._patch(), self.patch_offset, latent_of(session, index, "drag"))]
        self.index[session] = index
        return messages.DragResult(step, tuple(tracked), False, stopped, self._patch(), self.patch_offset, index)

    def undo(self, session: str) -> messages.HistoryResult:
        return self._move(session, -1, "undo")

    def redo(self, session: str) -> messages.HistoryResult:
        return self._move(session, +1, "redo")

    def _move(self, session: str, delta: int, kind: str) -> messages.HistoryResult:
        self.calls.append((kind, session))
        if session not in self.history:
            raise DragdError(ErrorCode.UNKNOWN_SESSION, f"no session {session!r}")
        index = self.index[session] + delta
        states = self.history[session]
        if not 0 <= index < len(states):
            raise DragdError(ErrorCode.BAD_REQUEST, f"nothing to {kind} in this session")
        self.index[session] = index
        image, offset, _ = states[index]
        return messages.HistoryResult(image, offset, index, index > 0, index < len(states) - 1)

    def state(self, session: str) -> messages.StateResult:
        self.calls.append(("state", session))
        if not self.can_restore:
            raise DragdError(ErrorCode.BAD_REQUEST, "unknown request type 'state'")
        if session not in self.history:
            raise DragdError(ErrorCode.UNKNOWN_SESSION, f"no session {session!r}")
        latent = self.history[session][self.index[session]][2]
        return messages.StateResult("faces-128", self.index[session], latent, LATENT_SHAPE, session in self.opened)

    def restore(self, latent: bytes, shape: tuple[int, int], session: str | None = None,
                model: str | None = None) -> messages.RestoreResult:
        self.calls.append(("restore", (session, model)))
        if not self.can_restore:
            raise DragdError(ErrorCode.BAD_REQUEST, "unknown request type 'restore'")
        if session is None:
            session = "s-restored"
            self.history[session], self.index[session] = [], -1
        elif session not in self.history:
            raise DragdError(ErrorCode.UNKNOWN_SESSION, f"no session {session!r}")
        index = self.index[session] + 1
        image = Image.filled("RGBA", *self.size, (7, 7, 7, 255))
        self.history[session][index:] = [(image, (0, 0), latent)]
        self.index[session] = index
        return messages.RestoreResult(session, image, (0, 0), index, model or "faces-128")

    def _patch(self) -> Image:
        return Image.filled("RGBA", self.patch_size, self.patch_size, self.patch_colour)

    def cancel(self) -> bool:
        self.calls.append(("cancel", None))
        self.cancelled = True
        return True

    def close_session(self, session: str) -> None:
        self.calls.append(("close_session", session))
        if session not in self.history:
            raise DragdError(ErrorCode.UNKNOWN_SESSION, f"no session {session!r}")
        del self.history[session], self.index[session]

    def close(self) -> None:
        self.closed = True


class FakeLive:
    """A live drag as `protocol.client`'s helper answers it: `update`, `commit`, `cancel`, `poll` (which hands
    out what the test queued with `send`, newest last). `update_error` / `poll_error`: raised once, then None."""

    def __init__(self, session: str, points: Any, mask: Image | None, options: Any) -> None:
        self.session, self.points, self.mask, self.options = session, list(points), mask, options
        self.updates: list[list[Any]] = []
        self.committed = False
        self.cancelled = False
        self.queue: list[Any] = []
        self.update_error: DragdError | None = None
        self.poll_error: DragdError | None = None
        self.commit_result: Any = None  # what `commit` answers (the test sets it)

    def update(self, points: Any) -> int:
        if self.update_error is not None:
            error, self.update_error = self.update_error, None
            raise error
        self.updates.append(list(points))
        return len(self.updates)

    def commit(self) -> Any:
        self.committed = True
        return self.commit_result

    def cancel(self) -> None:
        self.cancelled = True

    def poll(self, timeout: float = 0.0) -> Any:
        if self.poll_error is not None:
            error, self.poll_error = self.poll_error, None
            raise error
        return self.queue.pop(0) if self.queue else None

    def send(self, message: Any) -> None:
        self.queue.append(message)


class FakeLiveDaemon(FakeDaemon):
    """A FakeDaemon whose `live_drag` starts a FakeLive (kept in `.live`)."""

    live: FakeLive | None = None

    def live_drag(self, session: str, points: Any, mask: Image | None = None, options: Any = None) -> FakeLive:
        self.calls.append(("live_drag", (session, list(points), mask, options)))
        if session not in self.sessions:
            raise DragdError(ErrorCode.UNKNOWN_SESSION, f"no session {session!r}")
        self.live = FakeLive(session, points, mask, options)
        return self.live
