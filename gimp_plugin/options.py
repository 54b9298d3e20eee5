"""The options of the two GIMP procedures, their checks, and the check for the plug-in's two Python dependencies.

Imports only the parts of `protocol` that need neither pyzmq nor msgpack, so GIMP can register the procedures,
and the plug-in can say what is missing, where those are not installed. The defaults repeat the protocol's
(`messages.DragOptions`, `messages.GenerateRequest`); a unit test keeps them equal. The ranges are the
protocol's (`protocol.limits`): a value outside them is an error that names the option, never a silent default.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..protocol.limits import DEFAULT_LIMITS, DEFAULT_TRUNCATION, STEP_SIZE_MAX, TRUNCATION_MAX, Limits

if TYPE_CHECKING:
    from ..protocol import messages


MODEL_DEFAULT = -1.0  # mask strength "not set": GIMP's procedure arguments cannot be empty
INT_MIN, INT_MAX = -(2**31), 2**31 - 1  # a GIMP int argument's own range
FLOAT_MAX = 1.7976931348623157e308  # a GIMP double argument's own range: +-FLOAT_MAX
# What the options dialog's sliders span: the protocol's ranges (the arguments themselves accept anything, and
# DragSettings.problem / GenerateSettings.problem refuse what is out of range with a message).
SLIDER_RANGES = {"step-size": (0.0, STEP_SIZE_MAX), "max-steps": (1, DEFAULT_LIMITS.max_steps),
                 "mask-strength": (MODEL_DEFAULT, 100.0),  # the slider's span; typed values up to MASK_STRENGTH_MAX
                 "seed": (0, INT_MAX), "truncation": (0.0, TRUNCATION_MAX)}
# The procedures' argument names for the protocol's option names, so messages say what the script wrote.
ARGUMENT_NAMES = {"step_size": "step-size", "max_steps": "max-steps", "latent_space": "latent-space",
                  "mask_strength": "mask-strength", "seed": "seed", "truncation": "truncation"}


@dataclass(frozen=True)
class DragSettings:
    """What "DragGAN drag..." takes. Empty strings, a zero step size and a negative mask strength mean "the
    default" (the daemon's, or the model's own)."""

    model: str = ""  # only for a layer dragd did not make: the model to open it with
    step_size: float = 0.0  # 0: the model's own default step size
    max_steps: int = 300
    latent_space: str = "w+"  # or "w"
    mask_strength: float = MODEL_DEFAULT  # MODEL_DEFAULT: the model's own (2 for the embedded face model, else 20)
    address: str = ""  # empty: $DRAGD_ADDRESS, else the settings file's, else the protocol's default address
    settings_file: str = ""  # the plug-in's settings file (settings.py); empty: none

    def problem(self, limits: Limits = DEFAULT_LIMITS) -> str | None:
        """None when every option is in range; else a sentence naming the argument and its range."""
        from ..protocol.texts import option_problem

        if self.step_size < 0:
            return (f"The option step-size is out of range: {self.step_size:g} is negative. Use 0 for the "
                    "model's own step size, or a learning rate above 0.")
        if self.mask_strength < 0 and self.mask_strength != MODEL_DEFAULT:
            return (f"The option mask-strength is out of range: {self.mask_strength:g} is negative. Use "
                    f"{MODEL_DEFAULT:g} for the model's own strength, or a value from 0.")
        return option_problem(self.protocol_options(), limits, ARGUMENT_NAMES)

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
    truncation: float = DEFAULT_TRUNCATION
    address: str = ""
    settings_file: str = ""

    def problem(self, limits: Limits = DEFAULT_LIMITS) -> str | None:
        from ..protocol.messages import GenerateRequest
        from ..protocol.texts import option_problem

        return option_problem(GenerateRequest(self.seed, None, self.truncation), limits, ARGUMENT_NAMES)


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
