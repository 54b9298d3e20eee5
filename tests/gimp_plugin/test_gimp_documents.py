"""Ordinary documents in a real GIMP 3: any layer tree, any colour depth and mode, soft selections, refusals that
explain, and a saved .xcf dragged again on a daemon that never saw it.

One GIMP start runs gimp_documents_batch.py (see its docstring for the documents) against two daemons on the
host; this file checks what it saw. Pixel bytes are compared at each layer's own precision.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
from dragd.install.gimp import install_gimp_plugin
from gimp_e2e_common import SIZE, failure, gimp_root, run_gimp, serve

pytestmark = [pytest.mark.editor, pytest.mark.slow]
__all__ = ["gimp_root"]  # a fixture, used by name

BATCH = Path(__file__).with_name("gimp_documents_batch.py")
SEED = 7
STEPS = 10
SELECTION = (32, 40, 64, 64)  # layer coordinates, as in the batch
FEATHER_REACH = 8  # px: the daemon's paste-back feathers about 3 px past the selection of an opened layer


@pytest.fixture(scope="module")
def daemons(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Path]]:
    logs = tmp_path_factory.mktemp("dragd")
    with serve(logs / "a") as first, serve(logs / "b") as second:
        yield first, second, logs


@pytest.fixture(scope="module")
def run(gimp_root: Path, daemons: tuple[str, str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The one GIMP run every test below looks at: its report, its output folder and the daemons' logs."""
    import shutil
    import tempfile

    home = Path(tempfile.mkdtemp(prefix="dragd-docs-", dir=gimp_root / "tmp"))
    try:
        install_gimp_plugin(home / "profile")
        env = {"DRAGD_ADDRESS": daemons[0], "DRAGD_ADDRESS_B": daemons[1], "DRAGD_E2E_SEED": str(SEED),
               "DRAGD_E2E_STEPS": str(STEPS)}
        done, seconds, report = run_gimp(gimp_root, home, BATCH, env)
        kept = tmp_path_factory.mktemp("gimp-docs-out")
        shutil.copytree(home / "out", kept, dirs_exist_ok=True)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    print(f"GIMP run (documents: 16-bit tree, float HDR, grey, indexed, refusals, .xcf on a second daemon): "
          f"{seconds:.1f} s; outputs in {kept}")
    assert done.returncode == 0, failure(done, report)
    return {"report": report, "out": kept, "logs": daemons[2]}


def values(path: Path, code: str) -> list:
    data = path.read_bytes()
    return list(struct.unpack(f"{len(data) // struct.calcsize(code)}{code}", data))


def pixels(channels: list, selection: bytes, keep: callable) -> list:
    """The RGBA channel values of the pixels whose selection value passes `keep`."""
    return [channels[i * 4:i * 4 + 4] for i, s in enumerate(selection) if keep(s)]


def grown(rect: tuple[int, int, int, int], reach: int) -> bytes:
    """An L mask over the layer: 255 inside `rect` grown by `reach`, else 0."""
    x, y, w, h = rect
    return bytes(255 if x - reach <= i % SIZE < x + w + reach and y - reach <= i // SIZE < y + h + reach else 0
                 for i in range(SIZE * SIZE))


def test_a_result_keeps_the_sources_place_in_the_tree_mask_offsets_opacity_mode_and_depth(run):
    tree = run["report"]["tree"]
    source, result = tree["source"], tree["result"]
    assert result["parent"] == "group" and tree["above_source"], tree
    for key in ("offsets", "opacity", "mode", "bpp", "has_mask"):
        assert result[key] == source[key], key
    assert (result["offsets"], result["opacity"], result["mode"], result["bpp"]) == ([20, 10], 60.0, "multiply", 8)
    out = run["out"]
    assert (out / "tree_result_mask.l").read_bytes() == (out / "tree_mask.l").read_bytes()
    assert (out / "tree_source_after.u16").read_bytes() == (out / "tree_source_before.u16").read_bytes()


