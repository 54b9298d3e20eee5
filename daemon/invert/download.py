"""Downloading a weights file: resumable (HTTP Range), checked against its SHA-256 before it is used.

The file grows as `NAME.part` beside its destination; an interrupted download resumes from there. Only a
file whose whole content has the expected hash is renamed into place; a wrong one is deleted.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

CHUNK = 1 << 20


class DownloadError(RuntimeError):
    """The file could not be fetched or is not the expected one."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def download(url: str, dest: Path, sha256: str, on_progress: Callable[[int, int | None], None] | None = None,
             timeout_s: float = 30.0) -> Path:
    """Fetches `url` to `dest` unless `dest` already has the hash; on_progress(bytes_done, bytes_total)."""
    dest = Path(dest)
    if dest.is_file() and sha256_of(dest) == sha256:
        return dest
    part = dest.with_name(dest.name + ".part")
    start = part.stat().st_size if part.is_file() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={start}-"} if start else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            if start and response.status != 206:  # the server ignored the range: start over
                start = 0
            length = response.headers.get("Content-Length")
            total = start + int(length) if length is not None else None
            done = start
            with part.open("ab" if start else "wb") as out:
                while block := response.read(CHUNK):
                    out.write(block)
                    done += len(block)
                    if on_progress is not None:
                        on_progress(done, total)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and start:  # asked for bytes past the end: the part file is complete (or wrong)
            pass
        else:
            raise DownloadError(f"cannot download {url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        resume = " (the partial file is kept; run again to resume)" if part.is_file() and part.stat().st_size else ""
        raise DownloadError(f"cannot download {url}: {exc}{resume}") from None
    actual = sha256_of(part)
    if actual != sha256:
        part.unlink()
        raise DownloadError(f"{url} has SHA-256 {actual}, expected {sha256}; the download was deleted")
    os.replace(part, dest)
    return dest
