"""The `dragd` command line: outputs of generate and drag, and one-line errors for bad input."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from conftest import make_generator
from dragd.daemon.cli import main, parse_points
from dragd.daemon.models.canonical import write_canonical
from dragd.daemon.models.checkpoint import Checkpoint
from PIL import Image


def model_file(path, generator) -> str:
    write_canonical(Checkpoint(generator.cfg, generator.state_dict(), "test", {}), path)
    return str(path)


@pytest.fixture
def tiny_model(tmp_path, tiny_generator):
    return model_file(tmp_path / "tiny.safetensors", tiny_generator)


@pytest.fixture
def portrait_model(tmp_path, tiny_generator):
    """32 rows x 16 columns, StyleGAN-Human's layout at a tiny size."""
    return model_file(tmp_path / "portrait.safetensors", make_generator(replace(tiny_generator.cfg, square=False)))


def test_parse_points():
    assert parse_points("1,2:3,4; 5.5,6:7,8") == ([(1, 2), (5.5, 6)], [(3, 4), (7, 8)])


def test_generate_writes_image_and_latent(tmp_path, tiny_model):
    out = tmp_path / "g.png"
    assert main(["generate", "--model", tiny_model, "--seed", "3", "--out", str(out)]) == 0
    assert Image.open(out).size == (32, 32)
    assert np.load(tmp_path / "g.npy").shape == (1, 8, 32)


def test_drag_writes_every_output_and_continues_from_its_latent(tmp_path, tiny_model):
    out = tmp_path / "d.png"
    args = ["drag", "--model", tiny_model, "--points", "12,16:19,16", "--steps", "40", "--step-size", "0.02"]
    assert main([*args, "--seed", "0", "--gif", "--out", str(out)]) == 0
    record = json.loads((tmp_path / "d.json").read_text())
    assert record["stopped"] in ("reached", "max_steps") and len(record["trajectory"]) == record["steps"] + 1
    assert Image.open(tmp_path / "d.gif").n_frames > 2
    assert Image.open(tmp_path / "d_before_after.png").width > 2 * 32
    again = tmp_path / "again.png"
    assert main([*args, "--latent", str(tmp_path / "d.npy"), "--out", str(again)]) == 0
    first = json.loads((tmp_path / "again.json").read_text())["trajectory"][0]
    assert first == [[12.0, 16.0]]


