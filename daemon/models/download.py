"""Installing models into the user's models folder (`registry.user_models_dir()`).

    download(name)     a catalogue model: fetched over HTTP(S) into `NAME.download.partial` (an interrupted
                       transfer resumes with an HTTP Range request), checked against its SHA-256, converted
                       to `NAME.safetensors` with its `NAME.json` sidecar; the downloaded original is removed
    add(file, name)    a checkpoint of the user's own, in any format the loader reads, installed the same way
    fetch(url, dest)   the resumable transfer itself

Checksums: a catalogue entry's published SHA-256 when it has one; otherwise the one recorded in the models
folder's `checksums.json` the first time the model was downloaded (and converted) successfully. A file
that does not match is deleted before anything is written from it, so a failed check leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from .catalogue import CatalogueEntry, find_entry
from .checkpoint import Checkpoint, CheckpointError, CheckpointNotFoundError
from .loader import convert
from .registry import (
    DOMAIN_STEP_SIZES,
    EMBEDDED_DIR,
    GENERIC_STEP_SIZE,
    MODEL_NAME_PATTERN,
    ModelInfo,
    user_models_dir,
    write_sidecar,
)

CHUNK = 1 << 20
TIMEOUT_S = 30.0
RECORDS_FILE = "checksums.json"
USER_AGENT = "dragd-model-download"

Progress = Callable[[int, "int | None"], None]  # (bytes so far, total bytes or None)


class ModelInstallError(CheckpointError):
    """A model could not be downloaded or installed; the message says what to do."""


class ChecksumMismatchError(ModelInstallError):
    """The downloaded file is not the one expected; it was deleted."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while block := file.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


# --- the transfer ---------------------------------------------------------------------------------


_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")


def fetch(url: str, dest: Path, on_progress: Progress | None = None, timeout_s: float = TIMEOUT_S) -> int:
    """Downloads `url` into `dest`, continuing from what `dest` already holds; returns its final size.

    Raises `ModelInstallError` when the transfer fails or stops early; `dest` then keeps what arrived, and
    the next call resumes from there.
    """
    start = dest.stat().st_size if dest.is_file() else 0
    headers = {"User-Agent": USER_AGENT}
    if start:
        headers["Range"] = f"bytes={start}-"
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout_s) as response:
            if response.headers.get_content_type() == "text/html":
                raise ModelInstallError(f"{url} answered with a web page, not the model file")
            total = _total_size(response, start)
            if response.status != 206:  # the server sent the whole file (it ignored or was not asked a range)
                start = 0
            done = start
            with open(dest, "ab" if start else "wb") as out:
                while block := response.read(CHUNK):
                    out.write(block)
                    done += len(block)
                    if on_progress is not None:
                        on_progress(done, total)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and start:  # nothing left past what we hold: the file is complete (the hash decides)
            return start
        raise ModelInstallError(f"{url} answered HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ModelInstallError(f"downloading {url} failed ({reason}); what arrived is kept: run the same "
                                "command again to resume") from None
    # urllib does not notice a connection that closes early; the length the server announced does.
    if total is not None and done != total:
        raise ModelInstallError(f"the transfer of {url} stopped at {done} of {total} bytes; run the same command "
                                "again to resume")
    return done


def _total_size(response: Any, start: int) -> int | None:
    """The whole file's size, from Content-Range on a resumed transfer, else from Content-Length."""
    if response.status == 206:
        match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
        if not match or int(match.group(1)) != start:
            raise ModelInstallError(f"the server resumed the download at the wrong place "
                                    f"({response.headers.get('Content-Range')!r}, asked for byte {start})")
        return None if match.group(3) == "*" else int(match.group(3))
    length = response.headers.get("Content-Length")
    return int(length) if length and length.isdigit() else None


class TerminalProgress:
    """A progress line on stderr: rewritten in place on a terminal, one line per 10 % otherwise."""

    def __init__(self, label: str, stream: IO[str] | None = None) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.started = time.perf_counter()
        self.last_decile = -1

    def __call__(self, done: int, total: int | None) -> None:
        rate = done / max(time.perf_counter() - self.started, 1e-6) / 1e6
        if total:
            line = f"{self.label}  {100 * done / total:5.1f} %  {done / 1e6:.1f}/{total / 1e6:.1f} MB  {rate:.1f} MB/s"
            decile = 10 * done // total
        else:
            line = f"{self.label}  {done / 1e6:.1f} MB  {rate:.1f} MB/s"
            decile = done // 50_000_000  # a line per 50 MB when the size is unknown
        if self.tty:
            self.stream.write("\r" + line.ljust(78))
            if total and done >= total:
                self.stream.write("\n")
            self.stream.flush()
        elif decile > self.last_decile:
            self.last_decile = decile
            self.stream.write(line + "\n")


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
    partial = weights.with_name(f"{entry.name}.download.partial")
    url, size, failures = None, 0, []
    for candidate in entry.urls:
        try:
            size = fetch(candidate, partial, on_progress)
            url = candidate
            break
        except ModelInstallError as exc:
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
