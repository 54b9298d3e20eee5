"""The plugin's UI-thread work, one piece at a time: never re-entered from inside Krita.

Many of Krita's API calls wait for the image (`KisImage::waitForDone`, in `VectorLayer.addShapesFromSvg`,
`Shape.remove`, `Node.addChildNode`, ...). Waiting on the UI thread, Krita 5.1 runs a nested event loop
(`KisBusyWaitBroker`'s feedback: `processEvents(ExcludeUserInputEvents)`) that delivers queued signals, timers and
deferred deletes, so without a gate the next drag progress ran *inside* the previous one's half-done redraw of the
drag lines. Seen in real Krita 5.1.5 (a repro that drags and closes the document mid-drag, 3 of 3 runs):
`move_handles` entered again at depth 2. Closing then crashed Krita in 4 of 13 runs: a segfault in
`KoShapeDeleteCommand::~KoShapeDeleteCommand` while the closed document's undo stack was cleared (most likely a
shape removed twice, by the outer and the nested redraw), or the closing document's deferred delete ran inside
such a loop, under the call still using it (SAFE ASSERT `!sanityCheckPointer.isValid()`, KisDocument.cpp:678,
then a segfault). With this gate (and writes only into the document in front, controller._write_in_front):
no re-entry and no crash.

`UI.run(work)` runs `work` now, or, when called from inside another piece of work (a nested event loop), queues it
to run right after that one, in order. Pure Python (no Qt), so the unit tests drive it.
"""

from __future__ import annotations

import sys
import traceback
from collections import deque
from collections.abc import Callable


class OneAtATime:
    """Runs UI-thread work so that no piece starts while another is still running."""

    def __init__(self) -> None:
        self._running = False
        self._waiting: deque[Callable[[], None]] = deque()

    @property
    def busy(self) -> bool:
        """True while a piece of work runs (code that runs now is inside Krita's nested event loop)."""
        return self._running

    def run(self, work: Callable[[], None]) -> None:
        """`work()` now, or right after the piece that is running (in the order they came)."""
        if self._running:
            self._waiting.append(work)
            return
        self._running = True
        try:
            _call(work)
            while self._waiting:
                _call(self._waiting.popleft())
        finally:
            self._running = False

    def run_unless_busy(self, work: Callable[[], None]) -> None:
        """For a timer's tick: skipped while other work runs (the next tick does it)."""
        if not self._running:
            self.run(work)


def _call(work: Callable[[], None]) -> None:
    try:
        work()
    except Exception:  # one failing piece must not drop the ones queued behind it
        traceback.print_exc(file=sys.stderr)


UI = OneAtATime()  # the one gate of the plugin's UI thread (the runner's callbacks, the docker's timers, actions)
