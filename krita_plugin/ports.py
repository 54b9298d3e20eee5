"""What the docker's controller needs around it, as protocols: the document (`Canvas`), Krita (`Workspace`),
a way to run work off the UI thread (`Runner`) and the panel (`View`). `adapter.py` implements them on Krita's
API, `runner.py` on Qt threads; the unit tests have fakes (tests/krita_plugin/krita_fakes.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ..protocol.binding import Binding
    from ..protocol.images import Image
    from .controller import PanelState

Point = tuple[float, float]
LayerId = str  # a Krita node's uniqueId, as text
Layer = tuple[LayerId, str, str]  # (id, name, Krita node type)
Report = Callable[[Any], None]  # a job's way to send progress to the UI thread


class Canvas(Protocol):
    """One open Krita document (adapter.KritaCanvas; tests: a fake). Pixels are RGBA, document-sized."""

    def key(self) -> str: ...  # identifies the document while it is open
    def is_open(self) -> bool: ...
    def size(self) -> tuple[int, int]: ...
    def problem(self) -> str: ...  # why layers cannot be written here (e.g. a colour model); empty: none
    def active_layer(self) -> Layer | None: ...
    def layer_below_points(self) -> Layer | None: ...
    def layer_under(self, layer: LayerId) -> LayerId | None: ...  # its sibling right below it
    def layer_exists(self, layer: LayerId) -> bool: ...
    def layer_name(self, layer: LayerId) -> str | None: ...
    def layer_names(self) -> list[str]: ...
    def layer_pixels(self, layer: LayerId) -> Image: ...  # 8-bit RGBA, what the model sees
    def layer_digest(self, layer: LayerId) -> str: ...  # protocol.binding.pixels_digest at the layer's precision
    def bindings(self) -> dict[LayerId, Binding]: ...
    def set_binding(self, layer: LayerId, binding: Binding | None) -> None: ...
    def selection(self) -> Image | None: ...  # L mask, None when nothing is selected
    def has_points_layer(self) -> bool: ...
    def ensure_points_layer(self) -> None: ...  # creates it on top when missing; makes it the active layer
    def point_lines(self) -> list[tuple[str, list[Point]]]: ...  # (line id, nodes), pixels, corner origin
    def move_handles(self, handles: dict[str, Point]) -> None: ...  # line id -> its first node's new place
    def add_layer(self, name: str, pixels: Image, above: LayerId | None, source: LayerId | None = None,
                  edit: Any = None) -> LayerId: ...
    def copy_layer(self, layer: LayerId) -> Any: ...  # a copy kept outside the document (masks too), for add_copy
    def add_copy(self, name: str, copy: Any, above: LayerId | None) -> LayerId: ...
    def remove_layer(self, layer: LayerId) -> None: ...
    def show_preview(self, pixels: Image, above: LayerId) -> None: ...
    def remove_preview(self) -> None: ...


class Workspace(Protocol):
    """Krita itself: its documents and settings (adapter.KritaWorkspace; tests: a fake)."""

    def active_canvas(self) -> Canvas | None: ...
    def new_canvas(self, width: int, height: int, name: str) -> Canvas: ...
    def setting(self, name: str, default: str = "") -> str: ...


Report = Callable[[Any], None]  # a job's way to send progress to the UI thread


class Runner(Protocol):
    """Runs `work(report)` off the UI thread; `done`, `failed` and `progress` are called on the UI thread."""

    def submit(self, work: Callable[[Report], Any], done: Callable[[Any], None],
               failed: Callable[[BaseException], None], progress: Callable[[Any], None] | None = None) -> None: ...


class View(Protocol):
    def render(self, state: PanelState) -> None: ...
