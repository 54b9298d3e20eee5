"""Every message of the dragd protocol, in one place: fields, types, ranges, defaults (SPEC.md explains them).

Requests arrive as `{"v", "id", "type", ...fields}`; replies as `{"v", "id", "type": "result" | "progress" |
"waiting" | "error", "request_type", ...fields}`. `validate_request` / `validate_reply` turn a decoded map into
a typed `Request` / `Reply` (or raise `ProtocolError`); `Request.result(...)` and friends, `request_message`
and `error_message` build the maps to `encode`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

from .errors import DragdError, ErrorCode, ProtocolError
from .images import Image
from .limits import (
    DEFAULT_PASTE,
    DEFAULT_TRUNCATION,
    LIVE_TIMEOUT_MAX_S,
    MASK_STRENGTH_MAX,
    MAX_SEED,
    PASTE_MODES,
    PROTOCOL_VERSION,
    STEP_SIZE_MAX,
    SUPPORTED_PROTOCOLS,
    TRUNCATION_MAX,
    Limits,
)
from .wire import (
    ID,
    KEY,
    NAME,
    POINT,
    SESSION,
    TEXT,
    Check,
    array,
    bad,
    boolean,
    fixed,
    from_wire,
    integer,
    nested,
    number,
    one_of,
    optional,
    scalar_map,
    shorten,
    to_wire,
    type_name,
    wire,
)

RequestId = str | int
PairKey = str | int  # names a point pair across a live drag's updates (SPEC.md, "Live drags")
Point = tuple[float, float]  # (x, y) with pixel centres at integer coordinates (SPEC.md, "Coordinates")

ENVELOPE_KEYS = ("v", "id", "type", "request_type")


def image(mode: str) -> Check:
    """An `Image` of the given mode."""

    def check(value: Any, path: str, limits: Limits) -> Image:
        result = from_wire(Image, value, path, limits)
        if result.mode != mode:
            raise bad(path, f"expected a {mode} image, got {result.mode}")
        return result

    return check


RGBA, MASK = image("RGBA"), image("L")
RECT = fixed(integer(0, 2**31), integer(0, 2**31), integer(1, 2**31), integer(1, 2**31))  # x, y, width, height
OFFSET = fixed(integer(-(2**31), 2**31), integer(-(2**31), 2**31))  # where an image's top-left pixel lies
COUNT = integer(0, 2**31)
SEQ = integer(1, 2**53)  # live progress numbers and update revisions (exact in any client's numbers)
LATENT_ROWS, W_DIM = integer(1, 64), integer(1, 4096)  # a latent's num_ws and w_dim (protocol.binding's bounds)


def latent_bytes(value: Any, path: str, limits: Limits) -> bytes:
    """A latent's float32 little-endian values, row-major; its length is checked against its shape."""
    if not isinstance(value, bytes):
        raise bad(path, f"expected bytes, got {type_name(value)}")
    if not value or len(value) > 4 * 64 * 4096:
        raise bad(path, f"{len(value)} bytes is not the size of a latent")
    return value


def _latent_fits(latent: bytes, shape: tuple[int, int], path: str) -> None:
    if len(latent) != 4 * shape[0] * shape[1]:
        raise bad(path, f"latent holds {len(latent)} bytes; a {shape[0]}x{shape[1]} float32 latent has "
                        f"{4 * shape[0] * shape[1]}")


def _mask_fits(mask: Image | None, width: int, height: int, path: str) -> None:
    if mask is not None and (mask.width, mask.height) != (width, height):
        raise bad(path, f"mask is {mask.width}x{mask.height}, the image {width}x{height}")


# ---- parts shared by several messages ----------------------------------------------------------------------


def _unique_keys(keys: list[PairKey], path: str) -> None:
    seen: set[tuple[type, PairKey]] = set()
    for index, key in enumerate(keys):
        if (type(key), key) in seen:
            raise bad(f"{path}[{index}].key", f"key {shorten(repr(key))} is used by two pairs")
        seen.add((type(key), key))


@dataclass(frozen=True)
class PointPair:
    """Drag the content at `handle` to `target`. `key` names the pair in a live drag's updates; None: its index."""

    handle: Point = wire(POINT)
    target: Point = wire(POINT)
    key: PairKey | None = wire(optional(KEY), None, sparse=True)


def pair_keys(points: tuple[PointPair, ...]) -> list[PairKey]:
    """The key of every pair: its own, else its index in the request."""
    return [index if pair.key is None else pair.key for index, pair in enumerate(points)]


@dataclass(frozen=True)
class LivePoint:
    """One pair of a `live_update`: a known `key` keeps its tracked handle (its `handle` is ignored); a new key
    needs `handle`."""

    key: PairKey = wire(KEY)
    target: Point = wire(POINT)
    handle: Point | None = wire(optional(POINT), None, sparse=True)


