"""`dragd drag --image`: a photo in, a photo-sized result out, untouched outside the edit region."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from dragd.daemon.cli import main
from dragd.daemon.images import read_photo
from dragd.daemon.invert.align import landmarks_available
from photo_fixtures import PHOTOS, gradient, photo, png16, save_with_orientation
from PIL import Image, ImageOps

FEW = ["--steps", "5", "--w-steps", "20", "--wplus-steps", "10", "--tuning-steps", "10"]
TINY = ["--steps", "2", "--w-steps", "4", "--wplus-steps", "2", "--tuning-steps", "2"]  # where only the file counts


def test_drag_on_a_region_of_a_photo(tmp_path, capsys):
    out = tmp_path / "cat.png"
    region = (150, 40, 120, 100)  # the cat's head
    rc = main(["drag", "--image", str(PHOTOS / "chelsea.png"), "--region", ",".join(map(str, region)),
               "--points", "200,90:206,90", "--feather", "3", "--gif", "--out", str(out), *FEW])
    assert rc == 0
    result, original = np.asarray(Image.open(out)), photo("chelsea.png")
    assert result.shape == original.shape
    x, y, w, h = region
    outside = np.ones(original.shape[:2], bool)
    outside[y - 3:y + h + 3, x - 3:x + w + 3] = False
    assert np.array_equal(result[outside], original[outside])
    assert (result[y:y + h, x:x + w] != original[y:y + h, x:x + w]).any()
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["inversion"]["psnr"] > 15 and record["steps"] <= 5 and not record["inversion"]["aligned"]
    assert (tmp_path / "cat_inversion.png").is_file()
    # --gif and the before/after picture mean the same as for a generated image: the drag's frames, the result
    assert Image.open(tmp_path / "cat_before_after.png").size == (2 * original.shape[1] + 8, original.shape[0])
    assert Image.open(tmp_path / "cat.gif").n_frames >= 2 and not (tmp_path / "cat.npy").exists()
    assert len(record["trajectory"]) == record["steps"] + 1 and record["options"]["max_steps"] == 5
    assert "PSNR" in capsys.readouterr().out


@pytest.mark.parametrize("how", ["zero steps", "handle on its target"])
def test_a_drag_that_moves_nothing_changes_nothing(tmp_path, how):
    """The default paste carries the photo's own pixels: no motion, no change, inside the selection too."""
    out = tmp_path / "cat.png"
    points, steps = ("200,90:206,90", "0") if how == "zero steps" else ("200,90:200,90", "5")
    rc = main(["drag", "--image", str(PHOTOS / "chelsea.png"), "--region", "150,40,120,100", "--points", points,
               "--out", str(out), *FEW, "--steps", steps])
    assert rc == 0
    result, original = np.asarray(Image.open(out)).astype(int), photo("chelsea.png").astype(int)
    assert json.loads(out.with_suffix(".json").read_text())["steps"] == 0
    assert np.abs(result - original).max() <= 1


def test_user_mistakes_end_in_one_line(tmp_path, capsys):
    image = str(PHOTOS / "chelsea.png")
    cases = [
        (["--region", "400,0,100,100"], "outside the 451x300 image"),
        (["--region", "1,2,3"], "malformed region"),
        (["--region", "150,40,120,100", "--points", "10,10:12,10"],
         "point (10, 10) lies outside the part of the photo the model will see"),
    ]
    for extra, message in cases:
        args = ["drag", "--image", image, "--points", "200,90:206,90", "--out", str(tmp_path / "x.png"), *FEW]
        rc = main([*args, *extra])  # a later --points wins
        err = capsys.readouterr().err
        assert rc == 2 and message in err and "Traceback" not in err, err
        assert "projection" not in err  # reported before the inversion spent a step
    rc = main(["drag", "--image", str(tmp_path / "none.png"), "--points", "1,1:2,2", "--out", str(tmp_path / "x.png")])
    assert rc == 2 and "no such image" in capsys.readouterr().err


def _outside(shape: tuple[int, ...], box: list[int]) -> np.ndarray:
    x, y, w, h = box
    keep = np.ones(shape[:2], bool)
    keep[y:y + h, x:x + w] = False
    return keep


