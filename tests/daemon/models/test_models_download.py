"""Model downloads and installs (daemon/models/download.py), with no network: fixture files served by the
loopback HTTP server of tests/http_fixtures.py (the `http_server` fixture), which can also misbehave on request.

The transfer on its own (resume, early stop, single files with or without a checksum) is tested in
tests/daemon/test_transfer.py; here, what an install makes of it.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from conftest import make_stylegan3_generator
from dragd.daemon.models import download as dl
from dragd.daemon.models.catalogue import parse_catalogue
from dragd.daemon.models.checkpoint import CheckpointNotFoundError
from dragd.daemon.models.loader import load_generator
from dragd.daemon.models.registry import find_model, list_models
from http_fixtures import torch_at_first_request
from model_fixtures import TINY, TINY_UNCLAMPED, nvidia_pickle_bytes, outputs, random_generator, write_rosinality
from sg3_fixtures import nvidia_stylegan3_pickle_bytes
from tf_fixtures import tf_pickle_bytes, tf_representable


@pytest.fixture
def models_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "models"
    monkeypatch.setenv("DRAGD_MODELS_DIR", str(folder))
    return folder


def catalogue_for(base: str, path: str, resolution: tuple[int, int] = (16, 16), sha256: str | None = None,
                  mirrors: tuple[str, ...] = (), name: str = "tiny", fmt: str = "nvidia-pickle"):
    return parse_catalogue({"format_version": 1, "models": [{
        "name": name, "title": "Tiny test model", "domain": "cars", "resolution": list(resolution),
        "url": base + path, "mirrors": list(mirrors), "file_name": "tiny.pkl", "format": fmt,
        "page": base + "/page", "sha256": sha256, "download_size": None, "licence": "test only",
        "default_step_size": 0.002, "description": "a tiny random generator"}]})


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- the fixture files, one per format --------------------------------------------------------------


def _rosinality_bytes(generator, tmp_path: Path) -> bytes:
    return write_rosinality(tmp_path / "ros.pt", generator).read_bytes()


@pytest.fixture(scope="module")
def sources():
    return {"nvidia": random_generator(TINY, seed=11), "tf": tf_representable(random_generator(TINY_UNCLAMPED, 12)),
            "rosinality": random_generator(TINY_UNCLAMPED, seed=13),
            "portrait": random_generator(replace(TINY, square=False), seed=14),
            "stylegan3": make_stylegan3_generator(seed=15)}


def file_bytes(kind: str, generator, tmp_path: Path) -> bytes:
    if kind in ("nvidia", "portrait"):
        return nvidia_pickle_bytes(generator, only_g_ema=kind == "portrait")
    if kind == "tf":
        return tf_pickle_bytes(generator)
    if kind == "stylegan3":
        return nvidia_stylegan3_pickle_bytes(generator)
    return _rosinality_bytes(generator, tmp_path)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# --- downloads ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["nvidia", "tf", "rosinality", "portrait", "stylegan3"])
def test_download_converts_each_format_and_records_its_checksum(tmp_path, http_server, models_dir, sources, kind):
    base, served = http_server
    generator = sources[kind]
    body = file_bytes(kind, generator, tmp_path)
    served.files["/model.bin"] = body
    shape = generator.cfg.img_shape
    seen: list[tuple[int, int | None]] = []
    info = dl.download("tiny", on_progress=lambda done, total: seen.append((done, total)),
                       catalogue=catalogue_for(base, "/model.bin", shape))
    assert info.path == models_dir / "tiny.safetensors"
    assert leftovers(models_dir) == ["checksums.json", "tiny.json", "tiny.safetensors"]  # no .partial, no .pkl
    assert torch.equal(outputs(load_generator(info.path)), outputs(generator))
    sidecar = json.loads((models_dir / "tiny.json").read_text())
    assert sidecar["resolution"] == list(shape) and sidecar["domain"] == "cars"
    assert sidecar["sha256"] == dl.sha256_of(info.path) and sidecar["source_sha256"] == sha(body)
    assert sidecar["source"] == base + "/model.bin" and sidecar["default_step_size"] == 0.002
    assert seen[-1] == (len(body), len(body)) and all(a[0] <= b[0] for a, b in zip(seen, seen[1:], strict=False))
    records = json.loads((models_dir / "checksums.json").read_text())["models"]
    assert records["tiny"]["sha256"] == sha(body) and records["tiny"]["size"] == len(body)
    listed = find_model("tiny")
    assert listed.resolution == shape and listed.sha256 == sidecar["sha256"] and listed.domain == "cars"


def test_interrupted_download_resumes_with_a_range_request(tmp_path, http_server, models_dir, sources):
    base, served = http_server
    body = file_bytes("nvidia", sources["nvidia"], tmp_path)
    cut = len(body) * 2 // 5
    served.files["/m.pkl"] = body
    served.cut_once["/m.pkl"] = cut
    catalogue = catalogue_for(base, "/m.pkl", sha256=sha(body))
    with pytest.raises(dl.ModelInstallError, match=f"stopped at {cut} of {len(body)} bytes.*resume"):
        dl.download("tiny", catalogue=catalogue)
    assert leftovers(models_dir) == ["tiny.download.partial"]  # what arrived is kept, nothing installed
    assert (models_dir / "tiny.download.partial").stat().st_size == cut
    info = dl.download("tiny", catalogue=catalogue)
    assert served.requests[-1] == ("/m.pkl", f"bytes={cut}-")
    assert served.bytes_sent == len(body)  # the second request sent only the rest
    assert torch.equal(outputs(load_generator(info.path)), outputs(sources["nvidia"]))
    assert leftovers(models_dir) == ["tiny.json", "tiny.safetensors"]  # a published checksum: nothing recorded


def test_server_that_ignores_range_restarts_the_file(tmp_path, http_server, models_dir, sources):
    base, served = http_server
    body = file_bytes("nvidia", sources["nvidia"], tmp_path)
    served.files["/m.pkl"] = body
    served.cut_once["/m.pkl"] = 1000
    served.ignore_range = True
    catalogue = catalogue_for(base, "/m.pkl", sha256=sha(body))
    with pytest.raises(dl.ModelInstallError):
        dl.download("tiny", catalogue=catalogue)
    info = dl.download("tiny", catalogue=catalogue)  # sent whole again: written from the start, not appended
    assert dl.sha256_of(info.path) == info.sha256
    assert torch.equal(outputs(load_generator(info.path)), outputs(sources["nvidia"]))


def test_complete_partial_file_is_verified_without_downloading_again(tmp_path, http_server, models_dir, sources):
    base, served = http_server
    body = file_bytes("nvidia", sources["nvidia"], tmp_path)
    served.files["/m.pkl"] = body
    models_dir.mkdir()
    (models_dir / "tiny.download.partial").write_bytes(body)  # e.g. interrupted during conversion
    dl.download("tiny", catalogue=catalogue_for(base, "/m.pkl", sha256=sha(body)))
    assert served.bytes_sent == 0 and served.requests == [("/m.pkl", f"bytes={len(body)}-")]


def test_checksum_mismatch_rejects_the_file_and_leaves_nothing(tmp_path, http_server, models_dir, sources):
    base, served = http_server
    body = file_bytes("nvidia", sources["nvidia"], tmp_path)
    served.files["/m.pkl"] = body
    wrong = sha(b"another file")
    with pytest.raises(dl.ChecksumMismatchError, match="published checksum"):
        dl.download("tiny", catalogue=catalogue_for(base, "/m.pkl", sha256=wrong))
    assert leftovers(models_dir) == []


def test_recorded_checksum_refuses_a_changed_file_later(tmp_path, http_server, models_dir, sources):
    base, served = http_server
    first = file_bytes("nvidia", sources["nvidia"], tmp_path)
    served.files["/m.pkl"] = first
    catalogue = catalogue_for(base, "/m.pkl")  # no published checksum
    installed = dl.download("tiny", catalogue=catalogue)
    served.files["/m.pkl"] = nvidia_pickle_bytes(random_generator(TINY, seed=99))  # the publisher's file changed
    with pytest.raises(dl.ChecksumMismatchError, match="recorded when it was first downloaded"):
        dl.download("tiny", catalogue=catalogue, force=True)
    assert leftovers(models_dir) == ["checksums.json", "tiny.json", "tiny.safetensors"]
    assert dl.sha256_of(installed.path) == installed.sha256  # the installed model was not touched
    records = json.loads((models_dir / "checksums.json").read_text())["models"]
    assert records["tiny"]["sha256"] == sha(first)
    served.files["/m.pkl"] = first  # the original again: accepted
    dl.download("tiny", catalogue=catalogue, force=True)


def test_damaged_checksum_records_refuse_rather_than_guess(tmp_path, http_server, models_dir, sources):
    base, served = http_server
    served.files["/m.pkl"] = file_bytes("nvidia", sources["nvidia"], tmp_path)
    models_dir.mkdir()
    (models_dir / "checksums.json").write_text("{not json")
    with pytest.raises(dl.ModelInstallError, match="checksums.json.*unreadable"):
        dl.download("tiny", catalogue=catalogue_for(base, "/m.pkl"))


def test_web_page_instead_of_the_file_is_explained(http_server, models_dir):
    base, served = http_server
    served.html.add("/gdrive")
    with pytest.raises(dl.ModelInstallError, match="web page.*by hand from .*/page.*dragd models add"):
        dl.download("tiny", catalogue=catalogue_for(base, "/gdrive"))
    assert leftovers(models_dir) == []


def test_a_file_that_is_no_model_is_deleted(http_server, models_dir):
    base, served = http_server
    served.files["/junk"] = b"\x80\x04" + bytes(range(256)) * 40
    with pytest.raises(dl.ModelInstallError, match="not a model dragd can use"):
        dl.download("tiny", catalogue=catalogue_for(base, "/junk"))
    assert leftovers(models_dir) == []


def test_wrong_resolution_is_not_installed(tmp_path, http_server, models_dir, sources):
    base, served = http_server
    served.files["/m.pkl"] = file_bytes("nvidia", sources["nvidia"], tmp_path)
    with pytest.raises(dl.ModelInstallError, match="16x16 images, not the 32x32"):
        dl.download("tiny", catalogue=catalogue_for(base, "/m.pkl", resolution=(32, 32)))
    assert leftovers(models_dir) == []


def test_mirror_is_tried_when_the_first_address_fails(tmp_path, http_server, models_dir, sources):
    base, served = http_server
    served.files["/mirror.pkl"] = file_bytes("nvidia", sources["nvidia"], tmp_path)
    info = dl.download("tiny", catalogue=catalogue_for(base, "/gone.pkl", mirrors=(base + "/mirror.pkl",)))
    assert info.source == base + "/mirror.pkl"
    assert [path for path, _ in served.requests] == ["/gone.pkl", "/mirror.pkl"]


def test_unreachable_server_is_a_clear_error(models_dir):
    catalogue = catalogue_for("http://127.0.0.1:9", "/m.pkl")  # the discard port: nothing listens
    with pytest.raises(dl.ModelInstallError, match="failed.*by hand"):
        dl.download("tiny", catalogue=catalogue)


def test_installed_model_is_not_replaced_without_force(tmp_path, http_server, models_dir, sources):
    base, served = http_server
    served.files["/m.pkl"] = file_bytes("nvidia", sources["nvidia"], tmp_path)
    catalogue = catalogue_for(base, "/m.pkl")
    dl.download("tiny", catalogue=catalogue)
    with pytest.raises(dl.ModelInstallError, match="already installed.*--force"):
        dl.download("tiny", catalogue=catalogue)


# --- the user's own checkpoints -------------------------------------------------------------------


def test_add_installs_a_users_checkpoint_in_any_format(tmp_path, models_dir, sources):
    src = tmp_path / "my-cars.pkl"
    src.write_bytes(tf_pickle_bytes(sources["tf"]))
    info = dl.add(src, "my-cars", domain="cars", licence="mine")
    assert info.default_step_size == 2e-3  # the paper's step size for cars, from the domain
    assert info.resolution == (16, 16) and info.sha256 == dl.sha256_of(info.path)
    listed = {m.name: m for m in list_models()}["my-cars"]
    assert listed.domain == "cars" and listed.licence == "mine" and listed.source == str(src.resolve())
    assert torch.equal(outputs(load_generator(listed.path)), outputs(sources["tf"]))
    sidecar = json.loads(info.path.with_suffix(".json").read_text())
    assert sidecar["source_format"] == "tf-pickle" and sidecar["source_sha256"] == sha(src.read_bytes())


def test_add_refuses_bad_names_clashes_and_non_models(tmp_path, models_dir, sources):
    src = write_rosinality(tmp_path / "x.pt", sources["rosinality"])
    with pytest.raises(dl.ModelInstallError, match="cannot be a model name"):
        dl.add(src, "../escape")
    with pytest.raises(dl.ModelInstallError, match="built into dragd"):
        dl.add(src, "faces-128-cpu")
    dl.add(src, "mine", default_step_size=5e-4)
    assert find_model("mine").default_step_size == 5e-4
    with pytest.raises(dl.ModelInstallError, match="already installed"):
        dl.add(src, "mine")
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"hello")
    with pytest.raises(dl.ModelInstallError, match="not a model dragd can use"):
        dl.add(junk, "junk")
    with pytest.raises(CheckpointNotFoundError):
        dl.add(tmp_path / "missing.pkl", "missing")
    assert leftovers(models_dir) == ["mine.json", "mine.safetensors"]


# --- the command line: dragd models [list|download|add] --------------------------------------------


def test_cli_lists_downloads_and_adds(tmp_path, http_server, models_dir, sources, monkeypatch, capsys):
    from dragd.daemon import cli
    from dragd.daemon.models import catalogue as catalogue_module

    base, served = http_server
    served.files["/m.pkl"] = file_bytes("portrait", sources["portrait"], tmp_path)
    test_catalogue = catalogue_for(base, "/m.pkl", resolution=(16, 8), name="tiny-human")
    monkeypatch.setattr(catalogue_module, "load_catalogue", lambda: test_catalogue)

    assert cli.main(["models"]) == 0  # plain `dragd models` lists, as before
    out = capsys.readouterr().out
    assert "faces-128-cpu" in out and "128x128" in out and "to download" in out and "tiny-human" in out

    assert cli.main(["models", "download", "tiny-human"]) == 0
    captured = capsys.readouterr()
    assert "licence: test only" in captured.err and "100.0 %" in captured.err  # progress on stderr
    assert "installed tiny-human (16x8, cars)" in captured.out

    src = write_rosinality(tmp_path / "mine.pt", sources["rosinality"])
    assert cli.main(["models", "add", str(src), "--name", "mine", "--domain", "faces"]) == 0
    assert "installed mine (16x16, faces, step 0.002)" in capsys.readouterr().out

    assert cli.main(["models", "list", "--json"]) == 0
    listed = {m["name"]: m for m in json.loads(capsys.readouterr().out)}
    assert listed["tiny-human"]["resolution"] == [16, 8] and listed["mine"]["domain"] == "faces"

    assert cli.main(["models", "download", "nope"]) == 2
    assert capsys.readouterr().err.count("\n") == 1  # one line, no traceback
    assert cli.main(["models", "add", str(src), "--name", "bad/name"]) == 2
    assert "cannot be a model name" in capsys.readouterr().err


def test_cli_download_without_a_network_says_nothing_arrived(models_dir, monkeypatch, capsys):
    from dragd.daemon import cli
    from dragd.daemon.models import catalogue as catalogue_module

    offline = catalogue_for("http://127.0.0.1:9", "/m.pkl", name="tiny-human")  # port 9: nothing listens
    monkeypatch.setattr(catalogue_module, "load_catalogue", lambda: offline)
    assert cli.main(["models", "download", "tiny-human"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "nothing arrived: check the network connection" in err and "kept" not in err
    assert leftovers(models_dir) == []


def test_cli_download_touches_the_network_before_importing_torch(tmp_path):
    """`dragd models download` starts the transfer at once: torch (seconds to import) waits for a file to convert."""
    entry = {"name": "tiny-human", "title": "t", "domain": "cars", "resolution": [16, 16],
             "url": "http://127.0.0.1:9/m.pkl", "mirrors": [], "file_name": "m.pkl", "format": "nvidia-pickle",
             "page": "http://127.0.0.1:9/", "sha256": None, "download_size": None, "licence": "test only",
             "default_step_size": 0.002, "description": ""}
    setup = ("from dragd.daemon.models import catalogue; offline = catalogue.parse_catalogue("
             f"{{'format_version': 1, 'models': [{entry!r}]}}); catalogue.load_catalogue = lambda: offline")
    report, err = torch_at_first_request(setup, ["models", "download", "tiny-human"],
                                         {**os.environ, "DRAGD_MODELS_DIR": str(tmp_path / "models")})
    assert report == {"status": 2, "torch_at_first_request": [False]}, err
    assert "nothing arrived" in err
