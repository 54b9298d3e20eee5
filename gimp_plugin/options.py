"""The options of the two GIMP procedures, and the check for the plug-in's two Python dependencies.

Imports nothing of `protocol` (whose package imports pyzmq and msgpack), so GIMP can register the procedures,
and the plug-in can say what is missing, where those are not installed. The defaults repeat the protocol's
(`messages.DragOptions`, `messages.GenerateRequest`); a unit test keeps them equal.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..protocol import messages


MODEL_DEFAULT = -1.0  # a number argument's "not set": GIMP's procedure arguments cannot be empty


@dataclass(frozen=True)
class DragSettings:
    """What "DragGAN drag..." takes. Empty strings, a zero step size and a negative mask strength mean "the
    default" (the daemon's, or the model's own)."""

    model: str = ""  # only for a layer dragd did not make: the model to open it with
    step_size: float = 0.0  # 0: the model's own default step size
    max_steps: int = 300
    latent_space: str = "w+"  # or "w"
    mask_strength: float = MODEL_DEFAULT  # < 0: the model's own (2 for the embedded face model, else 20)
    address: str = ""  # empty: $DRAGD_ADDRESS, else the protocol's default address

    def protocol_options(self, preview_every: int = 0) -> messages.DragOptions:
        from ..protocol import messages

        return messages.DragOptions(
            step_size=self.step_size if self.step_size > 0 else None, max_steps=self.max_steps,
            latent_space=self.latent_space, preview_every=preview_every,
            mask_strength=self.mask_strength if self.mask_strength >= 0 else None,
        )


@dataclass(frozen=True)
class GenerateSettings:
    """What "DragGAN new from model..." takes."""

    model: str = ""  # empty: the daemon's default model
    seed: int = 0
    truncation: float = 0.7
    address: str = ""


DEFAULTS_DRAG = DragSettings()
DEFAULTS_GENERATE = GenerateSettings()

INSTALL_HINT = (
    "On Debian or Ubuntu: sudo apt install python3-zmq python3-msgpack. On Fedora: sudo dnf install "
    "python3-zmq python3-msgpack. For a GIMP with its own bundled Python (Windows, macOS, Flatpak, AppImage), "
    "install the plug-in again with wheels that match that Python: python -m dragd.install.gimp --wheel FILE ..."
)


def missing_dependencies() -> str | None:
    """None when pyzmq and msgpack import in this Python; else a message saying what to install."""
    missing = [name for module, name in (("zmq", "pyzmq"), ("msgpack", "msgpack"))
               if importlib.util.find_spec(module) is None]
    if not missing:
        return None
    return f"DragGAN needs {' and '.join(missing)} in GIMP's Python, and cannot find it. {INSTALL_HINT}"
