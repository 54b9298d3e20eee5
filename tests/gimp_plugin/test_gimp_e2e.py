"""End to end in a real GIMP 3: the installed plug-in drags a generated image through a real daemon.

One GIMP start (gimp_e2e_common: the GIMP 3 root, a daemon on the host) runs gimp_e2e_batch.py, which drives
the plug-in's procedures, undoes once, and cancels an interactive drag; this file checks what it saw.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from dragd.install.gimp import install_gimp_plugin
from dragd.protocol.client import DragdClient
from gimp_e2e_common import SIZE, failure, gimp_home, gimp_root, run_gimp, serve
from photo_fixtures import PASTE_SHARPNESS_FLOOR, editor_photo, sharpness_ratio

pytestmark = [pytest.mark.editor, pytest.mark.slow]
__all__ = ["gimp_home", "gimp_root"]  # fixtures, used by name

BATCH = Path(__file__).with_name("gimp_e2e_batch.py")
SEED = 7
HANDLE = (64.5, 80.5)  # GIMP image coordinates: the centre of pixel (64, 80) ...
TARGET = (64.5, 64.5)  # ... dragged up 16 px
SELECTION = (32, 40, 64, 64)  # x, y, width, height: holds the handle and the target
STEPS = 30
FEATHER_REACH = 8  # px: paste-back feathers at most 4 % of the model square (here about 3 px) past the selection
PINNED = (HANDLE, (HANDLE[0] + 6, HANDLE[1] - 6), HANDLE)  # a line whose handle is on its target: moves nothing


@pytest.fixture(scope="module")
def daemon_address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve(tmp_path_factory.mktemp("dragd")) as address:
        yield address


def pixels_in(data: bytes, rect: tuple[int, int, int, int], inside: bool, reach: int = 0) -> list[bytes]:
    """The pixels inside `rect`, or those more than `reach` pixels (in x or y) outside it."""
    x0, y0, w, h = rect
    if not inside:
        x0, y0, w, h = x0 - reach, y0 - reach, w + 2 * reach, h + 2 * reach
    return [data[(y * SIZE + x) * 4:(y * SIZE + x) * 4 + 4] for y in range(SIZE) for x in range(SIZE)
            if (x0 <= x < x0 + w and y0 <= y < y0 + h) == inside]


def changes_inside(a: bytes, b: bytes) -> int:
    return sum(p != q for p, q in zip(pixels_in(a, SELECTION, True), pixels_in(b, SELECTION, True), strict=True))


def rgb(data: bytes) -> np.ndarray:
    return np.frombuffer(data, np.uint8).reshape(SIZE, SIZE, 4)[:, :, :3]


def test_drag_in_real_gimp(gimp_root: Path, gimp_home: Path, daemon_address: str) -> None:
    install_gimp_plugin(gimp_home / "profile")  # the installer step, as a user runs it
    photo = np.dstack([editor_photo(SIZE, SIZE), np.full((SIZE, SIZE), 255, np.uint8)]).tobytes()
    (gimp_home / "photo.rgba").write_bytes(photo)
    env = {"DRAGD_ADDRESS": daemon_address, "DRAGD_E2E_SEED": str(SEED), "DRAGD_E2E_HANDLE": json.dumps(HANDLE),
           "DRAGD_E2E_TARGET": json.dumps(TARGET), "DRAGD_E2E_SELECTION": json.dumps(SELECTION),
           "DRAGD_E2E_STEPS": str(STEPS), "DRAGD_E2E_PINNED": json.dumps(PINNED),
           "DRAGD_E2E_PHOTO": "/" + str((gimp_home / "photo.rgba").relative_to(gimp_root))}
    done, seconds, report = run_gimp(gimp_root, gimp_home, BATCH, env)
    out = gimp_home / "out"
    assert done.returncode == 0, failure(done, report)
    print(f"GIMP run (start, new from model, {STEPS}-step drag, undo, interactive drag cancelled after 2 s, "
          f"a photo layer opened and dragged, its result dragged again, the photo dragged along a pinned line, "
          f"quit): {seconds:.1f} s")
    # new, drag, photo, its result again, photo pinned
    assert [c["status"] for c in report["calls"]] == ["success"] * 5, report["calls"]

    # New from model: a 128x128 layer holding exactly the daemon's image for that seed, bound for later drags.
    assert [(layer["name"], layer["size"]) for layer in report["generated"]["layers"]] == \
        [(f"DragGAN faces-128-cpu seed {SEED}", [SIZE, SIZE])]
    binding = report["binding"]
    assert (binding["seed"], binding["state"], binding["kind"]) == (SEED, 0, "generated"), binding
    assert binding["latent"] is not None  # the daemon said it (`state`): a restarted daemon can rebuild it
    source_before = (out / "source_before.rgba").read_bytes()
    with DragdClient(daemon_address, timeout=60) as client:
        expected = client.generate(SEED, truncation=0.7).image.tight().data
    assert source_before == expected, "the generated layer's pixels are not the daemon's image"

    # The drag: a new layer above the source, the source untouched byte for byte.
    assert (out / "source_after.rgba").read_bytes() == source_before
    names = [layer["name"] for layer in report["after_drag"]["layers"]]
    assert names == ["DragGAN result 1", f"DragGAN faces-128-cpu seed {SEED}"], names
    assert report["result_above_source"] is True
    result = (out / "result.rgba").read_bytes()
    assert len(result) == SIZE * SIZE * 4
    changed_inside = sum(a != b for a, b in zip(pixels_in(result, SELECTION, True),
                                                pixels_in(source_before, SELECTION, True), strict=True))
    assert changed_inside > 0.05 * SELECTION[2] * SELECTION[3], f"only {changed_inside} pixels changed"

    # The tracked handle came back as a new path: one stroke from where the handle ended to its target.
    tracked = {p["name"]: p["strokes"] for p in report["after_drag"]["paths"]}[report["tracked_path"]]
    assert len(tracked) == 1
    anchors = tracked[0][2::6], tracked[0][3::6]  # control points come in (in, anchor, out) triples
    (hx, tx), (hy, ty) = anchors
    assert (tx, ty) == TARGET
    assert 0 <= hx <= SIZE and 0 <= hy <= SIZE and (hx, hy) != HANDLE, "the handle was not tracked"

    # One Ctrl+Z in GIMP's window takes the whole drag back: the result layer and the tracked path go together.
    assert report["undo"]["pressed"] is True
    assert [layer["name"] for layer in report["after_undo"]["layers"]] == [f"DragGAN faces-128-cpu seed {SEED}"]
    assert [path["name"] for path in report["after_undo"]["paths"]] == ["points"]
    assert (out / "source_after_undo.rgba").read_bytes() == source_before

    # Interactive: the options dialog, then the live drag dialog whose Cancel (Escape) stops the drag and keeps
    # nothing: no new layer, no new path, the source as it was.
    interactive = report["interactive"]
    assert interactive["helper_rc"] == 0, f"the dialogs did not appear as expected: {interactive}"
    assert interactive["helper_out"].split("\n")[:2] == ["pressed Return in DragGAN drag",
                                                          "pressed Escape in DragGAN drag: live"], interactive
    assert interactive["status"] == "cancel", interactive
    assert interactive["seconds"] >= 2, interactive  # the dialog stayed until Escape, it did not fail at once
    print(f"interactive drag, from the call to its cancelled return: {interactive['seconds']:.1f} s")
    assert report["after_cancel"] == report["after_undo"]
    assert (out / "source_after_cancel.rgba").read_bytes() == source_before

    # A photo layer of the user's own: the plug-in opens it (GAN inversion of the selection's box), then drags.
    # The source stays; the result changes inside the selection and nothing outside it grown by the feather;
    # inside, the daemon's default "carry" paste moved the photo's own pixels, so its detail stays.
    plain = (out / "plain_before.rgba").read_bytes()
    assert plain == photo and (out / "plain_after.rgba").read_bytes() == plain
    opened = (out / "opened.rgba").read_bytes()
    assert pixels_in(opened, SELECTION, False, FEATHER_REACH) == pixels_in(plain, SELECTION, False, FEATHER_REACH)
    assert changes_inside(opened, plain) > 0.05 * SELECTION[2] * SELECTION[3]
    ratio = sharpness_ratio(rgb(opened), rgb(plain), SELECTION)
    print(f"sharpness inside the selection, result / photo: {ratio:.3f} (floor {PASTE_SHARPNESS_FLOOR})")
    assert ratio >= PASTE_SHARPNESS_FLOOR, f"the photo's detail was lost inside the selection: {ratio:.3f}"
    binding = report["opened"]["binding"]
    assert (binding["seed"], binding["state"], binding["model"], binding["kind"]) == \
        (None, 1, "faces-128-cpu", "opened"), binding

    # Dragging that result again, from a new plug-in process: it resumes the session by the id in its binding.
    again = report["redragged"]["binding"]
    assert (again["session"], again["state"]) == (binding["session"], 2), again
    assert (out / "opened_after.rgba").read_bytes() == opened
    redragged = (out / "redragged.rgba").read_bytes()
    assert pixels_in(redragged, SELECTION, False, FEATHER_REACH) == pixels_in(plain, SELECTION, False,
                                                                            FEATHER_REACH)
    assert changes_inside(redragged, opened) > 0, "the second drag changed nothing"

    # The photo dragged along a line whose handle is on its target: nothing moves, so nothing changes (within
    # one level of rounding, everywhere).
    assert report["still"]["binding"]["kind"] == "opened", report["still"]
    still = np.frombuffer((out / "still.rgba").read_bytes(), np.uint8).astype(int)
    difference = np.abs(still - np.frombuffer(plain, np.uint8).astype(int)).max()
    assert difference <= 1, f"a drag that moves nothing changed the photo by {difference} levels"
