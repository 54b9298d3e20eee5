"""dragd.daemon.transfer against the loopback HTTP server (tests/http_fixtures.py): a whole file with progress,
resume, a server that ignores Range, a transfer that stops early, checksums known or not, errors, and the
progress line."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest
from dragd.daemon.transfer import PARTIAL_SUFFIX, DownloadError, TerminalProgress, download_file, fetch, sha256_of

PAYLOAD = bytes(range(256)) * 4096 * 3  # 3 MiB: several read chunks
SHA = hashlib.sha256(PAYLOAD).hexdigest()
PATH = "/weights.bin"


@pytest.fixture
def served_payload(http_server):
    base, served = http_server
    served.files[PATH] = PAYLOAD
    return base + PATH, served


def partial_of(dest: Path) -> Path:
    return dest.with_name(dest.name + PARTIAL_SUFFIX)


def test_full_download_with_progress(served_payload, tmp_path: Path):
    url, served = served_payload
    seen: list[tuple[int, int | None]] = []
    dest = download_file(url, tmp_path / "w.bin", SHA, lambda d, t: seen.append((d, t)))
    assert dest.read_bytes() == PAYLOAD
    assert seen[-1] == (len(PAYLOAD), len(PAYLOAD)) and len(seen) >= 2
    assert not partial_of(dest).exists()
    download_file(url, dest, SHA)  # already there and correct: no request
    assert served.requests == [(PATH, None)]


def test_resumes_from_a_partial_file(served_payload, tmp_path: Path):
    url, served = served_payload
    partial_of(tmp_path / "w.bin").write_bytes(PAYLOAD[:300_000])
    dest = download_file(url, tmp_path / "w.bin", SHA)
    assert dest.read_bytes() == PAYLOAD
    assert served.requests == [(PATH, "bytes=300000-")]


def test_server_ignoring_the_range_starts_over(served_payload, tmp_path: Path):
    url, served = served_payload
    served.ignore_range = True
    partial_of(tmp_path / "w.bin").write_bytes(b"junk" * 1000)
    assert download_file(url, tmp_path / "w.bin", SHA).read_bytes() == PAYLOAD


def test_transfer_that_stops_early_is_noticed_and_resumed(served_payload, tmp_path: Path):
    url, served = served_payload
    cut = 1_000_000
    served.cut_once[PATH] = cut
    partial = tmp_path / "w.bin.partial"
    with pytest.raises(DownloadError, match=f"stopped at {cut} of {len(PAYLOAD)} bytes.*resume"):
        fetch(url, partial)
    assert partial.stat().st_size == cut  # what arrived is kept
    assert fetch(url, partial) == len(PAYLOAD)
    assert served.requests[-1] == (PATH, f"bytes={cut}-") and served.bytes_sent == len(PAYLOAD)
    assert partial.read_bytes() == PAYLOAD


def test_wrong_checksum_deletes_the_download(served_payload, tmp_path: Path):
    url, _ = served_payload
    with pytest.raises(DownloadError, match="SHA-256"):
        download_file(url, tmp_path / "w.bin", "0" * 64)
    assert not (tmp_path / "w.bin").exists() and not partial_of(tmp_path / "w.bin").exists()


def test_without_a_checksum_the_whole_file_is_kept(served_payload, tmp_path: Path):
    url, served = served_payload
    served.cut_once[PATH] = 5000
    with pytest.raises(DownloadError, match="stopped at 5000"):
        download_file(url, tmp_path / "w.bin")
    assert not (tmp_path / "w.bin").exists()  # an incomplete file is never moved into place
    dest = download_file(url, tmp_path / "w.bin")
    assert sha256_of(dest) == SHA and not partial_of(dest).exists()


def test_http_and_network_errors_are_download_errors(served_payload, tmp_path: Path):
    url, _ = served_payload
    with pytest.raises(DownloadError, match="404"):
        download_file(url.replace(PATH, "/missing.bin"), tmp_path / "w.bin", SHA)
    with pytest.raises(DownloadError, match="failed .*; nothing arrived: check the network"):
        download_file("http://127.0.0.1:9/nothing", tmp_path / "w.bin", SHA, timeout_s=2)
    assert list(tmp_path.iterdir()) == []  # no empty partial file left behind
    partial_of(tmp_path / "w.bin").write_bytes(b"x" * 10)  # an earlier attempt got 10 bytes
    with pytest.raises(DownloadError, match="the 10 bytes that arrived are kept: run the same command again"):
        download_file("http://127.0.0.1:9/nothing", tmp_path / "w.bin", SHA, timeout_s=2)


def test_progress_prints_a_line_per_tenth_when_not_a_terminal():
    stream = io.StringIO()
    progress = TerminalProgress("tiny", stream)
    for done in range(0, 1001, 50):
        progress(done, 1000)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 11 and lines[-1].startswith("tiny  100.0 %")
