"""The bodies of every message but the drag's (protocol/drag_messages.py): requests, results, progress, and the
tables that map a request type to them. protocol/messages.py lists them all and builds and checks envelopes."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

from .drag_messages import DragProgress, DragRequest, DragResult, LiveUpdateRequest, LiveUpdateResult
from .fields import (
    COUNT,
    LATENT_ROWS,
    MASK,
    OFFSET,
    RECT,
    RGBA,
    W_DIM,
    RequestId,
    latent_bytes,
    latent_fits,
    mask_fits,
)
from .images import Image
from .limits import DEFAULT_PASTE, DEFAULT_TRUNCATION, MAX_SEED, PASTE_MODES, TRUNCATION_MAX, Limits
from .wire import (
    ID,
    NAME,
    SESSION,
    TEXT,
    array,
    bad,
    boolean,
    fixed,
    integer,
    nested,
    number,
    one_of,
    optional,
    scalar_map,
    wire,
)

ENVELOPE_KEYS = ("v", "id", "type", "request_type")


# ---- parts shared by several messages ----------------------------------------------------------------------


@dataclass(frozen=True)
class InversionOptions:
    """How `open_session` inverts. None means: the daemon's default (its configuration)."""

    w_steps: int | None = wire(optional(integer(0, 100_000)), None)  # projection steps in W
    wplus_steps: int | None = wire(optional(integer(0, 100_000)), None)  # then in W+
    tuning_steps: int | None = wire(optional(integer(0, 100_000)), None)  # pivotal tuning of the generator copy
    align: str = wire(one_of("auto", "plain"), "auto")  # auto: align a face for face models; plain: never
    feather: int | None = wire(optional(integer(0, 4096)), None)  # paste-back feather, px; None: 4 % of the square
    # paste-back: "carry" moves the layer's own pixels along the edit; "reconstruction" pastes the generator's image
    paste: str = wire(one_of(*PASTE_MODES), DEFAULT_PASTE)


@dataclass(frozen=True)
class ModelInfo:
    name: str = wire(NAME)
    resolution: tuple[int, int] = wire(fixed(integer(1, 2**20), integer(1, 2**20)))  # width, height
    domain: str = wire(NAME)  # "faces", "cats", ...
    default_step_size: float = wire(number(0, 1, lo_open=True))
    description: str = wire(TEXT)
    default: bool = wire(boolean)  # the model `generate` / `open_session` use when none is named


@dataclass(frozen=True)
class Quality:
    """How well an inversion reproduces the input region."""

    psnr: float = wire(number(allow_inf=True))  # dB; +inf for a perfect reconstruction
    lpips: float | None = wire(optional(number(0)), None)  # None when the daemon has no LPIPS network


@dataclass(frozen=True)
class Transform:
    """Affine map from session-frame pixel centres to the model's: x' = a x + b y + c, y' = d x + e y + f."""

    matrix: tuple[float, float, float, float, float, float] = wire(fixed(*[number()] * 6))


@dataclass(frozen=True)
class Memory:
    rss_bytes: int | None = wire(optional(integer(0)), None)
    device_allocated_bytes: int | None = wire(optional(integer(0)), None)
    device_total_bytes: int | None = wire(optional(integer(0)), None)


# ---- requests ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HelloRequest:
    TYPE: ClassVar[str] = "hello"
    client: str = wire(NAME)  # e.g. "krita-plugin 0.1"
    protocol: int = wire(integer(0, 2**31))


@dataclass(frozen=True)
class PingRequest:
    TYPE: ClassVar[str] = "ping"


@dataclass(frozen=True)
class ListModelsRequest:
    TYPE: ClassVar[str] = "list_models"


@dataclass(frozen=True)
class GenerateRequest:
    TYPE: ClassVar[str] = "generate"
    seed: int = wire(integer(0, MAX_SEED))
    model: str | None = wire(optional(NAME), None)
    truncation: float = wire(number(0, TRUNCATION_MAX), DEFAULT_TRUNCATION)


@dataclass(frozen=True)
class OpenSessionRequest:
    TYPE: ClassVar[str] = "open_session"
    image: Image = wire(RGBA)
    model: str | None = wire(optional(NAME), None)
    region: tuple[int, int, int, int] | None = wire(optional(RECT), None)  # x, y, width, height
    mask: Image | None = wire(optional(MASK), None)  # same size as image; non-zero: part of the region
    options: InversionOptions = wire(nested(InversionOptions), InversionOptions())

    def cross_check(self, path: str, limits: Limits) -> None:
        mask_fits(self.mask, self.image.width, self.image.height, f"{path}.mask")
        if self.region is not None:
            x, y, w, h = self.region
            if x + w > self.image.width or y + h > self.image.height:
                raise bad(f"{path}.region", f"{self.region} reaches outside the "
                                            f"{self.image.width}x{self.image.height} image")


@dataclass(frozen=True)
class CancelRequest:
    TYPE: ClassVar[str] = "cancel"
    target: RequestId = wire(ID)  # the id of a request this same client sent


