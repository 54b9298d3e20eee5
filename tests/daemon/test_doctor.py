"""`dragd doctor` on a healthy setup (editors with their plugins, a running daemon) and a broken one (an
editor Python without pyzmq, no daemon), through the command line; then each check on its own."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import free_tcp_address
from dragd.daemon import cli, doctor
from dragd.daemon.models.registry import DEFAULT_MODEL, ModelInfo, find_model
from dragd.daemon.server.app import Daemon
from dragd.daemon.server.config import ServerConfig
from dragd.daemon.server.security import create_keys
from dragd.daemon.transfer import sha256_of
from dragd.install import gimp as gimp_step
from dragd.install import krita as krita_step


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A home with Krita and GIMP 3 profiles holding the installed plugins; no user models."""
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.setenv("DRAGD_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("DRAGD_DAEMON_COMMAND", sys.executable)  # what the GIMP plug-in would start
    for name in ("DRAGD_ADDRESS", "GIMP3_DIRECTORY", "DRAGD_KRITA_PYTHON", "DRAGD_GIMP_PYTHON"):
        monkeypatch.delenv(name, raising=False)
    resources = home / ".local" / "share" / "krita"
    krita_step.install_krita_plugin(resources, home / ".config" / "kritarc",
                                    daemon_command=f"{sys.executable} -m dragd.daemon.cli serve --address {{address}}")
    gimp_step.install_gimp_plugin(home / ".config" / "GIMP" / "3.0")
    return home


def python_lacking_zmq(path: Path) -> Path:
    """Stands in for an editor's own Python without pyzmq or msgpack: this Python without site-packages."""
    path.write_text(f'#!/bin/sh\nexec "{sys.executable}" -S "$@"\n')
    path.chmod(0o755)
    return path



def run_doctor(capsys, *args: str) -> tuple[int, list[str]]:
    status = cli.main(["doctor", "--krita-python", sys.executable, *args])
    out = capsys.readouterr().out.splitlines()
    return status, out


def line(lines: list[str], start: str) -> str:
    found = [text for text in lines if text.startswith(start)]
    assert len(found) == 1, (start, lines)
    return found[0]


def test_a_healthy_setup_is_all_ok_and_exits_zero(home, capsys):
    daemon = Daemon(ServerConfig(address="tcp://127.0.0.1:*", device="cpu", housekeeping_s=0.05))
    thread = daemon.start_in_thread()
    try:
        status, lines = run_doctor(capsys, "--gimp-python", sys.executable, "--address", daemon.endpoint)
    finally:
        daemon.request_stop()
        thread.join(15)
    assert status == 0, lines
    assert not [text for text in lines if text.startswith("FAIL")]
    assert line(lines, "OK    Python: ").endswith(sys.executable)
    assert line(lines, "OK    torch: ").startswith("OK    torch: 2.13.0")
    assert line(lines, "WARN  device: ").startswith("WARN  device: CPU: drags run, but slowly; ")  # no GPU here
    assert "sha256 " in line(lines, f"OK    model {DEFAULT_MODEL}: faces, ")
    assert line(lines, "OK    face alignment: ").endswith("shape_predictor_68_face_landmarks.dat")  # dev.sh has it
    assert line(lines, "OK    Krita: ").endswith("dragd_krita and enabled")
    assert line(lines, "OK    Krita's Python: ").endswith("imports pyzmq and msgpack")
    assert line(lines, "OK    GIMP: plug-in installed in ")
    assert line(lines, "OK    GIMP's Python: ").endswith("imports pyzmq and msgpack")
    assert line(lines, "OK    address: ") == f"OK    address: {daemon.endpoint} (this computer only)"
    assert "CurveZMQ with your own keys" in line(lines, "OK    security: ")
    answer = line(lines, "OK    daemon: ")
    assert f"answers at {daemon.endpoint}" in answer and "faces-128-cpu" in answer and "device cpu" in answer
    assert lines[-1].startswith("everything needed works")


def test_a_broken_setup_says_what_is_wrong_and_exits_one(home, capsys, tmp_path):
    gimp_python = python_lacking_zmq(tmp_path / "gimp-python")
    address = free_tcp_address()  # nobody listens there
    status, lines = run_doctor(capsys, "--gimp-python", str(gimp_python), "--address", address, "--timeout", "0.3")
    assert status == 1
    broken = line(lines, "FAIL  GIMP's Python: ")
    assert str(gimp_python) in broken and "cannot import zmq (ModuleNotFoundError" in broken
    assert "msgpack (ModuleNotFoundError" in broken and "python3-zmq" in broken  # and how to fix it
    assert line(lines, "OK    Krita's Python: ")  # the other editor is fine
    assert line(lines, "WARN  daemon: ").startswith(f"WARN  daemon: no daemon answers at {address}")
    assert lines[-1].startswith("1 problem(s) to fix")


def test_face_alignment_missing_is_a_warning_an_artist_can_act_on(monkeypatch):
    from dragd.daemon.invert import align

    def unavailable():
        raise align.LandmarksUnavailable(align.NO_LANDMARK_MODEL)

    monkeypatch.setattr(align, "_dlib_models", unavailable)
    result = doctor.check_faces()
    assert result.status == doctor.WARN and "run the dragd installer again" in result.text


def test_a_broken_model_file_fails(home, capsys, tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    (models / "truncated.safetensors").write_bytes(find_model(None).path.read_bytes()[:5000])
    status, lines = run_doctor(capsys, "--gimp-python", sys.executable, "--address", free_tcp_address(),
                               "--timeout", "0.3")
    assert status == 1
    assert "is not a readable safetensors file" in line(lines, "FAIL  model truncated: ")


# ---- the checks one by one -----------------------------------------------------------------------------------


def test_check_model_verifies_a_recorded_checksum(tmp_path):
    embedded = find_model(None)
    digest = sha256_of(embedded.path)
    model = replace(embedded, sha256=digest)
    assert doctor.check_model(model).status == doctor.OK and "matches its record" in doctor.check_model(model).text
    assert "128x128 px" in doctor.check_model(model).text
    wrong = replace(embedded, sha256="0" * 64)
    assert doctor.check_model(wrong).status == doctor.FAIL and "checksum mismatch" in doctor.check_model(wrong).text
    gone = ModelInfo("m", tmp_path / "gone.safetensors")
    assert doctor.check_model(gone).status == doctor.FAIL and "missing" in doctor.check_model(gone).text
    no_config = tmp_path / "plain.safetensors"
    import numpy as np
    from safetensors.numpy import save_file

    save_file({"x": np.zeros(2, np.float32)}, str(no_config))
    plain = ModelInfo("p", no_config)
    assert "lacks its generator config" in doctor.check_model(plain).text


def test_the_default_model_missing_fails(tmp_path):
    results = doctor.check_models(lambda: [])
    assert [r.status for r in results] == [doctor.FAIL, doctor.OK, doctor.OK]
    assert DEFAULT_MODEL in results[0].text
    assert "ffhq-512" in results[2].text and "dragd models download NAME" in results[2].text


def test_address_and_security(tmp_path):
    assert doctor.check_address("http://localhost:1").status == doctor.FAIL
    assert doctor.check_address("tcp://0.0.0.0:5557").text.endswith("(reachable from other computers)")
    open_wide = doctor.check_security("tcp://0.0.0.0:5557", None)
    assert open_wide.status == doctor.FAIL and "dragd keys" in open_wide.text
    create_keys(tmp_path / "keys")
    secured = doctor.check_security("tcp://0.0.0.0:5557", tmp_path / "keys")
    assert secured.status == doctor.OK and "CurveZMQ" in secured.text
    assert doctor.check_security("tcp://0.0.0.0:5557", tmp_path / "nokeys").status == doctor.FAIL
    assert doctor.check_security("ipc:///tmp/d.sock", None).status == doctor.OK


def test_why_no_gpu():
    gpu = ["GPU 0: NVIDIA H100 80GB HBM3"]
    assert "--torch cuda" in doctor.why_no_gpu(None, gpu, "Linux", "x86_64", False)
    assert "no NVIDIA GPU or driver" in doctor.why_no_gpu(None, [], "Linux", "x86_64", False)
    assert "driver may be too old" in doctor.why_no_gpu("12.8", gpu, "Linux", "x86_64", False)
    assert "Intel Mac" in doctor.why_no_gpu(None, [], "Darwin", "x86_64", False)
    assert "no MPS support" in doctor.why_no_gpu(None, [], "Darwin", "arm64", False)


def test_editors_missing_or_half_installed(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    absent = doctor.check_krita(doctor.Setup(krita_dir=tmp_path / "no-krita", krita_python=Path(sys.executable)))
    assert [(r.status, r.topic) for r in absent] == [(doctor.WARN, "Krita")] and "not found" in absent[0].text
    (tmp_path / "krita").mkdir()
    bare = doctor.check_krita(doctor.Setup(krita_dir=tmp_path / "krita", krita_python=Path(sys.executable)))
    assert bare[0].status == doctor.WARN and "not installed" in bare[0].text
    krita_step.install_krita_plugin(tmp_path / "krita", tmp_path / "config" / "kritarc",
                                    daemon_command="/nowhere/dragd serve --address {address}")
    lost = doctor.check_krita(doctor.Setup(krita_dir=tmp_path / "krita", krita_python=Path(sys.executable)))
    assert [r.status for r in lost] == [doctor.OK, doctor.FAIL, doctor.OK]
    assert "/nowhere/dragd" in lost[1].text
    gimp = doctor.check_gimp(doctor.Setup(gimp_dir=tmp_path / "gimp", gimp_python=Path(sys.executable)))
    assert gimp[0].status == doctor.WARN and "not found" in gimp[0].text


def test_exit_status_and_lines():
    ok, warn, fail = (doctor.Result(s, "t", "x") for s in (doctor.OK, doctor.WARN, doctor.FAIL))
    assert doctor.exit_status([ok, warn]) == 0 and doctor.exit_status([ok, fail]) == 1
    assert fail.line() == "FAIL  t: x" and ok.line() == "OK    t: x"


def test_a_daemon_served_with_other_keys_is_named_not_reported_absent(tmp_path):
    from server_fixtures import running_daemon

    create_keys(tmp_path / "served")
    with running_daemon(curve_keys=tmp_path / "served") as daemon:
        result = doctor.check_daemon(daemon.endpoint, None, timeout_s=5.0)  # the user's own keys
    assert result.status == doctor.FAIL and "started with other keys" in result.line()
