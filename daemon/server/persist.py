"""Sessions on disk, so that a restart (a crash, an upgrade, a reboot) loses nothing (SPEC.md, "Sessions across
restarts").

Each session has a folder in `<state dir>/sessions/`, named by the SHA-256 of its id (a listing shows no ids,
which are capabilities), private to the user (folders 0700, files 0600):

    state.safetensors      latents of the undo history, the current image, the frame's arrays; metadata: the
                           user, the model, the history index, the frame's plain values
    generator.safetensors  opened sessions only, written once: the tuned copy's tensors that differ from the
                           base model (pivotal tuning changes the synthesis network, not the mapping network)
    running.json           while a drag runs: which one, so a daemon that died during it can say so

Every write is atomic (a temporary file in the same folder, fsync, os.replace): a crash leaves the previous
state or the next, never half of one. Files are safetensors (data only, nothing in them is executed). The
folders together stay within a disk budget: the least recently saved sessions that are not in memory go first,
the same rule as the memory budget.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save as safetensors_bytes

from .config import sessions_folder
from .inverted import LayerFrame
from .models import LoadedModel, ModelCache

if TYPE_CHECKING:
    from .sessions import Session

STATE_FILE = "state.safetensors"
GENERATOR_FILE = "generator.safetensors"
RUNNING_FILE = "running.json"
FORMAT = "dragd-session-1"


def session_key(session_id: str) -> str:
    """The name of a session's folder, and its tag in logs: no one can turn it back into the id."""
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()[:32]


