"""The weights download against a local HTTP server: full fetch, resume, checksum, errors."""

from __future__ import annotations

import hashlib
import http.server
import threading
from pathlib import Path

import pytest
from dragd.daemon.invert.download import DownloadError, download

PAYLOAD = bytes(range(256)) * 4096 * 3  # 3 MiB: several read chunks
SHA = hashlib.sha256(PAYLOAD).hexdigest()


class RangeHandler(http.server.BaseHTTPRequestHandler):
    """Serves PAYLOAD at /weights.bin, honouring 'Range: bytes=N-' (http.server's own handler does not)."""

    requests: list[str | None] = []
    honour_range = True

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        if self.path != "/weights.bin":
            self.send_error(404)
            return
        asked = self.headers.get("Range")
        type(self).requests.append(asked)
        start = int(asked.removeprefix("bytes=").rstrip("-")) if asked and self.honour_range else 0
        if start >= len(PAYLOAD):
            self.send_error(416)
            return
        body = PAYLOAD[start:]
        self.send_response(206 if start else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server():
    RangeHandler.requests = []
    RangeHandler.honour_range = True
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RangeHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_full_download_with_progress(server, tmp_path: Path):
    seen: list[tuple[int, int | None]] = []
    dest = download(f"{server}/weights.bin", tmp_path / "w.bin", SHA, lambda d, t: seen.append((d, t)))
    assert dest.read_bytes() == PAYLOAD
    assert seen[-1] == (len(PAYLOAD), len(PAYLOAD)) and len(seen) >= 2
    assert not (tmp_path / "w.bin.part").exists()
    download(f"{server}/weights.bin", dest, SHA)  # already there and correct: no request
    assert RangeHandler.requests == [None]


def test_resumes_from_a_partial_file(server, tmp_path: Path):
    (tmp_path / "w.bin.part").write_bytes(PAYLOAD[:300_000])
    dest = download(f"{server}/weights.bin", tmp_path / "w.bin", SHA)
    assert dest.read_bytes() == PAYLOAD
    assert RangeHandler.requests == ["bytes=300000-"]


def test_server_ignoring_the_range_starts_over(server, tmp_path: Path):
    RangeHandler.honour_range = False
    (tmp_path / "w.bin.part").write_bytes(b"junk" * 1000)
    assert download(f"{server}/weights.bin", tmp_path / "w.bin", SHA).read_bytes() == PAYLOAD


def test_wrong_checksum_deletes_the_download(server, tmp_path: Path):
    with pytest.raises(DownloadError, match="SHA-256"):
        download(f"{server}/weights.bin", tmp_path / "w.bin", "0" * 64)
    assert not (tmp_path / "w.bin").exists() and not (tmp_path / "w.bin.part").exists()


def test_http_and_network_errors_are_download_errors(server, tmp_path: Path):
    with pytest.raises(DownloadError, match="404"):
        download(f"{server}/missing.bin", tmp_path / "w.bin", SHA)
    with pytest.raises(DownloadError, match="cannot download"):
        download("http://127.0.0.1:9/nothing", tmp_path / "w.bin", SHA, timeout_s=2)
