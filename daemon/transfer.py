"""Fetching files over HTTP(S) and hashing them: the one place dragd downloads anything.

    fetch(url, dest)                  the resumable transfer: continues from what `dest` holds (HTTP Range) and
                                      notices a transfer that stops early (urllib does not)
    download_file(url, dest, sha256)  one file fetched into place through `dest` + PARTIAL_SUFFIX; checked when
                                      its SHA-256 is known, deleted when it does not match
    sha256_of(path)                   the hash every check compares (downloads, model sidecars, `dragd doctor`)
    TerminalProgress                  a progress line on stderr for either

Standard library only, no torch: `dragd doctor` hashes models even where torch is broken.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

CHUNK = 1 << 20
TIMEOUT_S = 30.0
USER_AGENT = "dragd-download"
PARTIAL_SUFFIX = ".download.partial"  # what has arrived so far; the next attempt resumes from it

Progress = Callable[[int, "int | None"], None]  # (bytes so far, total bytes or None)


class DownloadError(RuntimeError):
    """A file could not be fetched, or is not the expected one; the message says what to do."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while block := file.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")


def fetch(url: str, dest: Path, on_progress: Progress | None = None, timeout_s: float = TIMEOUT_S) -> int:
    """Downloads `url` into `dest`, continuing from what `dest` already holds; returns its final size.

    Raises `DownloadError` when the transfer fails or stops early; `dest` then keeps what arrived, and the
    next call resumes from there.
    """
    start = dest.stat().st_size if dest.is_file() else 0
    headers = {"User-Agent": USER_AGENT}
    if start:
        headers["Range"] = f"bytes={start}-"
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout_s) as response:
            if response.headers.get_content_type() == "text/html":
                raise DownloadError(f"{url} answered with a web page, not the file")
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
        raise DownloadError(f"{url} answered HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        held = dest.stat().st_size if dest.is_file() else 0
        if held == 0:  # no byte has arrived, in this attempt or before: nothing to keep or resume
            dest.unlink(missing_ok=True)
            raise DownloadError(f"downloading {url} failed ({reason}); nothing arrived: check the network "
                                "connection and run the same command again") from None
        raise DownloadError(f"downloading {url} failed ({reason}); the {held} bytes that arrived are kept: run the "
                            "same command again to resume") from None
    # urllib does not notice a connection that closes early; the length the server announced does.
    if total is not None and done != total:
        raise DownloadError(f"the transfer of {url} stopped at {done} of {total} bytes; run the same command "
                            "again to resume")
    return done


def _total_size(response: Any, start: int) -> int | None:
    """The whole file's size, from Content-Range on a resumed transfer, else from Content-Length."""
    if response.status == 206:
        match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
        if not match or int(match.group(1)) != start:
            raise DownloadError(f"the server resumed the download at the wrong place "
                                f"({response.headers.get('Content-Range')!r}, asked for byte {start})")
        return None if match.group(3) == "*" else int(match.group(3))
    length = response.headers.get("Content-Length")
    return int(length) if length and length.isdigit() else None


def download_file(url: str, dest: Path, sha256: str | None = None, on_progress: Progress | None = None,
                  timeout_s: float = TIMEOUT_S) -> Path:
    """Fetches `url` to `dest` through `dest` + PARTIAL_SUFFIX (resumable); returns `dest`.

    With a known `sha256`, a `dest` that already has it is kept without asking the server, and a download
    that does not match is deleted; only a whole, matching file is moved into place.
    """
    dest = Path(dest)
    expected = sha256.lower() if sha256 else None
    if expected and dest.is_file() and sha256_of(dest) == expected:
        return dest
    partial = dest.with_name(dest.name + PARTIAL_SUFFIX)
    fetch(url, partial, on_progress, timeout_s)
    digest = sha256_of(partial)
    if expected and digest != expected:
        partial.unlink()
        raise DownloadError(f"the file from {url} has SHA-256 {digest}, expected {expected}; it was deleted")
    os.replace(partial, dest)
    return dest


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
