"""Runs the docker's network work on worker threads, and brings the answers back to Krita's UI thread.

Krita's API and widgets may only be touched from the UI thread, and a drag blocks for minutes, so every call
to the daemon runs on its own Python thread; what it reports travels back through a queued Qt signal (a signal
emitted from another thread is delivered in the receiver's thread, here the UI thread). The client is
thread-safe (`protocol.client`), so Stop can cancel while the drag's thread waits for its result.
Callbacks pass through `gate.UI`: one never starts inside another (Krita's busy waits deliver queued signals).
"""

from __future__ import annotations

import sys
import threading
import traceback
from collections.abc import Callable
from typing import Any

from PyQt5.QtCore import QObject, pyqtSignal

from .gate import UI


class _UiThreadBridge(QObject):
    """Lives in the UI thread; `call` carries a function to run there."""

    call = pyqtSignal(object)

    def __init__(self) -> None:
        super().__init__()
        self.call.connect(self._run)

    def _run(self, function: Callable[[], None]) -> None:
        UI.run(function)  # after the callback still running, when this one arrived inside Krita's busy wait


class QtRunner:
    """`controller.Runner` for Krita. Create it on the UI thread."""

    def __init__(self) -> None:
        self._bridge = _UiThreadBridge()

    def submit(self, work: Callable[[Callable[[Any], None]], Any], done: Callable[[Any], None],
               failed: Callable[[BaseException], None],
               progress: Callable[[Any], None] | None = None) -> None:
        post = self._bridge.call.emit

        def report(item: Any) -> None:
            if progress is not None:
                post(lambda: _guarded(progress, item, failed))

        def run() -> None:
            try:
                result = work(report)
            except BaseException as exc:  # every failure must reach the panel, not the console
                error = exc  # `exc` is unbound after the except block; the lambda runs later
                post(lambda: _guarded(failed, error, None))
                return
            post(lambda: _guarded(done, result, failed))

        threading.Thread(target=run, name="dragd-krita-job", daemon=True).start()


def _guarded(function: Callable[[Any], None], argument: Any,
             failed: Callable[[BaseException], None] | None) -> None:
    """Runs a UI-thread callback; a bug in it goes to `failed` (shown in the panel), never up into Qt."""
    try:
        function(argument)
    except Exception as exc:
        if failed is None:
            traceback.print_exc(file=sys.stderr)
            return
        try:
            failed(exc)
        except Exception:
            traceback.print_exc(file=sys.stderr)