def write_atomic(path: Path, data: bytes) -> None:
    """`data` to `path` (mode 0600): all of it or, after a crash at any point, the file as it was."""
    handle, temporary = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)  # mkstemp: mode 0600
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _read(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    tensors = {}
    with safe_open(str(path), framework="pt") as file:
        for name in file.keys():  # noqa: SIM118 - safe_open has no __iter__
            tensors[name] = file.get_tensor(name)
        return tensors, file.metadata() or {}


class UnusableSave(Exception):
    """A saved session that exists but cannot be used; `reason` says why, for the user's `unknown_session`."""

    def __init__(self, user: str | None, reason: str) -> None:
        super().__init__(reason)
        self.user = user  # whose it is, when the file says so (another user's id stays as unknown as any)
        self.reason = reason


@dataclass(frozen=True)
class Restored:
    """A session read back from disk, for `SessionStore` to rebuild."""

    user: str
    model_name: str
    history: list[torch.Tensor]
    index: int
    image: np.ndarray
    frame: LayerFrame | None  # None: a generated session (the model's own frame)
    interrupted: str | None


class SessionArchive:
    """The sessions folder. Thread-safe; torch work (rebuilding a tuned generator) happens in `load`."""

    def __init__(self, folder: Path, disk_budget_bytes: int, models: ModelCache) -> None:
        self.folder = sessions_folder(folder)
        self.disk_budget_bytes = disk_budget_bytes
        self.models = models
        self._lock = threading.Lock()

    def _path(self, session_id: str) -> Path:
        return self.folder / session_key(session_id)

    def has(self, session_id: str) -> bool:
        return (self._path(session_id) / STATE_FILE).is_file()

    def user_of(self, session_id: str) -> str | None:
        """The user a saved session belongs to (its metadata only), or None when there is none."""
        try:
            with safe_open(str(self._path(session_id) / STATE_FILE), framework="pt") as file:
                return (file.metadata() or {}).get("user")
        except Exception:  # missing, or damaged (safetensors raises its own error type)
            return None

    def count(self) -> int:
        return sum(1 for path in self.folder.iterdir() if (path / STATE_FILE).is_file())

    # --- writing ------------------------------------------------------------------------------------------

    def save(self, session: Session, keep_running: bool = False) -> None:
        """Writes the session's state (and, once, its tuned generator); clears a running marker unless
        `keep_running` (another job still works on the session)."""
        folder = self._path(session.id)
        folder.mkdir(mode=0o700, exist_ok=True)
        tensors = {"history": torch.stack([ws.detach().to("cpu", torch.float32)[0] for ws in session.history]),
                   "image": torch.from_numpy(np.ascontiguousarray(session.image))}
        values: dict[str, object] = {"kind": "model"}
        if isinstance(session.frame, LayerFrame):
            arrays, values = session.frame.saved()
            values = {"kind": "layer", **values}
            tensors.update({f"frame.{name}": torch.from_numpy(np.ascontiguousarray(array))
                            for name, array in arrays.items()})
            if not (folder / GENERATOR_FILE).is_file():
                write_atomic(folder / GENERATOR_FILE, safetensors_bytes(
                    self._tuned_tensors(session), {"format": FORMAT, "model": session.model.info.name}))
        metadata = {"format": FORMAT, "user": session.user, "model": session.model.info.name,
                    "model_sha256": session.model.info.sha256 or "",
                    "index": str(session.index), "frame": json.dumps(values), "saved": str(time.time())}
        write_atomic(folder / STATE_FILE, safetensors_bytes(tensors, metadata))
        if not keep_running:
            with contextlib.suppress(FileNotFoundError):
                (folder / RUNNING_FILE).unlink()

    def _tuned_tensors(self, session: Session) -> dict[str, torch.Tensor]:
        """The tensors of the session's generator copy that differ from the shared model's (usually smaller
        than the whole copy: the mapping network and the constant input are untouched by tuning)."""
        base = session.model.generator.state_dict()
        return {name: tensor.detach().to("cpu").contiguous()
                for name, tensor in session.frame.generator.state_dict().items()
                if not torch.equal(tensor, base[name])}

    def mark_running(self, session_id: str, what: str) -> None:
        folder = self._path(session_id)
        if folder.is_dir():
            write_atomic(folder / RUNNING_FILE, json.dumps({"what": what, "started": time.time()}).encode())

    def clear_running(self, session_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self._path(session_id) / RUNNING_FILE).unlink()

    def delete(self, session_id: str) -> None:
        shutil.rmtree(self._path(session_id), ignore_errors=True)

    # --- reading ------------------------------------------------------------------------------------------

    def load(self, session_id: str) -> Restored | None:
        """The saved session, or None when nothing is saved under that id. A saved copy that exists but cannot
        be used (cut short, damaged, another format, a model this daemon lacks or that has another shape) raises
        `UnusableSave` saying why; the files stay, for a daemon that can read them. A running marker becomes
        `interrupted` and is removed."""
        folder = self._path(session_id)
        if not (folder / STATE_FILE).is_file():
            return None
        try:
            tensors, metadata = _read(folder / STATE_FILE)
        except Exception as exc:  # safetensors raises its own error type for a damaged file
            raise UnusableSave(None, f"its saved copy cannot be read ({type(exc).__name__}: {exc})") from None
        user = metadata.get("user")
        if metadata.get("format") != FORMAT:
            raise UnusableSave(user, f"its saved copy has the unknown format {metadata.get('format')!r}")
        name = metadata.get("model")
        try:
            model = self.models.get(name)
        except Exception as exc:  # not installed here, or its file cannot be loaded
            raise UnusableSave(user, f"it was saved with the model {name!r}, which this daemon cannot load "
                                     f"({exc}); serve with that model installed to get it back") from None
        saved_digest, digest = metadata.get("model_sha256"), model.info.sha256
        if saved_digest and digest and saved_digest != digest:  # `models add --force` replaced it since
            raise UnusableSave(user, f"it was saved with another file of the model {name!r} (sha256 "
                                     f"{saved_digest[:12]}…, now {digest[:12]}…): its latents would draw something "
                                     "else; install that file again to get it back")
        try:
            restored = self._rebuild(folder, tensors, metadata, model)
        except Exception as exc:
            raise UnusableSave(user, f"its saved copy does not fit the model {name!r} ({type(exc).__name__}: "
                                     f"{exc})") from None
        return restored

    def _rebuild(self, folder: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str],
                 model: LoadedModel) -> Restored:
        cfg = model.generator.cfg
        history, image, index = tensors["history"], tensors["image"], int(metadata["index"])
        if history.ndim != 3 or tuple(history.shape[1:]) != (cfg.num_ws, cfg.w_dim) or len(history) == 0:
            raise ValueError(f"latents of shape {tuple(history.shape)}, the model takes [n, {cfg.num_ws}, "
                             f"{cfg.w_dim}]")
        if not 0 <= index < len(history):
            raise ValueError(f"history index {index} of {len(history)} states")
        if image.dtype != torch.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"an image of shape {tuple(image.shape)} and type {image.dtype}")
        device = model.generator.mapping.w_avg.device
        values = json.loads(metadata["frame"])
        frame = None
        if values.pop("kind") == "layer":
            generator = copy.deepcopy(model.generator)
            changed, _ = _read(folder / GENERATOR_FILE)
            state = generator.state_dict()
            with torch.no_grad():
                for name, tensor in changed.items():
                    state[name].copy_(tensor)
            arrays = {name[len("frame."):]: tensors[name].numpy() for name in tensors if name.startswith("frame.")}
            frame = LayerFrame.restored(generator, arrays, values)
        return Restored(metadata["user"], model.info.name, [ws[None].to(device) for ws in history], index,
                        image.numpy(), frame, self._interrupted(folder))

    def _interrupted(self, folder: Path) -> str | None:
        marker = folder / RUNNING_FILE
        try:
            running = json.loads(marker.read_text())
        except (OSError, ValueError):
            return None
        marker.unlink(missing_ok=True)
        started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(running.get("started", 0))))
        return (f"a {running.get('what', 'request')} started at {started} was cut short when the daemon stopped; "
                "the session is as it was before it")

    # --- the disk budget ----------------------------------------------------------------------------------

    def enforce_budget(self, resident: set[str]) -> list[str]:
        """Deletes the least recently saved sessions not in `resident` (keys) until the folders fit the disk
        budget; returns the keys deleted."""
        with self._lock:
            entries = []
            for path in self.folder.iterdir():
                size = sum(f.stat().st_size for f in path.iterdir() if f.is_file()) if path.is_dir() else 0
                state = path / STATE_FILE
                entries.append((state.stat().st_mtime if state.exists() else 0.0, size, path))
            total = sum(size for _, size, _ in entries)
            deleted = []
            for _, size, path in sorted(entries):
                if total <= self.disk_budget_bytes:
                    break
                if path.name in resident:
                    continue
                shutil.rmtree(path, ignore_errors=True)
                total -= size
                deleted.append(path.name)
            return deleted
