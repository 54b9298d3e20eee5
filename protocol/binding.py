"""The state binding: what an editor stores in the document beside a layer dragd made, so that a later drag of
that layer starts from exactly the state it shows, even after the editor's own undo, a save and reopen, or a
daemon restart.

A `Binding` names the daemon session and history state the layer's pixels are, the model, the latent of that
state (W or W+, float32, so a restarted daemon can rebuild a generated session from it: the `restore` request,
SPEC.md), the photo frame (where the session's picture lies in the layer) and a digest of the layer's pixels as
dragd wrote them. An editor trusts a binding only while `pixels_digest` of what the layer shows now equals the
stored one: a layer the user painted on, or one whose pixels an undo changed, is a new photo.

Krita keeps the bindings of a document in one document annotation (`encode_bindings` / `decode_bindings`: a map
layer id -> binding); GIMP keeps each in a parasite on its layer (`encode` / `decode`). Both are the same JSON
text, UTF-8. Pure standard library: the plugins vendor this folder.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import struct
from dataclasses import dataclass
from typing import Any

FORMAT = "dragd-binding"
VERSION = 1
KINDS = ("generated", "opened")  # generated: made by `generate`; opened: a user's layer, by GAN inversion
MAX_LATENT_ROWS = 64  # num_ws of the largest StyleGAN2 (1024 px: 18) with room to spare
MAX_W_DIM = 4096
MAX_BINDINGS = 64  # per document annotation: the newest are kept (each holds a latent, ~30-50 KB of text)


class BindingError(ValueError):
    """Text that is not a valid binding; the message says what is wrong (editors then treat the layer as unbound)."""


@dataclass(frozen=True)
class Latent:
    """A W or W+ latent: `rows` x `w_dim` float32 values, little-endian, row-major. A W latent (every row the
    same, as `generate` and drags in W make them) is stored compactly as one row with `num_ws` saying how many."""

    data: bytes
    rows: int
    w_dim: int
    num_ws: int

    def __post_init__(self) -> None:
        if not (1 <= self.rows <= MAX_LATENT_ROWS and 1 <= self.w_dim <= MAX_W_DIM):
            raise BindingError(f"latent shape {self.rows}x{self.w_dim} is out of range")
        if self.rows not in (1, self.num_ws) or not 1 <= self.num_ws <= MAX_LATENT_ROWS:
            raise BindingError(f"latent has {self.rows} rows for num_ws {self.num_ws}; expected 1 or num_ws")
        if len(self.data) != 4 * self.rows * self.w_dim:
            raise BindingError(f"latent holds {len(self.data)} bytes, expected {4 * self.rows * self.w_dim}")
        if not all(math.isfinite(v) for v in struct.unpack(f"<{self.rows * self.w_dim}f", self.data)):
            raise BindingError("latent holds values that are not finite")

    @classmethod
    def from_rows(cls, data: bytes, num_ws: int, w_dim: int) -> Latent:
        """A full num_ws x w_dim float32 latent (the daemon's `state` result), made compact when it is a W."""
        row = 4 * w_dim
        if len(data) == row * num_ws and num_ws > 1 and data == data[:row] * num_ws:
            return cls(data[:row], 1, w_dim, num_ws)
        return cls(data, num_ws, w_dim, num_ws)

    def full(self) -> bytes:
        """All num_ws rows (what the daemon's `restore` request takes)."""
        return self.data * self.num_ws if self.rows == 1 else self.data


@dataclass(frozen=True)
class Binding:
    """A layer made by dragd: the session state its pixels show. See the module docstring."""

    session: str
    state: int  # the session's history index these pixels are (0: as generated / opened)
    model: str
    kind: str  # one of KINDS
    latent: Latent | None  # None when the daemon could not say (an older daemon): then only the session helps
    frame: tuple[int, int, int, int]  # x, y, width, height of the session's picture in the layer, pixels
    pixels: str  # pixels_digest of the layer as dragd wrote it
    seed: int | None = None  # generated layers: the seed and truncation that made state 0
    truncation: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.session, str) or not 0 < len(self.session) <= 128:
            raise BindingError("session is not an id")
        if not isinstance(self.state, int) or isinstance(self.state, bool) or self.state < 0:
            raise BindingError(f"state {self.state!r} is not a history index")
        if not isinstance(self.model, str) or not 0 < len(self.model) <= 256:
            raise BindingError("model is not a name")
        if self.kind not in KINDS:
            raise BindingError(f"kind {self.kind!r} is not one of {', '.join(KINDS)}")
        if len(self.frame) != 4 or not all(isinstance(v, int) and not isinstance(v, bool) for v in self.frame) \
                or self.frame[0] < 0 or self.frame[1] < 0 or self.frame[2] < 1 or self.frame[3] < 1:
            raise BindingError(f"frame {self.frame!r} is not x, y, width, height")
        if not isinstance(self.pixels, str) or len(self.pixels) != 64 or not _is_hex(self.pixels):
            raise BindingError("pixels is not a SHA-256 digest")
        if self.seed is not None and (not isinstance(self.seed, int) or not 0 <= self.seed < 2**32):
            raise BindingError(f"seed {self.seed!r} is out of range")
        if self.truncation is not None and (not isinstance(self.truncation, (int, float))
                                            or not 0 <= self.truncation <= 2):
            raise BindingError(f"truncation {self.truncation!r} is out of range")

    def shows(self, digest: str) -> bool:
        """True when a layer whose pixels have this digest still shows this binding's state."""
        return digest == self.pixels

    def to_json(self) -> dict[str, Any]:
        latent = None if self.latent is None else {
            "data": base64.b64encode(self.latent.data).decode("ascii"), "rows": self.latent.rows,
            "w_dim": self.latent.w_dim, "num_ws": self.latent.num_ws}
        return {"format": FORMAT, "version": VERSION, "session": self.session, "state": self.state,
                "model": self.model, "kind": self.kind, "latent": latent, "frame": list(self.frame),
                "pixels": self.pixels, "seed": self.seed, "truncation": self.truncation}

    @classmethod
    def from_json(cls, obj: Any) -> Binding:
        """Raises BindingError for anything that is not a binding this version can use."""
        if not isinstance(obj, dict) or obj.get("format") != FORMAT:
            raise BindingError("not a dragd binding")
        if obj.get("version") != VERSION:
            raise BindingError(f"binding version {obj.get('version')!r}; this dragd reads version {VERSION}")
        try:
            raw = obj["latent"]
            latent = None if raw is None else Latent(base64.b64decode(raw["data"], validate=True), raw["rows"],
                                                      raw["w_dim"], raw["num_ws"])
            frame = obj["frame"]
            if not isinstance(frame, list):
                raise BindingError("frame is not a list")
            return cls(obj["session"], obj["state"], obj["model"], obj["kind"], latent, tuple(frame),
                       obj["pixels"], obj.get("seed"), obj.get("truncation"))
        except (KeyError, TypeError, binascii.Error) as exc:
            raise BindingError(f"malformed binding ({type(exc).__name__}: {exc})") from None


