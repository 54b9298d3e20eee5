"""The interactive "DragGAN drag..." dialog: the layer with its handles and targets, live (GIMP 3, Gtk 3).

Two phases in one dialog. First the drag is prepared on a worker thread (`drag.prepare_drag`: connecting,
finding or opening the session, which may take a GAN inversion) while a progress bar runs; Cancel stops it.
Then the live drag runs on GIMP's main thread (`live.LiveDrag`, driven by a GLib timeout every `live.TICK_S`):
the artist drags targets (or handles) in the picture, the image follows. OK commits: the result layer is added
by the caller exactly as a normal drag's. Cancel, Escape or closing the window keeps nothing.

The picture is a pixbuf in a Gtk.Image (the pairs painted into its pixels by `live_view.paint_points`: GIMP's
Python has no gi-cairo everywhere), inside an EventBox for the pointer. What a press, a move or a key does is
`live_view`'s business; this module only wires Gtk to it.

For the real-GIMP test only: with $DRAGD_GIMP_LIVE_TRACE set to a file, the dialog appends one JSON line per
event worth knowing (live, each progress, each gesture, the outcome) with the points' screen positions, so that a
test can press and move the real pointer (xdotool) on them, and keeps the picture of the last preview beside it
(.png). Without it, nothing is written.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from typing import Any

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("GimpUi", "3.0")
gi.require_version("Gtk", "3.0")
gi.require_version("Gdk", "3.0")
gi.require_version("GdkPixbuf", "2.0")
from gi.repository import Gdk, GdkPixbuf, GimpUi, GLib, Gtk  # noqa: E402 - gi.require_version must come first

from ..protocol.errors import DragdError  # noqa: E402
from .adapter import GimpFeedback  # noqa: E402
from .drag import DocumentSnapshot, DragOutcome, Prepared, UserError, error_outcome, prepare_drag  # noqa: E402
from .live import TICK_S, Frame, LiveDrag  # noqa: E402
from .live_view import ViewTransform, paint_points  # noqa: E402
from .options import DragSettings  # noqa: E402

VIEW_MAX_PX = 512  # the picture's longest side on screen when the layer is first fitted
BACKGROUND = 0x404040FF  # around the layer, when zoomed out or panned
DONE = 1  # the dialog's own response: the drag ended (result, cancel or error) without the buttons
TRACE_ENV = "DRAGD_GIMP_LIVE_TRACE"


def run_live_drag(document: Any, settings: DragSettings) -> DragOutcome:
    """Shows the dialog until the live drag ends; the outcome, for the caller to add as the result layer.
    The document is read here, on GIMP's main thread; the worker and the dialog see only that snapshot."""
    GimpUi.init(sys.argv[0])
    return _LiveDialog(DocumentSnapshot.of(document), settings).run()