@dataclass(frozen=True)
class UndoRequest:
    TYPE: ClassVar[str] = "undo"
    session: str = wire(SESSION)


@dataclass(frozen=True)
class RedoRequest:
    TYPE: ClassVar[str] = "redo"
    session: str = wire(SESSION)


@dataclass(frozen=True)
class CloseSessionRequest:
    TYPE: ClassVar[str] = "close_session"
    session: str = wire(SESSION)


@dataclass(frozen=True)
class StatusRequest:
    TYPE: ClassVar[str] = "status"


@dataclass(frozen=True)
class ShutdownRequest:
    TYPE: ClassVar[str] = "shutdown"


@dataclass(frozen=True)
class HeartbeatRequest:
    TYPE: ClassVar[str] = "heartbeat"
    sessions: tuple[str, ...] = wire(array(SESSION, max_length=1024), ())  # sessions to keep alive


@dataclass(frozen=True)
class SessionInfoRequest:
    """Where a session stands, e.g. after the daemon restarted (SPEC.md, "Sessions across restarts")."""

    TYPE: ClassVar[str] = "session_info"
    session: str = wire(SESSION)


@dataclass(frozen=True)
class StateRequest:
    """The latent of a session's current state, for an editor's state binding (protocol.binding)."""

    TYPE: ClassVar[str] = "state"
    session: str = wire(SESSION)


@dataclass(frozen=True)
class RestoreRequest:
    """Continue from a latent an editor stored: with `session`, push it onto that session as its new state
    (a state the editor shows again after its own undo); without, open a new generated session of `model`."""

    TYPE: ClassVar[str] = "restore"
    latent: bytes = wire(latent_bytes)  # float32 little-endian, shape[0] x shape[1], row-major
    shape: tuple[int, int] = wire(fixed(LATENT_ROWS, W_DIM))  # num_ws, w_dim
    session: str | None = wire(optional(SESSION), None)
    model: str | None = wire(optional(NAME), None)  # without session: the model (None: the default)

    def cross_check(self, path: str, limits: Limits) -> None:
        latent_fits(self.latent, self.shape, f"{path}.latent")


RequestBody = (
    HelloRequest | PingRequest | ListModelsRequest | GenerateRequest | OpenSessionRequest | DragRequest
    | CancelRequest | UndoRequest | RedoRequest | CloseSessionRequest | StatusRequest | ShutdownRequest
    | HeartbeatRequest | StateRequest | RestoreRequest | SessionInfoRequest | LiveUpdateRequest
)
REQUESTS: dict[str, type] = {cls.TYPE: cls for cls in RequestBody.__args__}  # type: ignore[attr-defined]


# ---- results (the final reply of a successful request) ----------------------------------------------------


@dataclass(frozen=True)
class HelloResult:
    protocol: int = wire(integer(0, 2**31))
    daemon_version: str = wire(NAME)
    device: str = wire(NAME)  # e.g. "cuda:0 (NVIDIA H100)", "cpu"
    models: tuple[ModelInfo, ...] = wire(array(nested(ModelInfo)))
    limits: Limits = wire(nested(Limits))
    capabilities: tuple[str, ...] = wire(array(NAME, max_length=256))  # see Capability


@dataclass(frozen=True)
class PingResult:
    uptime_s: float = wire(number(0))


@dataclass(frozen=True)
class ListModelsResult:
    models: tuple[ModelInfo, ...] = wire(array(nested(ModelInfo)))


@dataclass(frozen=True)
class GenerateResult:
    session: str = wire(SESSION)
    image: Image = wire(RGBA)  # the whole session frame
    width: int = wire(integer(1, 2**31))
    height: int = wire(integer(1, 2**31))
    model: str = wire(NAME)  # the model used (the default when the request named none)

    def cross_check(self, path: str, limits: Limits) -> None:
        if (self.width, self.height) != (self.image.width, self.image.height):
            raise bad(path, "width/height differ from the image's")


@dataclass(frozen=True)
class OpenSessionResult:
    session: str = wire(SESSION)
    image: Image = wire(RGBA)  # the reconstruction, to be placed at `offset` in the submitted image
    offset: tuple[int, int] = wire(OFFSET)
    quality: Quality = wire(nested(Quality))
    transform: Transform | None = wire(optional(nested(Transform)), None)
    notes: tuple[str, ...] = wire(array(TEXT, max_length=64), ())  # what the user should know (fallbacks)
    model: str | None = wire(optional(NAME), None)  # the model used (the default when the request named none)


@dataclass(frozen=True)
class CancelResult:
    # "running": the target stops soon and ends with its own final reply (a drag: a result, stopped=cancelled);
    # "waiting": it never started and ends with the error `cancelled`.
    target_state: str = wire(one_of("running", "waiting"))