def encode(binding: Binding) -> bytes:
    """One binding as UTF-8 JSON (a GIMP parasite's data)."""
    return json.dumps(binding.to_json(), separators=(",", ":")).encode("utf-8")


def decode(data: bytes | str) -> Binding:
    """The binding in `encode`'s text; BindingError when it is not one."""
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BindingError(f"not JSON ({exc})") from None
    return Binding.from_json(obj)


def encode_bindings(bindings: dict[str, Binding]) -> bytes:
    """Every binding of a document, by layer id (a Krita annotation's data); the newest MAX_BINDINGS are kept
    (dicts keep insertion order: callers add the newest last)."""
    kept = list(bindings.items())[-MAX_BINDINGS:]
    return json.dumps({"format": FORMAT + "s", "version": VERSION,
                       "layers": {layer: b.to_json() for layer, b in kept}}, separators=(",", ":")).encode("utf-8")


def decode_bindings(data: bytes | str) -> dict[str, Binding]:
    """`encode_bindings`' map; entries that are not valid bindings are left out; BindingError for other text."""
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BindingError(f"not JSON ({exc})") from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT + "s" or not isinstance(obj.get("layers"), dict):
        raise BindingError("not a dragd binding map")
    found = {}
    for layer, raw in obj["layers"].items():
        try:
            found[str(layer)] = Binding.from_json(raw)
        except BindingError:
            continue
    return found


def pixels_digest(data: bytes, width: int, height: int, pixel_format: str) -> str:
    """SHA-256 (hex) of a layer's pixels as the editor reads them, with their size and format (e.g. "RGBA U8",
    "RGBA F32"), so the same bytes read as another size or depth never match."""
    digest = hashlib.sha256(f"{width}x{height} {pixel_format}\n".encode())
    digest.update(data)
    return digest.hexdigest()


def _is_hex(text: str) -> bool:
    try:
        int(text, 16)
    except ValueError:
        return False
    return True