def test_grey_photo_gives_a_grey_result(tmp_path):
    grey = Image.fromarray(photo("chelsea.png")).convert("L")
    grey.save(tmp_path / "grey.png")
    out = tmp_path / "grey_out.png"
    rc = main(["drag", "--image", str(tmp_path / "grey.png"), "--region", "150,40,120,100",
               "--points", "200,90:206,90", "--feather", "3", "--out", str(out), *TINY])
    assert rc == 0
    with Image.open(out) as result:
        assert result.mode == "L"  # one grey channel: no colour can come back
        pixels = np.asarray(result)
    record = json.loads(out.with_suffix(".json").read_text())
    keep = _outside(pixels.shape, record["inversion"]["edit_box"])
    assert np.array_equal(pixels[keep], np.asarray(grey)[keep])
    assert (pixels != np.asarray(grey)).any()
    assert record["photo"]["read_as"] == "451x300 8-bit grey"


def test_exif_rotated_phone_photo_is_edited_and_written_upright(tmp_path):
    with Image.open(PHOTOS / "grace_hopper.jpg") as im:
        shown = im.convert("RGB")  # 512 x 600, upright
    path = save_with_orientation(shown, 6, tmp_path / "phone.jpg", quality=95)  # stored 600 x 512, turned
    with Image.open(path) as stored:
        assert stored.size == (600, 512)
        upright = np.asarray(ImageOps.exif_transpose(stored))  # what every viewer shows
    out = tmp_path / "phone_out.png"
    # Points in the upright photo's pixels: her right mouth corner, a little up and out.
    rc = main(["drag", "--image", str(path), "--region", "170,140,200,210", "--points", "300,277:306,272",
               "--feather", "4", "--out", str(out), *TINY])
    assert rc == 0
    result = np.asarray(Image.open(out))
    assert result.shape == (600, 512, 3)
    record = json.loads(out.with_suffix(".json").read_text())
    keep = _outside(result.shape, record["inversion"]["edit_box"])
    assert np.array_equal(result[keep], upright[keep])
    if landmarks_available():  # dlib finds no face in the turned photo: aligned means the model saw it upright
        assert record["inversion"]["aligned"]


def test_16_bit_photo_gives_a_16_bit_result(tmp_path):
    """8-bit cat plus a 16-bit ramp below one 8-bit level: the result must keep those low bits outside the edit."""
    cat = photo("chelsea.png").astype(np.uint32) * 257
    fine = (gradient(300, 451, top=120)).astype(np.uint32)
    pixels = np.clip(cat + fine, 0, 65535).astype(np.uint16)
    path = png16(tmp_path / "deep.png", pixels)
    out = tmp_path / "deep_out.png"
    rc = main(["drag", "--image", str(path), "--region", "150,40,120,100", "--points", "200,90:206,90",
               "--feather", "3", "--out", str(out), *TINY])
    assert rc == 0
    result = read_photo(out).pixels
    assert result.dtype == np.uint16 and result.shape == pixels.shape
    record = json.loads(out.with_suffix(".json").read_text())
    keep = _outside(result.shape, record["inversion"]["edit_box"])
    assert np.array_equal(result[keep], pixels[keep])
    assert (result[~keep] != pixels[~keep]).any()
    # Inside the region (full weight) the moved content is the file's own 16-bit samples, not 8-bit values x 257.
    inside = result[40:140, 150:270].astype(int)
    changed = (inside != pixels[40:140, 150:270]).any(axis=2)
    assert changed.sum() > 100
    assert ((inside[changed] % 257) == 0).all(axis=1).mean() < 0.05  # measured 0.0; at 8-bit precision 1.0


@pytest.mark.parametrize("kind", ["RGBA", "P"])
def test_alpha_and_palette_photos_go_through(tmp_path, kind):
    im = Image.fromarray(photo("chelsea.png"))
    if kind == "RGBA":
        im.putalpha(Image.fromarray(np.tile(np.linspace(30, 255, 451).astype(np.uint8), (300, 1))))
    else:
        im = im.quantize(64)
    im.save(tmp_path / "in.png")
    out = tmp_path / "out.png"
    assert main(["drag", "--image", str(tmp_path / "in.png"), "--region", "150,40,120,100",
                 "--points", "200,90:206,90", "--feather", "3", "--out", str(out), *TINY]) == 0
    with Image.open(out) as result:
        assert result.mode == ("RGBA" if kind == "RGBA" else "RGB")
        if kind == "RGBA":
            assert np.array_equal(np.asarray(result)[..., 3], np.asarray(im)[..., 3])


