"""Installing models into the user's models folder (`registry.user_models_dir()`).

    download(name)     a catalogue model: fetched over HTTP(S) into `NAME.download.partial` (an interrupted
                       transfer resumes with an HTTP Range request), checked against its SHA-256, converted
                       to `NAME.safetensors` with its `NAME.json` sidecar; the downloaded original is removed
    add(file, name)    a checkpoint of the user's own, in any format the loader reads, installed the same way

The transfer itself (resumable, noticing a transfer that stops early) and the hashing are `dragd.daemon.transfer`'s.

Checksums: a catalogue entry's published SHA-256 when it has one; otherwise the one recorded in the models
folder's `checksums.json` the first time the model was downloaded (and converted) successfully. A file
that does not match is deleted before anything is written from it, so a failed check leaves nothing behind.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..transfer import PARTIAL_SUFFIX, DownloadError, Progress, fetch, sha256_of
from .catalogue import CatalogueEntry, find_entry
from .errors import CheckpointError, CheckpointNotFoundError
from .registry import (
    DOMAIN_STEP_SIZES,
    EMBEDDED_DIR,
    GENERIC_STEP_SIZE,
    MODEL_NAME_PATTERN,
    ModelInfo,
    user_models_dir,
    write_sidecar,
)

if TYPE_CHECKING:
    from .checkpoint import Checkpoint

RECORDS_FILE = "checksums.json"


class ModelInstallError(CheckpointError):
    """A model could not be downloaded or installed; the message says what to do."""


class ChecksumMismatchError(ModelInstallError):
    """The downloaded file is not the one expected; it was deleted."""


# --- checksums recorded at first download ---------------------------------------------------------


@dataclass(frozen=True)
class ChecksumRecord:
    sha256: str
    size: int
    url: str
    recorded: str


class ChecksumRecords:
    """`checksums.json` in the models folder: the SHA-256 each catalogue model had when first downloaded."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _load(self) -> dict[str, Any]:
        if not self.path.is_file():
            return {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            models = data["models"]
            if not isinstance(models, dict):
                raise TypeError("models is not an object")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            # Refusing to guess is the safe side: a damaged record must not silently allow any file.
            raise ModelInstallError(f"the checksum records in {self.path} are unreadable ({exc}); fix or delete "
                                    "that file (deleting it forgets every recorded checksum)") from None
        return models

    def get(self, name: str) -> ChecksumRecord | None:
        raw = self._load().get(name)
        if not isinstance(raw, dict) or not isinstance(raw.get("sha256"), str):
            return None
        return ChecksumRecord(raw["sha256"], int(raw.get("size", 0)), str(raw.get("url", "")),
                              str(raw.get("recorded", "")))

    def record(self, name: str, sha256: str, size: int, url: str) -> ChecksumRecord:
        models = self._load()
        entry = ChecksumRecord(sha256, size, url, datetime.now(timezone.utc).isoformat(timespec="seconds"))
        models[name] = entry.__dict__
        partial = self.path.with_name(self.path.name + ".partial")
        try:
            partial.write_text(json.dumps({"format_version": 1, "models": models}, indent=1) + "\n",
                               encoding="utf-8")
            os.replace(partial, self.path)
        finally:
            partial.unlink(missing_ok=True)
        return entry


# --- installing -----------------------------------------------------------------------------------


def _target(name: str, force: bool) -> Path:
    """NAME.safetensors in the user's models folder, after checking the name may be used."""
    if not MODEL_NAME_PATTERN.match(name):
        raise ModelInstallError(f"{name!r} cannot be a model name: use letters, digits, '.', '_' and '-' "
                                "(at most 64, starting with a letter or digit)")
    if (EMBEDDED_DIR / f"{name}.json").exists():
        raise ModelInstallError(f"{name!r} is the name of the model built into dragd; choose another")
    folder = user_models_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelInstallError(f"cannot create the models folder {folder}: {exc}") from None
    weights = folder / f"{name}.safetensors"
    if weights.exists() and not force:
        raise ModelInstallError(f"a model named {name!r} is already installed ({weights}); pass --force to "
                                "replace it")
    return weights


def _convert(src: Path, weights: Path, what: str) -> Checkpoint:
    from .loader import convert  # torch: only once a file has arrived, so a download starts at once

    try:
        return convert(src, weights)
    except CheckpointError as exc:
        raise ModelInstallError(f"{what} is not a model dragd can use: {exc}") from exc


def download(name: str, on_progress: Progress | None = None, force: bool = False,
             catalogue: dict[str, CatalogueEntry] | None = None) -> ModelInfo:
    """Downloads catalogue model `name`, verifies it, and installs it in the user's models folder."""
    entry = find_entry(name, catalogue)
    weights = _target(entry.name, force)
    records = ChecksumRecords(weights.parent / RECORDS_FILE)
    record = records.get(entry.name)
    expected = entry.sha256 or (record.sha256 if record else None)
    partial = weights.with_name(entry.name + PARTIAL_SUFFIX)
    url, size, failures = None, 0, []
    for candidate in entry.urls:
        try:
            size = fetch(candidate, partial, on_progress)
            url = candidate
            break
        except DownloadError as exc:
            failures.append(str(exc))
    if url is None:
        by_hand = (f"; or download {entry.file_name} by hand from {entry.page} and run `dragd models add FILE "
                   f"--name {entry.name}`")
        raise ModelInstallError("; ".join(failures) + by_hand)
    digest = sha256_of(partial)
    if expected and digest != expected:
        partial.unlink()
        origin = "the catalogue's published checksum" if entry.sha256 else (
            f"the checksum recorded when it was first downloaded ({record.recorded if record else '?'}, "
            f"in {records.path})")
        raise ChecksumMismatchError(
            f"the file from {url} has SHA-256 {digest}, which does not match {origin}: {expected}. It was "
            "deleted and nothing was installed. If its publisher really replaced it, delete the record and "
            "download again.")
    try:
        checkpoint = _convert(partial, weights, f"the file from {url}")
        shape = checkpoint.config.img_shape
        if shape != entry.resolution:
            weights.unlink()
            raise ModelInstallError(f"the file from {url} makes {shape[0]}x{shape[1]} images, not the "
                                    f"{entry.resolution[0]}x{entry.resolution[1]} the catalogue lists; not installed")
    except ModelInstallError:
        partial.unlink()  # not a usable model: nothing of it stays (an interrupted conversion keeps it, to resume)
        raise
    partial.unlink()
    if not expected:
        records.record(entry.name, digest, size, url)
    info = ModelInfo(entry.name, weights, domain=entry.domain, default_step_size=entry.default_step_size,
                     description=entry.description or entry.title, licence=entry.licence, resolution=shape,
                     sha256=sha256_of(weights), source=url)
    write_sidecar(info, {"title": entry.title, "source_sha256": digest, "source_size": size,
                         "source_format": checkpoint.source_format, "page": entry.page})
    return info


def add(file: str | os.PathLike[str], name: str, domain: str = "unknown", default_step_size: float | None = None,
        licence: str = "unknown", description: str = "", force: bool = False) -> ModelInfo:
    """Installs the user's own checkpoint `file` (any format the loader reads) as model `name`."""
    src = Path(file).expanduser()
    if not src.is_file():
        raise CheckpointNotFoundError(f"no model file at {src}")
    step = default_step_size if default_step_size is not None else DOMAIN_STEP_SIZES.get(domain, GENERIC_STEP_SIZE)
    if not 0 < step <= 1:
        raise ModelInstallError(f"the step size must be in (0, 1], not {step}")
    weights = _target(name, force)
    source_digest = sha256_of(src)
    checkpoint = _convert(src, weights, str(src))
    info = ModelInfo(name, weights, domain=domain, default_step_size=step,
                     description=description or f"added from {src.name}", licence=licence,
                     resolution=checkpoint.config.img_shape, sha256=sha256_of(weights), source=str(src.resolve()))
    write_sidecar(info, {"source_sha256": source_digest, "source_format": checkpoint.source_format})
    return info