@dataclass(frozen=True)
class HistoryResult:
    """The result of `undo` and `redo`: the session's image at its new place in history."""

    image: Image = wire(RGBA)
    offset: tuple[int, int] = wire(OFFSET)
    history_index: int = wire(COUNT)
    can_undo: bool = wire(boolean)
    can_redo: bool = wire(boolean)


@dataclass(frozen=True)
class CloseSessionResult:
    pass


@dataclass(frozen=True)
class StatusResult:
    daemon_version: str = wire(NAME)
    device: str = wire(NAME)
    sessions: int = wire(COUNT)
    clients: int = wire(COUNT)  # clients heard from within session_idle_timeout_s
    queue: int = wire(COUNT)  # requests waiting
    running: str | None = wire(optional(NAME))  # type of the request running now
    memory: Memory = wire(nested(Memory))
    uptime_s: float = wire(number(0))


@dataclass(frozen=True)
class ShutdownResult:
    pass


@dataclass(frozen=True)
class HeartbeatResult:
    sessions: tuple[str, ...] = wire(array(SESSION, max_length=1024))  # those asked about that are alive


@dataclass(frozen=True)
class SessionInfoResult:
    model: str = wire(NAME)
    history_index: int = wire(COUNT)  # the current state; 0 is the session's first image
    history_length: int = wire(integer(1, 2**31))  # states kept for undo/redo
    can_undo: bool = wire(boolean)
    can_redo: bool = wire(boolean)
    restored: bool = wire(boolean)  # read back from the daemon's disk (it restarted, or had set it aside)
    interrupted: str | None = wire(optional(TEXT), None)  # the request a daemon stop cut short, kept state


@dataclass(frozen=True)
class StateResult:
    model: str = wire(NAME)
    history_index: int = wire(COUNT)
    latent: bytes = wire(latent_bytes)  # float32 little-endian, shape[0] x shape[1], row-major
    shape: tuple[int, int] = wire(fixed(LATENT_ROWS, W_DIM))  # num_ws, w_dim
    opened: bool = wire(boolean)  # opened from a layer (its tuned generator is not in the latent)

    def cross_check(self, path: str, limits: Limits) -> None:
        latent_fits(self.latent, self.shape, f"{path}.latent")


@dataclass(frozen=True)
class RestoreResult:
    session: str = wire(SESSION)
    image: Image = wire(RGBA)  # the restored state's picture, placed at `offset` in the session frame
    offset: tuple[int, int] = wire(OFFSET)
    history_index: int = wire(COUNT)
    model: str = wire(NAME)


RESULTS: dict[str, type] = {
    "hello": HelloResult, "ping": PingResult, "list_models": ListModelsResult, "generate": GenerateResult,
    "open_session": OpenSessionResult, "drag": DragResult, "cancel": CancelResult, "undo": HistoryResult,
    "redo": HistoryResult, "close_session": CloseSessionResult, "status": StatusResult,
    "shutdown": ShutdownResult, "heartbeat": HeartbeatResult, "state": StateResult, "restore": RestoreResult,
    "session_info": SessionInfoResult, "live_update": LiveUpdateResult,
}


# ---- progress (zero or more, before the final reply) --------------------------------------------------------


@dataclass(frozen=True)
class InversionProgress:
    stage: str = wire(NAME)  # e.g. "align", "projection", "tuning"
    step: int = wire(COUNT)
    total: int = wire(COUNT)


@dataclass(frozen=True)
class Waiting:
    """A keepalive: the request is accepted but not finished. Sent when it has to wait behind others, and
    again whenever `keepalive_s` passed without any other message for it (SPEC.md, "Liveness")."""

    position: int = wire(COUNT)  # requests ahead of it (the running one included); 0: it is running


@dataclass(frozen=True)
class ErrorBody:
    code: str = wire(NAME)  # an ErrorCode; clients must accept codes they do not know
    message: str = wire(TEXT)
    details: dict[str, Any] | None = wire(optional(scalar_map()), None)


PROGRESS: dict[str, type] = {"drag": DragProgress, "open_session": InversionProgress}
REPLY_KINDS = ("result", "progress", "waiting", "error")


def _no_envelope_clash() -> None:
    for cls in [*REQUESTS.values(), *RESULTS.values(), *PROGRESS.values(), Waiting, ErrorBody]:
        clash = {f.name for f in dataclasses.fields(cls)} & set(ENVELOPE_KEYS)
        assert not clash, f"{cls.__name__} has envelope field names {clash}"


_no_envelope_clash()


class Capability:
    """Strings a daemon lists in `hello.capabilities`."""

    GENERATE = "generate"
    DRAG = "drag"
    INVERT = "open_session"  # real images can be opened (inversion is implemented)
    UNDO = "undo"  # undo / redo
    PREVIEWS = "previews"  # drag options.preview_every is honoured
    RESTORE = "restore"  # `state` and `restore` (editors' state bindings) are understood
    CURVE = "curve"  # the daemon listens with CurveZMQ encryption
    LIVE = "live"  # live drags: drag options.live and `live_update`