def test_a_16_bit_generated_layer_changes_only_inside_the_soft_selection_and_in_part_at_its_edge(run):
    out = run["out"]
    selection = (out / "tree_selection.l").read_bytes()
    before, after = values(out / "tree_source_before.u16", "H"), values(out / "tree_result.u16", "H")
    # Outside the selection: the source's own 16-bit values, bit for bit (detail below one 8-bit level kept).
    assert pixels(after, selection, lambda s: s == 0) == pixels(before, selection, lambda s: s == 0)
    assert any(v % 257 for v in before), "the source has no 16-bit detail to lose"

    def change(keep):
        return [max(abs(a - b) for a, b in zip(p, q, strict=True)) // 257
                for p, q in zip(pixels(after, selection, keep), pixels(before, selection, keep), strict=True)]

    full, faint = change(lambda s: s == 255), change(lambda s: 0 < s <= 15)
    assert faint and max(full) > 30, (max(full), len(faint))
    # A pixel selected at s/255 takes at most s/255 of a change, which is at most 255 levels: at most s + 1.
    faint_bound = [s + 1 for s in selection if 0 < s <= 15]
    assert all(c <= b for c, b in zip(faint, faint_bound, strict=True)), max(faint)
    # Inside, the change is added at 16 bits: a fully selected pixel moves by whole 8-bit levels (257 each, float32
    # rounding aside), keeping its sub-level detail, instead of being rewritten as an 8-bit value.
    moved = [(a - b) for p, q in zip(pixels(after, selection, lambda s: s == 255),
                                    pixels(before, selection, lambda s: s == 255), strict=True)
             for a, b in zip(p[:3], q[:3], strict=True) if a != b and 0 < a < 65535]
    assert moved and all(min(d % 257, 257 - d % 257) <= 1 for d in moved)


def test_a_float_layer_keeps_its_hdr_values_and_its_precision_outside_the_edit(run):
    out = run["out"]
    before, after = values(out / "hdr_source_before.f32", "f"), values(out / "hdr_result.f32", "f")
    far = grown(SELECTION, FEATHER_REACH)
    assert pixels(after, far, lambda s: s == 0) == pixels(before, far, lambda s: s == 0)
    assert after[:4] == [4.0, 4.0, 4.0, 1.0]  # the HDR corner outside the selection, not clipped to 1
    selection = (out / "hdr_selection.l").read_bytes()
    inside = pixels(after, selection, lambda s: s == 255)
    assert inside != pixels(before, selection, lambda s: s == 255), "the drag changed nothing"
    assert (out / "hdr_source_after.f32").read_bytes() == (out / "hdr_source_before.f32").read_bytes()
    assert run["report"]["hdr"]["result"]["binding"]["kind"] == "opened"


@pytest.mark.parametrize("mode", ["grey", "indexed"])
def test_greyscale_and_indexed_images_are_dragged_and_stay_what_they_are(run, mode):
    out, case = run["out"], run["report"][mode]
    assert case["result"]["gray" if mode == "grey" else "indexed"] is True
    selection = (out / f"{mode}_selection.l").read_bytes()
    before, after = values(out / f"{mode}_source_before.rgba", "B"), values(out / f"{mode}_result.rgba", "B")
    assert pixels(after, selection, lambda s: s == 0) == pixels(before, selection, lambda s: s == 0)
    assert pixels(after, selection, lambda s: s == 255) != pixels(before, selection, lambda s: s == 255)
    if mode == "grey":
        assert all(p[0] == p[1] == p[2] for p in pixels(after, selection, lambda s: True))
    assert (out / f"{mode}_source_after.rgba").read_bytes() == (out / f"{mode}_source_before.rgba").read_bytes()