@dataclass(frozen=True)
class DragOptions:
    """How a drag runs. None means: the daemon's default for this model (as the paper and its code do)."""

    step_size: float | None = wire(optional(number(0, STEP_SIZE_MAX, lo_open=True)), None)  # Adam lr; model default
    max_steps: int = wire(integer(1, limit="max_steps"), 300)
    latent_space: str = wire(one_of("w+", "w"), "w+")
    mask_strength: float | None = wire(optional(number(0, MASK_STRENGTH_MAX)), None)  # lambda of the mask term
    feature_block: int | None = wire(optional(integer(0, 31)), None)  # 0-based block; None: the paper's 6th
    r1: float | None = wire(optional(number(0, 4096, lo_open=True)), None)  # motion supervision radius, px
    r2: float | None = wire(optional(number(0, 4096, lo_open=True)), None)  # tracking search half-size, px
    stop_distance: float | None = wire(optional(number(0, 1e6)), None)  # px; None: 1 for <= 5 handles, else 2
    preview_every: int = wire(integer(0, 2**31), 0)  # send an image every N steps; 0: none (live: adaptive)
    live: bool = wire(boolean, False, sparse=True)  # a live drag: takes `live_update`s, idles at its targets
    # live: end ("timeout") after this long without new points; None: limits.DEFAULT_LIVE_TIMEOUT_S
    live_timeout_s: float | None = wire(optional(number(0, LIVE_TIMEOUT_MAX_S, lo_open=True)), None, sparse=True)


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
        _mask_fits(self.mask, self.image.width, self.image.height, f"{path}.mask")
        if self.region is not None:
            x, y, w, h = self.region
            if x + w > self.image.width or y + h > self.image.height:
                raise bad(f"{path}.region", f"{self.region} reaches outside the "
                                            f"{self.image.width}x{self.image.height} image")


@dataclass(frozen=True)
class DragRequest:
    TYPE: ClassVar[str] = "drag"
    session: str = wire(SESSION)
    points: tuple[PointPair, ...] = wire(array(nested(PointPair), min_length=1, limit="max_points"))
    mask: Image | None = wire(optional(MASK), None)  # session-frame size; non-zero: allowed to move
    options: DragOptions = wire(nested(DragOptions), DragOptions())

    def cross_check(self, path: str, limits: Limits) -> None:
        _unique_keys(pair_keys(self.points), f"{path}.points")


@dataclass(frozen=True)
class LiveUpdateRequest:
    """New targets for a running live drag of this connection, an acknowledgement of its progress, a commit."""

    TYPE: ClassVar[str] = "live_update"
    target: RequestId = wire(ID)  # the live drag's request id
    # counts the updates that change points: strictly increasing per live drag, required with `points`
    revision: int | None = wire(optional(SEQ), None)
    points: tuple[LivePoint, ...] | None = wire(optional(array(nested(LivePoint), min_length=1,
                                                                limit="max_points")), None)  # None: unchanged
    seen: int | None = wire(optional(integer(0, 2**53)), None)  # acknowledges live progress up to this seq
    commit: bool = wire(boolean, False)  # end the drag, keeping its state as one new history state

    def cross_check(self, path: str, limits: Limits) -> None:
        if self.points is not None:
            if self.revision is None:
                raise bad(f"{path}.revision", "new points need a revision")
            _unique_keys([point.key for point in self.points], f"{path}.points")


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
        _latent_fits(self.latent, self.shape, f"{path}.latent")


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
class DragResult:
    steps: int = wire(COUNT)  # optimisation steps this drag ran
    points: tuple[Point, ...] = wire(array(POINT, limit="max_points"))  # final handle positions, request order
    reached: bool = wire(boolean)  # every handle within stop_distance of its target
    # live drags also end "committed" (live_update commit) or "timeout" (no live_update for live_timeout_s)
    stopped: str = wire(one_of("reached", "max_steps", "cancelled", "committed", "timeout"))
    image: Image = wire(RGBA)  # the edited part of the session frame, placed at `offset`
    offset: tuple[int, int] = wire(OFFSET)
    history_index: int = wire(COUNT)  # of the new state (the session's first image is 0)
    keys: tuple[PairKey, ...] | None = wire(optional(array(KEY, limit="max_points")), None, sparse=True)  # live

    def cross_check(self, path: str, limits: Limits) -> None:
        if self.keys is not None and len(self.keys) != len(self.points):
            raise bad(path, f"{len(self.keys)} keys for {len(self.points)} points")


