"""The LPIPS network: weights loading (layout checked, nothing executed), distances, and its absence."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch
from dragd.daemon.invert.losses import ReconstructionLoss, multiscale_loss, noise_regularisation
from dragd.daemon.invert.lpips import HEADS_FILE, TAP_CHANNELS, VGG16_FILE, LpipsVgg, LpipsWeightsError, load_lpips


def _write_weights(folder: Path, seed: int = 0) -> None:
    """Random weights in the real files' layout: torchvision VGG16 keys and LPIPS head keys."""
    torch.manual_seed(seed)
    vgg = {f"features.{k}": v.clone() for k, v in LpipsVgg().features.state_dict().items()}
    vgg["classifier.0.weight"] = torch.zeros(4, 4)  # the real file has the classifier too; it is ignored
    heads = {f"lin{k}.model.1.weight": torch.rand(1, c, 1, 1) for k, c in enumerate(TAP_CHANNELS)}
    torch.save(vgg, folder / VGG16_FILE.name)
    torch.save(heads, folder / HEADS_FILE.name)


def test_absent_weights_mean_no_network(tmp_path: Path):
    assert load_lpips(tmp_path) is None


def test_loaded_network_measures_distances(tmp_path: Path):
    _write_weights(tmp_path)
    net = load_lpips(tmp_path)
    assert net is not None
    a = torch.rand(1, 3, 64, 64) * 2 - 1
    b = (a + 0.3 * torch.randn_like(a)).clamp(-1, 1)
    assert float(net(a, a)) == pytest.approx(0, abs=1e-6)
    assert float(net(a, b)) > 0
    assert float(net(a, b)) == pytest.approx(float(net(b, a)), rel=1e-5)
    loss = ReconstructionLoss(net)
    assert loss.perceptual and float(loss(a, b)) > float(net(a, b))  # LPIPS + pixel MSE


def test_wrong_files_are_refused(tmp_path: Path):
    _write_weights(tmp_path)
    torch.save({"lin0.model.1.weight": torch.zeros(1, 3, 1, 1)}, tmp_path / HEADS_FILE.name)
    with pytest.raises(LpipsWeightsError, match="lin0"):
        load_lpips(tmp_path)
    (tmp_path / HEADS_FILE.name).write_bytes(b"not a checkpoint")
    with pytest.raises(LpipsWeightsError, match="cannot read"):
        load_lpips(tmp_path)


def test_pixel_losses():
    a, b = torch.zeros(1, 3, 32, 32), torch.ones(1, 3, 32, 32)
    assert float(multiscale_loss(a, b)) == pytest.approx(1.0)
    loss = ReconstructionLoss(None)
    assert not loss.perceptual and float(loss(a, a)) == 0 and float(loss(a, b)) == pytest.approx(2.0)


def test_noise_regularisation_prefers_white_noise():
    white = torch.randn(64, 64, generator=torch.Generator().manual_seed(0))
    smooth = torch.nn.functional.avg_pool2d(white[None, None], 5, 1, 2)[0, 0]
    smooth = smooth / smooth.std()
    assert float(noise_regularisation([white])) < float(noise_regularisation([smooth])) / 100


def test_fetch_lpips_from_the_command_line(tmp_path: Path, http_server, monkeypatch, capsys):
    """`dragd models --fetch-lpips` fetches both files (checked) into the models folder, once."""
    from dragd.daemon import cli
    from dragd.daemon.invert import lpips_files as lpips

    base, served = http_server
    source = tmp_path / "source"
    source.mkdir()
    _write_weights(source)
    files = []
    for f in lpips.LPIPS_FILES:
        body = (source / f.name).read_bytes()
        served.files["/" + f.name] = body
        files.append(lpips.WeightsFile(f.name, f"{base}/{f.name}", hashlib.sha256(body).hexdigest()))
    monkeypatch.setattr(lpips, "LPIPS_FILES", tuple(files))
    monkeypatch.setenv("DRAGD_MODELS_DIR", str(tmp_path / "models"))

    assert cli.main(["models", "--fetch-lpips"]) == 0
    assert capsys.readouterr().err.count("checked") == 2
    assert load_lpips() is not None  # the default folder, now holding both files
    assert cli.main(["models", "--fetch-lpips"]) == 0
    capsys.readouterr()
    assert len(served.requests) == 2  # both were already there and correct: not fetched again

    monkeypatch.setattr(lpips, "LPIPS_FILES", (lpips.WeightsFile("other.pth", f"{base}/{files[0].name}", "0" * 64),))
    assert cli.main(["models", "--fetch-lpips"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[-1].startswith("dragd: error:") and "SHA-256" in err[-1]  # one line, no traceback
    assert not any("Traceback" in line for line in err)
    assert not (lpips.lpips_dir() / "other.pth").exists()


@pytest.mark.parametrize("which", ["vgg", "head"])
def test_weights_that_are_not_finite_are_refused(tmp_path: Path, which):
    """A NaN weight would turn every perceptual loss into NaN: refused at load (the callers then use pixel losses
    and say why)."""
    _write_weights(tmp_path)
    path = tmp_path / (VGG16_FILE.name if which == "vgg" else HEADS_FILE.name)
    tensors = torch.load(path, weights_only=True)
    key = "features.0.weight" if which == "vgg" else "lin2.model.1.weight"
    tensors[key].view(-1)[0] = float("nan")
    torch.save(tensors, path)
    with pytest.raises(LpipsWeightsError, match="NaN or infinite"):
        load_lpips(tmp_path)


def test_fetch_lpips_touches_the_network_before_importing_torch(tmp_path: Path):
    """`dragd models --fetch-lpips` starts the transfer at once; torch (seconds to import) is not needed for it."""
    import os

    from http_fixtures import torch_at_first_request

    setup = ("from dragd.daemon.invert import lpips_files; lpips_files.LPIPS_FILES = (lpips_files.WeightsFile("
             "'x.pth', 'http://127.0.0.1:9/x.pth', '0' * 64),)")
    report, err = torch_at_first_request(setup, ["models", "--fetch-lpips"],
                                         {**os.environ, "DRAGD_MODELS_DIR": str(tmp_path / "models")})
    assert report == {"status": 2, "torch_at_first_request": [False]}, err