@pytest.mark.parametrize(("case", "words"), [
    ("text", ["text layer", "Discard Text Information"]),
    ("group", ["layer group", "inside the group"]),
    ("max_steps", ["max-steps is out of range: 5000 is above the maximum 2000"]),
    ("truncation", ["truncation is out of range: 5.0 is above the maximum 2.0"]),
    ("address", ["'garbage' cannot be used", "the address argument of the call", "dragd.ini"]),
])
def test_what_cannot_be_done_is_refused_with_a_sentence_that_names_the_fix(run, case, words):
    refusal = run["report"]["refusals"][case]
    assert refusal["status"] == "execution-error", refusal
    for word in words:
        assert word in refusal["error"], refusal
    assert "ZMQ" not in refusal["error"] and "Traceback" not in refusal["error"]


def test_a_saved_xcf_is_dragged_again_on_a_daemon_that_never_saw_it_without_re_inverting(run):
    case = run["report"]["xcf"]
    reloaded, result = case["reloaded"]["binding"], case["result"]["binding"]
    assert reloaded == run["report"]["tree"]["result"]["binding"]  # the parasite survived the .xcf
    assert result["kind"] == "generated" and result["session"] != reloaded["session"]
    events = [json.loads(line) for line in (run["logs"] / "b" / "serve.jsonl").read_text().splitlines()]
    opened = [e for e in events if e["event"] == "session_opened"]
    assert [e.get("restored") for e in opened] == [True] and not any(e.get("inverted") for e in opened), opened
    out = run["out"]
    before, after = values(out / "xcf_before.u16", "H"), values(out / "xcf_result.u16", "H")
    selection = (out / "tree_selection.l").read_bytes()
    assert pixels(after, selection, lambda s: s == 0) == pixels(before, selection, lambda s: s == 0)
    assert after != before


def test_a_result_whose_session_state_was_replaced_starts_from_what_it_shows(run):
    first, second, third, fourth = run["report"]["replaced"]["results"]
    sessions = {r["binding"]["session"] for r in (first, second, third, fourth)}
    assert len(sessions) == 1  # one session throughout: nothing was re-inverted or regenerated
    # Result 3 (result 1 dragged again) replaced state 2, the state result 2 shows; dragging result 2 pushed
    # its stored latent back as state 3, and the drag made state 4.
    assert [r["binding"]["state"] for r in (first, second, third, fourth)] == [1, 2, 2, 4]
    events = [json.loads(line) for line in (run["logs"] / "a" / "serve.jsonl").read_text().splitlines()]
    assert [e["index"] for e in events if e["event"] == "state_restored"] == [3]
    out = run["out"]
    second_pixels, third_pixels = (out / "replaced_2.rgba").read_bytes(), (out / "replaced_3.rgba").read_bytes()
    assert second_pixels != third_pixels  # the two drags of result 1 really differ (the test means something)


def test_the_settings_procedure_writes_the_file_the_plugin_reads_and_refuses_a_bad_address(run):
    settings = run["report"]["settings"]
    assert settings["good"]["status"] == "success", settings
    assert "address = tcp://127.0.0.1:5999\n" in settings["file"]
    assert "command = '/opt/my dragd/dragd' serve --address {address}\n" in settings["file"]
    assert settings["bad"]["status"] == "execution-error"
    assert "'nonsense' cannot be used" in settings["bad"]["error"] and "Nothing was saved" in settings["bad"]["error"]


def test_a_result_painted_on_since_is_opened_as_it_is_now_and_the_paint_stays(run):
    painted = run["report"]["painted"]["binding"]
    assert painted["kind"] == "opened" and painted["state"] == 1, painted  # a new session from its pixels
    out = run["out"]
    before, after = (out / "painted_before.rgba").read_bytes(), (out / "painted_result.rgba").read_bytes()
    square = [(8 + i % 6, 8 + i // 6) for i in range(36)]
    assert all(after[(y * SIZE + x) * 4:(y * SIZE + x) * 4 + 4] == b"\0\0\0\xff" for x, y in square)
    far = grown(SELECTION, FEATHER_REACH)
    assert pixels(list(after), far, lambda s: s == 0) == pixels(list(before), far, lambda s: s == 0)