@dataclass(frozen=True)
class LiveUpdateResult:
    revision: int = wire(integer(0, 2**53))  # the highest revision accepted
    idle: bool = wire(boolean)  # the drag is idle (at its targets, or max_steps spent on them)


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
        _latent_fits(self.latent, self.shape, f"{path}.latent")


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
class DragProgress:
    step: int = wire(COUNT)  # steps done so far (from 1; a live drag idle before its first step: 0)
    points: tuple[Point, ...] = wire(array(POINT, limit="max_points"))  # tracked handle positions now
    loss: float = wire(number())
    image: Image | None = wire(optional(RGBA), None)  # a preview, every options.preview_every steps
    offset: tuple[int, int] | None = wire(optional(OFFSET), None)  # where the preview goes
    # Live drags only (all four or none): the pairs' keys in `points` order, the highest update revision the
    # state shown reflects (0: the drag's own points), this job's progress number (1, 2, ...), and whether the
    # drag is idle (no steps until something new arrives).
    keys: tuple[PairKey, ...] | None = wire(optional(array(KEY, limit="max_points")), None, sparse=True)
    revision: int | None = wire(optional(integer(0, 2**53)), None, sparse=True)
    seq: int | None = wire(optional(SEQ), None, sparse=True)
    idle: bool | None = wire(optional(boolean), None, sparse=True)

    def cross_check(self, path: str, limits: Limits) -> None:
        if (self.image is None) != (self.offset is None):
            raise bad(path, "a preview needs both image and offset")
        live = [self.keys is None, self.revision is None, self.seq is None, self.idle is None]
        if any(live) and not all(live):
            raise bad(path, "a live progress has keys, revision, seq and idle together")
        if self.keys is not None and len(self.keys) != len(self.points):
            raise bad(path, f"{len(self.keys)} keys for {len(self.points)} points")

    @property
    def live(self) -> bool:
        return self.seq is not None


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