@pytest.mark.parametrize("extra,message", [
    (["--seed", "0", "--points", "1,2;3,4"], "malformed point pair"),
    (["--seed", "0", "--points", "1,2:300,4"], "outside"),
    (["--seed", "0", "--points", "1,2:3,4", "--model", "no-such-model"], "unknown model"),
    (["--latent", "/nonexistent.npy", "--points", "1,2:3,4"], "cannot read latent"),
    (["--seed", "0", "--points", "1,2:3,4", "--latent-space", "w+", "--step-size", "-1"], "--step-size"),
    (["--seed", "0", "--points", "-5,10:20,20"], "point (-5, 10) is outside"),  # a value, not an option
    (["--seed", "0", "--points", "1,2:3,4", "--trainable-layers", "99"], "trainable layers must be in"),
    (["--seed", "0", "--points", "1,2:3,4", "--mask", "/nonexistent.png"], "no such mask"),
    (["--seed", "0", "--points", "1,2:3,4", "--device", "quantum"], "unknown device"),
    (["--seed", "0", "--points", "1,2:3,4", "--compute", "some"], "invalid choice"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, tiny_model, capsys, extra, message):
    argv = ["drag", "--model", tiny_model, *extra, "--out", str(tmp_path / "x.png")]
    if "--model" in extra:
        argv = ["drag", *extra, "--out", str(tmp_path / "x.png")]
    try:
        assert main(argv) == 2
    except SystemExit as exit:  # argparse's own refusals
        assert exit.code == 2
    err = capsys.readouterr().err.strip()
    assert message in err.splitlines()[-1] and "Traceback" not in err


def test_full_and_windowed_compute_give_the_same_drag(tmp_path, tiny_model):
    records = []
    for compute in ("full", "windowed"):
        out = tmp_path / f"{compute}.png"
        assert main(["drag", "--model", tiny_model, "--seed", "0", "--points", "6,8:14,8", "--steps", "15",
                     "--step-size", "0.02", "--stop-distance", "0", "--compute", compute, "--out", str(out)]) == 0
        records.append(json.loads((tmp_path / f"{compute}.json").read_text()))
    assert records[0]["trajectory"] == records[1]["trajectory"] and records[0]["steps"] == 15


def test_a_mask_of_the_wrong_size_and_a_garbage_model_are_refused(tmp_path, tiny_model, capsys):
    Image.new("L", (8, 8), 255).save(tmp_path / "m.png")
    argv = ["drag", "--model", tiny_model, "--seed", "0", "--points", "1,2:3,4", "--mask", str(tmp_path / "m.png"),
            "--out", str(tmp_path / "x.png")]
    assert main(argv) == 2 and "mask" in capsys.readouterr().err
    (tmp_path / "junk.pkl").write_bytes(b"not a model at all")
    assert main(["generate", "--model", str(tmp_path / "junk.pkl"), "--seed", "0", "--out",
                 str(tmp_path / "y.png")]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_models_lists_the_embedded_default(capsys):
    assert main(["models", "--json"]) == 0
    models = json.loads(capsys.readouterr().out)
    assert any(m["name"] == "faces-128-cpu" and m["embedded"] for m in models)


def test_drag_on_a_portrait_model_takes_a_mask_of_its_own_shape(tmp_path, portrait_model, capsys):
    mask = np.zeros((32, 16), np.uint8)  # rows x columns: 16 wide, 32 high
    mask[8:24, 2:14] = 255
    Image.fromarray(mask).save(tmp_path / "m.png")
    out = tmp_path / "p.png"
    argv = ["drag", "--model", portrait_model, "--seed", "0", "--points", "8,20:10,20", "--steps", "3",
            "--mask", str(tmp_path / "m.png"), "--out", str(out)]
    assert main(argv) == 0
    assert Image.open(out).size == (16, 32)
    assert Image.open(tmp_path / "p_before_after.png").height == 32 * (256 // 32)  # enlarged by the longer side
    Image.fromarray(mask.T.copy()).save(tmp_path / "m.png")  # 32 wide, 16 high: the square assumption's shape
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "mask" in err and "the image is 16x32" in err and "Traceback" not in err


def test_photo_drag_with_a_portrait_model_is_refused_in_one_line(tmp_path, portrait_model, capsys):
    Image.new("RGB", (40, 60), (120, 90, 60)).save(tmp_path / "photo.png")
    argv = ["drag", "--image", str(tmp_path / "photo.png"), "--model", portrait_model, "--points", "5,5:6,6",
            "--out", str(tmp_path / "x.png")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "square images" in err and "Traceback" not in err


def test_without_a_gif_the_before_panel_is_the_start_not_the_result(tmp_path, tiny_model):
    start = tmp_path / "start.png"
    assert main(["generate", "--model", tiny_model, "--seed", "0", "--out", str(start)]) == 0
    out = tmp_path / "d.png"
    assert main(["drag", "--model", tiny_model, "--seed", "0", "--points", "12,16:19,16", "--steps", "15",
                 "--step-size", "0.05", "--out", str(out)]) == 0
    panels = np.asarray(Image.open(tmp_path / "d_before_after.png").convert("RGB")).astype(int)
    scale = 256 // 32
    before, after = panels[:, :32 * scale], panels[:, 32 * scale + 8:]
    corner = (slice(0, 4 * scale, scale), slice(0, 4 * scale, scale))  # top-left 4x4 px, far from the arrow
    assert np.array_equal(before[corner], np.asarray(Image.open(start))[:4, :4].astype(int))
    assert np.array_equal(after[corner], np.asarray(Image.open(out))[:4, :4].astype(int))
    assert not np.array_equal(np.asarray(Image.open(start)), np.asarray(Image.open(out)))


def test_drag_takes_pti_and_numpy_latent_files(tmp_path, tiny_model, tiny_generator, capsys):
    import torch

    ws = tiny_generator.ws_for_seed(5)
    torch.save(ws.clone(), tmp_path / "w_pivot.pt")  # PTI's W+ pivot
    np.savez(tmp_path / "codes.npz", w=ws[0, 0].numpy(), other=np.zeros(3))  # W, and a second array
    base = ["drag", "--model", tiny_model, "--points", "12,16:13,16", "--steps", "1"]
    assert main([*base, "--latent", str(tmp_path / "w_pivot.pt"), "--out", str(tmp_path / "a.png")]) == 0
    assert np.allclose(np.load(tmp_path / "a.npy")[0, 6:], ws[0, 6:].numpy())  # layers past the 6th never move
    capsys.readouterr()
    assert main([*base, "--latent", str(tmp_path / "codes.npz"), "--out", str(tmp_path / "b.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--latent-key" in err
    assert main([*base, "--latent", str(tmp_path / "codes.npz"), "--latent-key", "w",
                 "--out", str(tmp_path / "b.png")]) == 0
    (tmp_path / "bad.pt").write_bytes(b"PK\x03\x04 not really a zip")
    assert main([*base, "--latent", str(tmp_path / "bad.pt"), "--out", str(tmp_path / "c.png")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0]
