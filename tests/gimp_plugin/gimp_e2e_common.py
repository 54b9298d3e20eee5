"""What the real-GIMP tests share: the GIMP 3 root, daemons on the host, a home inside the root, one GIMP run.

GIMP 3 runs inside a Debian 13 root that install/gimp_chroot.sh builds once and caches (Debian 12 only has GIMP
2.10); daemons run on the host with the embedded 128 px model, on free loopback ports the root shares. When the
root cannot be built (not root, no debootstrap, no mirror) the tests FAIL, saying why: they never skip.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import free_tcp_address
from dragd.protocol.client import DragdClient
from dragd.protocol.errors import DragdError

REPO = Path(__file__).resolve().parents[2]
SIZE = 128  # the embedded default model's resolution
INVERSION_STEPS = "20,10,10"  # W, W+, tuning: few, to keep the runs short; quality is not judged here


@pytest.fixture(scope="module")
def gimp_root() -> Path:
    root = Path(os.environ.get("DRAGD_GIMP_CHROOT", "/var/cache/dragd-gimp-chroot"))
    started = time.monotonic()
    built = subprocess.run(["bash", str(REPO / "install" / "gimp_chroot.sh"), str(root)], capture_output=True,
                           text=True, timeout=1800)
    if built.returncode != 0:
        pytest.fail(f"cannot build the GIMP 3 root at {root} with install/gimp_chroot.sh (it needs root, "
                    f"debootstrap and a reachable Debian mirror; CI builds it in .ci/run):\n{built.stderr[-4000:]}")
    print(f"GIMP 3 root ready in {time.monotonic() - started:.1f} s: {root}")
    return root


@contextlib.contextmanager
def serve(logs: Path) -> Iterator[str]:
    """A daemon on the host (embedded model, CPU, short inversions) at a free loopback address, until exit.
    Each daemon keeps its sessions in its own state folder under `logs`, so a second one has never seen the
    first one's sessions (they would otherwise share the run's $DRAGD_STATE_DIR and restore each other's)."""
    address = free_tcp_address()
    logs.mkdir(parents=True, exist_ok=True)
    output = open(logs / "serve.out", "wb")  # noqa: SIM115 - closed below, after the process
    process = subprocess.Popen([sys.executable, "-m", "dragd.daemon.cli", "serve", "--address", address,
                                "--device", "cpu", "--inversion-steps", INVERSION_STEPS,
                                "--log-file", str(logs / "serve.jsonl"), "--state-dir", str(logs / "state")],
                               stdout=output, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        with DragdClient(address, timeout=1.0) as client:
            while True:
                try:
                    client.ping()
                    break
                except DragdError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        pytest.fail(f"dragd serve did not come up at {address}:\n"
                                    f"{(logs / 'serve.out').read_text()[-4000:]}")
        yield address
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        output.close()


@pytest.fixture
def gimp_home(gimp_root: Path) -> Iterator[Path]:
    """A home folder inside the root for this run: GIMP's profile, the batch script, the outputs."""
    home = Path(tempfile.mkdtemp(prefix="dragd-e2e-", dir=gimp_root / "tmp"))
    try:
        yield home
    finally:
        shutil.rmtree(home, ignore_errors=True)


def run_gimp(root: Path, home: Path, batch: Path, env: dict[str, str],
             timeout: float = 1800) -> tuple[subprocess.CompletedProcess[str], float, dict]:
    """Runs `batch` inside GIMP 3 (its window on Xvfb, so that keys can be pressed); returns the process, its
    seconds and the batch's report.json ({} when it wrote none). The timeout is generous: on a shared 2-core
    machine one run took 8 min (the same run takes well under 2 in CI). `env` adds to the batch's environment;
    DRAGD_E2E_OUT is set to the output folder, `home / "out"`."""
    inside = "/" + str(home.relative_to(root))  # the same folder, as seen from inside the root
    shutil.copyfile(batch, home / "batch.py")
    shutil.copyfile(Path(__file__).with_name("gimp_batch_helpers.py"), home / "gimp_batch_helpers.py")
    (home / "out").mkdir(exist_ok=True)
    # Every connection is CurveZMQ with the user's client keys; the root does not see the host's folders, so
    # the run's keys folder (conftest; the host daemon's) is copied in, as a user's GIMP on the host reads it.
    if not (home / "keys").exists():
        shutil.copytree(os.environ["DRAGD_KEYS"], home / "keys")
    env = {"PATH": "/usr/bin:/bin", "HOME": inside, "GIMP3_DIRECTORY": f"{inside}/profile", "LANG": "C.UTF-8",
           "DRAGD_E2E_OUT": f"{inside}/out", "DRAGD_KEYS": f"{inside}/keys", **env}
    # A display number of our own: the root's /tmp does not show the host's X lock files, but X's abstract
    # sockets are shared with the host, so xvfb-run's usual first choice may be taken by a host Xvfb.
    display = 100 + (os.getpid() + int(time.monotonic())) % 800
    command = ["chroot", str(root), "env", "-i", *(f"{k}={v}" for k, v in env.items()),
               "xvfb-run", "--auto-servernum", f"--server-num={display}", "-s", "-screen 0 1280x1024x24",
               "gimp-3.0", "-n", "--batch-interpreter=python-fu-eval",
               "-b", f"exec(open('{inside}/batch.py').read())", "--quit"]
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    report_file = home / "out" / "report.json"
    report = json.loads(report_file.read_text()) if report_file.exists() else {}
    return done, time.monotonic() - started, report


def failure(done: subprocess.CompletedProcess[str], report: dict) -> str:
    return (f"gimp-3.0 exited with {done.returncode}\nstderr:\n{done.stderr[-6000:]}\nstdout:\n{done.stdout[-2000:]}"
            f"\nreport: {json.dumps(report)[:3000]}")