@pytest.mark.parametrize(("size", "extra", "message"), [
    ((1, 1), ["--points", "0,0:0,0"], "the image is too small (1x1)"),
    ((40, 5), ["--points", "1,1:2,2"], "the image is too small (40x5)"),
    ((20, 20), ["--points", "30,5:10,5"], "point (30, 5) lies outside the 20x20 image"),
    ((20, 20), ["--points", "5,5:5,-1"], "point (5, -1) lies outside the 20x20 image"),
    ((20, 20), ["--points", "5,5:6,5", "--region", "10,10,20,5"], "reaches outside the 20x20 image"),
])
def test_a_tiny_photo_or_points_off_it_are_refused_before_the_model_loads(tmp_path, capsys, monkeypatch, size,
                                                                          extra, message):
    from dragd.daemon.cli import photo as photo_command

    def no_model(*args, **kwargs):
        raise AssertionError("the model was loaded before the inputs were checked")

    monkeypatch.setattr(photo_command, "load_model", no_model)
    width, height = size
    Image.fromarray(np.full((height, width, 3), 120, np.uint8)).save(tmp_path / "tiny.png")
    rc = main(["drag", "--image", str(tmp_path / "tiny.png"), "--out", str(tmp_path / "out.png"), *TINY, *extra])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and "Traceback" not in err and "starting torch" not in err, err
    assert not (tmp_path / "out.png").exists()


@pytest.mark.parametrize("paste", ["carry", "reconstruction"])
def test_the_report_and_the_picture_say_how_far_the_photos_content_moved_not_the_tracker(tmp_path, capsys,
                                                                                         monkeypatch, paste):
    """A drag whose tracker claims its target while the picture moved only 4 model px: the CLI, OUT.json and the
    before/after picture report the measured motion of the photo's content, and the tracker only as such."""
    from dataclasses import replace

    from dragd.daemon.cli import photo as photo_command
    from dragd.daemon.images import HANDLE_COLOUR

    real = photo_command.run_to_the_end

    def overclaiming(run, max_steps, preview_every=0, on_preview=None):
        start = real(run, max_steps, preview_every, on_preview)  # --steps 0: the reconstruction itself
        return replace(start, image=np.roll(start.image, 4, axis=1), points=list(run.targets), reached=True,
                       stopped="reached")

    monkeypatch.setattr(photo_command, "run_to_the_end", overclaiming)
    out = tmp_path / "cat.png"
    handle, target = (200.0, 90.0), (212.0, 90.0)
    rc = main(["drag", "--image", str(PHOTOS / "chelsea.png"), "--region", "150,40,120,100", "--points",
               "200,90:212,90", "--feather", "3", "--paste", paste, "--out", str(out), *TINY, "--steps", "0"])
    assert rc == 0
    record = json.loads(out.with_suffix(".json").read_text())
    a, b, _, d, e, _ = record["inversion"]["transform"]
    photo_px = 4 / math.sqrt(abs(a * e - b * d))  # 4 model px in photo px
    (mx, my), = record["final_points"]
    assert abs(mx - (handle[0] + photo_px)) < 0.3 and abs(my - handle[1]) < 0.3
    assert record["moved_px"] == pytest.approx([photo_px], abs=0.3) and record["asked_px"] == [12.0]
    assert record["tracked_points"] == [pytest.approx(target, abs=1e-6)]  # what the tracker claimed
    said = capsys.readouterr().out.strip().splitlines()[-1]
    assert f"moved {photo_px:.1f} px of the 12.0 px asked" in said and "the drag's tracker" in said, said
    # The result panel marks where the handle's content lies, not the target the tracker claimed.
    picture = np.asarray(Image.open(tmp_path / "cat_before_after.png").convert("RGB"))
    right = picture[:, picture.shape[1] - 451:]
    ys, xs = np.nonzero((right == HANDLE_COLOUR).all(axis=2))
    assert abs(xs.mean() - 0.5 - mx) < 1.0 and abs(ys.mean() - 0.5 - my) < 1.0