class _LiveDialog:
    def __init__(self, document: DocumentSnapshot, settings: DragSettings) -> None:
        self.document, self.settings = document, settings
        self.cancel_event = threading.Event()
        self.prepared: list[Prepared | DragOutcome] = []
        self.live: LiveDrag | None = None
        self.outcome: DragOutcome | None = None
        self.gimp_bar = GimpFeedback()
        self.trace_file = os.environ.get(TRACE_ENV, "")
        width, height = document.width, document.height
        scale = min(4.0, VIEW_MAX_PX / max(width, height))  # small layers large, large ones fitted
        self.view_size = (max(64, round(width * scale)), max(64, round(height * scale)))
        self.transform = ViewTransform.fit((width, height), self.view_size)
        self.layer = bytearray(document.pixels().tight().data)  # the picture shown, previews pasted in
        self.layer_pixbuf: Any = None  # self.layer as a pixbuf, made again after a preview is pasted
        self.pointer: tuple[float, float] | None = None

        self.dialog = GimpUi.Dialog(title="DragGAN drag: live", role="dragd-drag-live")
        self.dialog.add_button("_Cancel", Gtk.ResponseType.CANCEL)
        self.ok = self.dialog.add_button("_OK", Gtk.ResponseType.OK)
        self.ok.set_sensitive(False)
        self.dialog.set_default_response(Gtk.ResponseType.OK)
        box = self.dialog.get_content_area()
        box.set_spacing(6)
        self.picture = Gtk.Image()
        self.events = Gtk.EventBox()
        self.events.add(self.picture)
        self.events.set_halign(Gtk.Align.CENTER)
        self.events.set_valign(Gtk.Align.CENTER)
        self.events.set_can_focus(True)  # so that Return reaches the default button (OK), not a focused Cancel
        self.events.add_events(Gdk.EventMask.BUTTON_PRESS_MASK | Gdk.EventMask.BUTTON_RELEASE_MASK
                               | Gdk.EventMask.POINTER_MOTION_MASK | Gdk.EventMask.SCROLL_MASK
                               | Gdk.EventMask.LEAVE_NOTIFY_MASK)
        self.events.connect("button-press-event", self._on_press)
        self.events.connect("button-release-event", self._on_release)
        self.events.connect("motion-notify-event", self._on_motion)
        self.events.connect("scroll-event", self._on_scroll)
        self.events.connect("leave-notify-event", self._on_leave)
        self.dialog.connect("key-press-event", self._on_key)
        box.pack_start(self.events, True, True, 0)
        hint = Gtk.Label(label="Drag a blue target (or a red handle); Ctrl+click adds a point, right-click removes "
                               "one; wheel or +/- zooms, middle button pans. OK keeps the result.")
        hint.set_line_wrap(True)
        hint.set_max_width_chars(60)
        box.pack_start(hint, False, False, 0)
        self.bar = Gtk.ProgressBar(show_text=True)
        box.pack_start(self.bar, False, False, 0)
        self._render()
        self.dialog.show_all()

    # ---- the run ----

    def run(self) -> DragOutcome:
        worker = threading.Thread(target=self._prepare, name="dragd-prepare", daemon=True)
        worker.start()
        try:
            while self.outcome is None:
                response = self.dialog.run()
                if response == DONE:
                    break
                if response == Gtk.ResponseType.OK and self.live is not None:
                    self.live.commit(time.monotonic())  # waits for the daemon's result (a step at most)
                    self.outcome = self.live.outcome  # also when it had ended by itself (timed out)
                    break
                self._cancel()
        finally:
            self.dialog.destroy()
            self.gimp_bar.done()
        worker.join(timeout=30)
        self._close_daemon()
        self._trace("outcome", cancelled=self.outcome.cancelled, error=self.outcome.error,
                    summary=self.outcome.summary)
        return self.outcome

    def _prepare(self) -> None:
        """The worker thread: checks, connection, session (maybe a GAN inversion); posts to the main thread."""
        dialog = self

        class ThreadFeedback:
            def progress(self, fraction: float, text: str) -> None:
                GLib.idle_add(dialog._show_progress, fraction, text)

            def preview(self, pixels: Any) -> None:
                pass

        try:
            found: Prepared | DragOutcome = prepare_drag(self.document, self.settings, ThreadFeedback(),
                                                         self.cancel_event)
        except (UserError, DragdError) as exc:
            found = error_outcome(exc, self.settings)
        except Exception as exc:  # noqa: BLE001 - the last line of defence: a message, never a traceback
            found = DragOutcome(error=f"DragGAN drag failed unexpectedly: {exc!r}")
        self.prepared.append(found)
        GLib.idle_add(self._on_prepared)

    def _on_prepared(self) -> bool:
        found = self.prepared[0]
        if self.outcome is not None:  # cancelled meanwhile
            return False
        if isinstance(found, DragOutcome):
            self._end(found)
            return False
        try:
            self.live = LiveDrag.start(found)
        except (UserError, DragdError) as exc:
            self._end(error_outcome(exc, self.settings))
            return False
        except Exception as exc:  # noqa: BLE001 - the last line of defence: a message, never a traceback
            self._end(DragOutcome(error=f"DragGAN drag failed unexpectedly: {exc!r}"))
            return False
        self.ok.set_sensitive(True)
        self.events.grab_focus()
        self._render()
        self._trace("live")
        GLib.timeout_add(round(TICK_S * 1000), self._on_tick)
        return False

    def _on_tick(self) -> bool:
        live = self.live
        if live is None or self.outcome is not None:
            return False
        try:
            frame = live.tick(time.monotonic())
        except Exception as exc:  # noqa: BLE001 - a message, never a traceback
            frame = Frame(outcome=DragOutcome(error=f"DragGAN drag failed unexpectedly: {exc!r}"))
        if frame.preview is not None:
            self._paste(frame.preview, frame.preview_at)
        if frame.preview is not None or frame.moved:
            self._render()
            self._trace("preview" if frame.preview is not None else "progress")
        if live.idle:
            self.bar.set_fraction(1.0)
        elif frame.moved:
            self.bar.pulse()  # a live drag has no end to count towards
        self.bar.set_text(frame.status)
        if frame.outcome is None:
            return True
        if live.ending or frame.outcome.edit is None:
            self._end(frame.outcome)
        else:  # timed out by itself: the state stands; OK keeps it, Cancel does not
            self.bar.set_text(f"DragGAN: {frame.outcome.summary}. OK keeps it, Cancel keeps nothing.")
            self.ok.set_sensitive(True)
        return False

    def _end(self, outcome: DragOutcome) -> None:
        self.outcome = outcome
        self.dialog.response(DONE)

    def _cancel(self) -> None:
        self.cancel_event.set()
        if self.live is not None:
            self.live.cancel()
        self.outcome = DragOutcome(cancelled=True)

    def _close_daemon(self) -> None:
        found = self.prepared[0] if self.prepared else None
        if isinstance(found, Prepared):
            found.daemon.close()

    # ---- the picture ----

    def _paste(self, region: Any, at: tuple[int, int]) -> None:
        width = self.document.width
        rows = region.tight().data
        span = region.width * 4
        for row in range(region.height):
            start = ((at[1] + row) * width + at[0]) * 4
            self.layer[start:start + span] = rows[row * span:(row + 1) * span]
        self.layer_pixbuf = None

    def _render(self) -> None:
        """The layer as the transform shows it, with the pairs painted over, into the Gtk.Image."""
        width, height = self.document.width, self.document.height
        view_w, view_h = self.view_size
        if self.layer_pixbuf is None:
            self.layer_pixbuf = GdkPixbuf.Pixbuf.new_from_bytes(GLib.Bytes.new(bytes(self.layer)),
                                                                GdkPixbuf.Colorspace.RGB, True, 8, width, height,
                                                                width * 4)
        source = self.layer_pixbuf
        view = GdkPixbuf.Pixbuf.new(GdkPixbuf.Colorspace.RGB, True, 8, view_w, view_h)
        view.fill(BACKGROUND)
        t = self.transform
        x0, y0 = max(0, int(t.offset[0])), max(0, int(t.offset[1]))
        x1 = min(view_w, int(t.offset[0] + t.scale * width))
        y1 = min(view_h, int(t.offset[1] + t.scale * height))
        if x1 > x0 and y1 > y0:
            interp = GdkPixbuf.InterpType.NEAREST if t.scale >= 2 else GdkPixbuf.InterpType.BILINEAR
            source.scale(view, x0, y0, x1 - x0, y1 - y0, t.offset[0], t.offset[1], t.scale, t.scale, interp)
        pixels = bytearray(view.get_pixels())
        stride = view.get_rowstride()
        tight = bytearray(b"".join(pixels[y * stride:y * stride + view_w * 4] for y in range(view_h)))
        if self.live is not None:
            paint_points(tight, view_w, view_h, self.live.points.pairs, t, self.live.points.grabbed)
        shown = GdkPixbuf.Pixbuf.new_from_bytes(GLib.Bytes.new(bytes(tight)), GdkPixbuf.Colorspace.RGB, True, 8,
                                                view_w, view_h, view_w * 4)
        self.picture.set_from_pixbuf(shown)

    def _show_progress(self, fraction: float, text: str) -> bool:
        self.bar.set_fraction(min(max(fraction, 0.0), 1.0))
        self.bar.set_text(text)
        if self.live is None:
            self.gimp_bar.progress(fraction, text)
        return False

    # ---- the pointer and the keys ----

    def _on_press(self, widget: Any, event: Any) -> bool:
        if self.live is None or self.live.ending or event.type != Gdk.EventType.BUTTON_PRESS:
            return False
        add = bool(event.state & Gdk.ModifierType.CONTROL_MASK)
        self.live.points.press((event.x, event.y), self.transform, event.button, add=add)
        self._after_gesture()
        return True

    def _on_motion(self, widget: Any, event: Any) -> bool:
        self.pointer = (event.x, event.y)
        if self.live is None or self.live.ending:
            return False
        if self.live.points.dragging or event.state & Gdk.ModifierType.BUTTON2_MASK:
            _, self.transform = self.live.points.motion((event.x, event.y), self.transform)
            self._after_gesture()
        return True

    def _on_release(self, widget: Any, event: Any) -> bool:
        if self.live is None or self.live.ending:
            return False
        self.live.points.release((event.x, event.y), self.transform, event.button)
        self._after_gesture()
        return True

    def _on_scroll(self, widget: Any, event: Any) -> bool:
        if self.live is None:
            return False
        if event.direction in (Gdk.ScrollDirection.UP, Gdk.ScrollDirection.DOWN):
            self.transform = self.live.points.scroll(event.direction == Gdk.ScrollDirection.UP,
                                                     (event.x, event.y), self.transform)
            self._render()
            self._trace("view")
        return True

    def _on_leave(self, widget: Any, event: Any) -> bool:
        self.pointer = None
        return False

    def _on_key(self, widget: Any, event: Any) -> bool:
        """Keys for the picture; Escape while a point is held puts it back (else it cancels the dialog)."""
        if self.live is None or self.live.ending:
            return False
        name = Gdk.keyval_name(event.keyval) or ""
        if name == "Escape" and not self.live.points.dragging:
            return False  # the dialog's own Escape: Cancel
        if name == "0":
            self.transform = ViewTransform.fit((self.document.width, self.document.height), self.view_size)
            self._render()
            self._trace("view")
            return True
        before = self.transform
        changed, self.transform = self.live.points.key(name, self.pointer, self.transform)
        if changed or self.transform != before or name == "Escape":
            self._after_gesture()
            return True
        return False

    def _after_gesture(self) -> None:
        """Shows the points as they are now; the timer sends them (throttled), without waiting for it."""
        self._render()
        if self.live is not None and self.live.points.message:
            self.bar.set_text(self.live.points.message)
        self._trace("view")

    # ---- the test trace ----

    def _trace(self, event: str, **extra: Any) -> None:
        if not self.trace_file:
            return
        record: dict[str, Any] = {"event": event, "time": time.monotonic(), **extra}
        live = self.live
        if live is not None:
            window = self.events.get_window()
            origin = window.get_origin()[1:] if window is not None else (0, 0)
            record.update(
                origin=list(origin), scale=self.transform.scale, offset=list(self.transform.offset),
                pairs=[{"key": p.key, "handle": list(p.handle), "target": list(p.target),
                        "target_screen": _plus(origin, self.transform.to_view(p.target)),
                        "handle_screen": _plus(origin, self.transform.to_view(p.handle))}
                       for p in live.points.pairs],
                revision_sent=live.revision_sent, revision_shown=live.revision_shown, idle=live.idle,
                steps=live.steps)
        with open(self.trace_file, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        if event == "preview":  # what the artist sees now, for a look by eye after the test
            self.picture.get_pixbuf().savev(f"{self.trace_file}.png", "png", [], [])


def _plus(origin: Any, point: tuple[float, float]) -> list[float]:
    return [origin[0] + point[0], origin[1] + point[1]]