# ---- typed envelopes ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    """A validated request. The daemon answers it with the builders below."""

    id: RequestId
    body: RequestBody

    @property
    def type(self) -> str:
        return self.body.TYPE

    def result(self, body: Any) -> dict[str, Any]:
        return result_message(self.id, self.type, body)

    def progress(self, body: Any) -> dict[str, Any]:
        return progress_message(self.id, self.type, body)

    def waiting(self, position: int) -> dict[str, Any]:
        return waiting_message(self.id, self.type, position)

    def error(self, code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
        return error_message(self.id, code, message, details, request_type=self.type)


@dataclass(frozen=True)
class Reply:
    """A validated reply; `body` is a result, progress, `Waiting` or `ErrorBody` dataclass."""

    id: RequestId | None  # None only for an error about a message whose id could not be read
    kind: str  # one of REPLY_KINDS
    request_type: str | None  # None only for such an error
    body: Any


# ---- building messages ---------------------------------------------------------------------------------------


def request_message(request_id: RequestId, body: RequestBody) -> dict[str, Any]:
    return {"v": PROTOCOL_VERSION, "id": request_id, "type": body.TYPE, **to_wire(body)}


def result_message(request_id: RequestId, request_type: str, body: Any) -> dict[str, Any]:
    expected = RESULTS.get(request_type)
    if expected is None or not isinstance(body, expected):
        raise TypeError(f"a {request_type} request's result is a {getattr(expected, '__name__', '?')}, "
                        f"not {type(body).__name__}")
    return _reply(request_id, "result", request_type, body)


def progress_message(request_id: RequestId, request_type: str, body: Any) -> dict[str, Any]:
    expected = PROGRESS.get(request_type)
    if expected is None or not isinstance(body, expected):
        raise TypeError(f"{request_type} has no progress of type {type(body).__name__}")
    return _reply(request_id, "progress", request_type, body)


def waiting_message(request_id: RequestId, request_type: str, position: int) -> dict[str, Any]:
    return _reply(request_id, "waiting", request_type, Waiting(position))


def error_message(request_id: RequestId | None, code: str, message: str, details: dict[str, Any] | None = None,
                  request_type: str | None = None) -> dict[str, Any]:
    """An error reply; the message is cut to fit the protocol's text limit so the reply stays valid."""
    return _reply(request_id, "error", request_type, ErrorBody(code, shorten(message, 16000), details))


def error_message_from(exc: DragdError, request_id: RequestId | None = None,
                       request_type: str | None = None) -> dict[str, Any]:
    """The error reply for an exception; a ProtocolError supplies the id and type it could read."""
    if isinstance(exc, ProtocolError):
        request_id = exc.request_id if request_id is None else request_id
        request_type = exc.request_type if request_type is None else request_type
    return error_message(request_id, exc.code, exc.message, exc.details, request_type)


def _reply(request_id: RequestId | None, kind: str, request_type: str | None, body: Any) -> dict[str, Any]:
    return {"v": PROTOCOL_VERSION, "id": request_id, "type": kind, "request_type": request_type,
            **to_wire(body)}


# ---- validating messages ----------------------------------------------------------------------------------


def validate_request(obj: Any, limits: Limits | None = None) -> Request:
    """The typed request in a decoded map, or ProtocolError (carrying the id and type when readable)."""
    limits = limits or Limits()
    if not isinstance(obj, dict):
        raise ProtocolError(ErrorCode.BAD_REQUEST, f"a message is a map, got {type_name(obj)}")
    request_id = obj.get("id") if _readable_id(obj.get("id")) else None
    raw_type = obj.get("type")
    request_type = raw_type if isinstance(raw_type, str) and raw_type in REQUESTS else None
    try:
        _check_version(obj)
        _check_id(obj, limits)
        if not isinstance(raw_type, str):
            raise bad("type", "missing" if raw_type is None else f"expected a string, got {type_name(raw_type)}")
        cls = REQUESTS.get(raw_type)
        if cls is None:
            raise ProtocolError(ErrorCode.UNSUPPORTED, f"unknown request type {shorten(raw_type)!r}")
        fields = {key: value for key, value in obj.items() if key not in ("v", "id", "type")}
        body = from_wire(cls, fields, raw_type, limits)
        if isinstance(body, HelloRequest) and body.protocol not in SUPPORTED_PROTOCOLS:
            raise _version_mismatch(body.protocol)
    except ProtocolError as exc:
        exc.request_id, exc.request_type = request_id, request_type
        raise
    return Request(obj["id"], body)


def validate_reply(obj: Any, limits: Limits | None = None) -> Reply:
    """The typed reply in a decoded map, or ProtocolError. Errors of any protocol version are accepted."""
    limits = limits or Limits.permissive()
    if not isinstance(obj, dict):
        raise ProtocolError(ErrorCode.BAD_REQUEST, f"a message is a map, got {type_name(obj)}")
    kind = obj.get("type")
    if kind not in REPLY_KINDS:
        raise bad("type", f"expected one of {', '.join(REPLY_KINDS)}, got {shorten(repr(kind))}")
    fields = {key: value for key, value in obj.items() if key not in ENVELOPE_KEYS}
    request_id = obj.get("id") if _readable_id(obj.get("id")) else None
    if kind == "error":
        # The error reply's shape is frozen across versions, so a client learns *why* a daemon refused it.
        if not isinstance(obj.get("v"), int) or isinstance(obj.get("v"), bool):
            raise bad("v", "missing or not an integer")
        optional(ID)(obj.get("id"), "id", limits)
        request_type = optional(NAME)(obj.get("request_type"), "request_type", limits)
        return Reply(obj.get("id"), kind, request_type, from_wire(ErrorBody, fields, "error", limits))
    try:
        _check_version(obj)
        _check_id(obj, limits)
        request_type = obj.get("request_type")
        table = RESULTS if kind == "result" else PROGRESS if kind == "progress" else REQUESTS
        if not isinstance(request_type, str) or request_type not in table:
            raise bad("request_type", f"no {kind} for request type {shorten(repr(request_type))}")
        cls = Waiting if kind == "waiting" else table[request_type]
        body = from_wire(cls, fields, f"{request_type} {kind}", limits)
    except ProtocolError as exc:
        exc.request_id = request_id
        raise
    return Reply(obj["id"], kind, request_type, body)


def _readable_id(value: Any) -> bool:
    try:
        ID(value, "id", Limits())
    except ProtocolError:
        return False
    return True


def _check_id(obj: dict[str, Any], limits: Limits) -> None:
    if "id" not in obj:
        raise bad("id", "missing")
    ID(obj["id"], "id", limits)


def _check_version(obj: dict[str, Any]) -> None:
    version = obj.get("v")
    if not isinstance(version, int) or isinstance(version, bool):
        raise bad("v", "missing" if version is None else f"expected an integer, got {type_name(version)}")
    if version not in SUPPORTED_PROTOCOLS:
        raise _version_mismatch(version)


def _version_mismatch(client_version: int) -> ProtocolError:
    supported = ", ".join(map(str, SUPPORTED_PROTOCOLS))
    return ProtocolError(
        ErrorCode.VERSION_MISMATCH,
        f"protocol version {client_version} is not supported (supported: {supported}); "
        "update the plugin and the daemon to matching releases",
        {"client": client_version, "daemon": PROTOCOL_VERSION, "supported": list(SUPPORTED_PROTOCOLS)},
    )
