"""Protocol constants and the size limits a daemon enforces (and announces in its `hello` result)."""

from __future__ import annotations

from dataclasses import dataclass

from .wire import integer, number, wire

PROTOCOL_VERSION = 1
SUPPORTED_PROTOCOLS = (1,)  # versions this package can speak; a daemon answers others with version_mismatch
DEFAULT_ADDRESS = "tcp://127.0.0.1:5557"

MAX_SEED = 2**32 - 1  # NumPy's RandomState, which turns a seed into the latent z, takes seeds in [0, 2**32)
DEFAULT_TRUNCATION = 0.7  # truncation psi of a generated image, as DragGAN's GUI starts
MAX_POINTS_CEILING = 4096  # the decoder's array length limit; no daemon can accept more points than this

# The ranges of the drag and generate options. The wire format checks them (messages.DragOptions,
# messages.GenerateRequest); the plugins' widgets and script arguments take theirs from here. max_steps' upper
# bound is a daemon limit (`Limits.max_steps`), announced in `hello`.
STEP_SIZE_MAX = 1.0  # Adam learning rate, in (0, STEP_SIZE_MAX]
MASK_STRENGTH_MAX = 1e6  # lambda of the mask term, in [0, MASK_STRENGTH_MAX]
TRUNCATION_MAX = 2.0  # generate: truncation psi in [0, TRUNCATION_MAX]
# open_session's paste-back (messages.InversionOptions.paste): "carry" moves the photo's own pixels along the
# edit; "reconstruction" pastes the generator's picture (for comparison). The plugins' choices come from here.
PASTE_MODES = ("carry", "reconstruction")
DEFAULT_PASTE = "carry"
# Live drags (SPEC.md, "Live drags"): a live drag whose points did not change (and that was not committed) for
# its timeout ends ("timeout") and keeps its state; acknowledgements do not count. `drag` options.live_timeout_s
# is in (0, LIVE_TIMEOUT_MAX_S]; nil: DEFAULT_LIVE_TIMEOUT_S.
DEFAULT_LIVE_TIMEOUT_S = 600.0
LIVE_TIMEOUT_MAX_S = 3600.0


@dataclass(frozen=True)
class Limits:
    """What a daemon accepts. Requests beyond these get `too_large` or `limit_exceeded`."""

    # One frame (one message): covers an RGBA image plus its L mask at max_image_pixels.
    max_frame_bytes: int = wire(integer(1024, 2**40), 256 * 1024 * 1024)
    max_image_side: int = wire(integer(1, 2**20), 16384)  # width and height, each
    max_image_pixels: int = wire(integer(1, 2**40), 48_000_000)  # width * height
    max_points: int = wire(integer(1, MAX_POINTS_CEILING), 128)  # handle/target pairs in one drag
    max_steps: int = wire(integer(1, 2**31), 2000)  # drag options.max_steps
    max_sessions: int = wire(integer(0, 2**31), 16)  # open sessions, all clients together
    max_queue: int = wire(integer(0, 2**31), 32)  # requests waiting behind the running one
    session_idle_timeout_s: float = wire(number(0, lo_open=True, allow_inf=True), 3600.0)  # then closed
    keepalive_s: float = wire(number(0, 3600, lo_open=True), 2.0)  # see SPEC.md, "Queueing and liveness"

    @classmethod
    def permissive(cls) -> Limits:
        """Limits that only the protocol's own ceilings bound: what a client checks before it knows better."""
        return cls(
            max_frame_bytes=2**40, max_image_side=2**20, max_image_pixels=2**40,
            max_points=MAX_POINTS_CEILING, max_steps=2**31, max_sessions=2**31, max_queue=2**31,
            session_idle_timeout_s=float("inf"), keepalive_s=3600.0,
        )


DEFAULT_LIMITS = Limits()
