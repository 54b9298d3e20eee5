"""`dragd drag --image`: a photo in, a photo-sized result out, untouched outside the edit region."""

from __future__ import annotations

import json

import numpy as np
from dragd.daemon.cli import main
from photo_fixtures import PHOTOS, photo
from PIL import Image

FEW = ["--steps", "5", "--w-steps", "20", "--wplus-steps", "10", "--tuning-steps", "10"]


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


def test_user_mistakes_end_in_one_line(tmp_path, capsys):
    image = str(PHOTOS / "chelsea.png")
    cases = [
        (["--region", "400,0,100,100"], "outside the 451x300 image"),
        (["--region", "1,2,3"], "malformed region"),
        (["--region", "150,40,120,100", "--points", "10,10:12,10"], "outside the inverted region"),
    ]
    for extra, message in cases:
        args = ["drag", "--image", image, "--points", "200,90:206,90", "--out", str(tmp_path / "x.png"), *FEW]
        rc = main([*args, *extra])  # a later --points wins
        err = capsys.readouterr().err
        assert rc == 2 and message in err and "Traceback" not in err, err
    rc = main(["drag", "--image", str(tmp_path / "none.png"), "--points", "1,1:2,2", "--out", str(tmp_path / "x.png")])
    assert rc == 2 and "no such image" in capsys.readouterr().err
