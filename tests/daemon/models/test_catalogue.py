"""The model catalogue: the shipped data file is well-formed and says what DragGAN's models are."""

from __future__ import annotations

import copy
import json

import pytest
from dragd.daemon.models.catalogue import CATALOGUE_PATH, CatalogueError, find_entry, load_catalogue, parse_catalogue
from dragd.daemon.models.loader import READERS
from dragd.daemon.models.registry import UnknownModelError

# name -> (resolution, format, step size): the paper uses 2e-3 for FFHQ, AFHQ cat and LSUN car, else 1e-3.
EXPECTED = {
    "ffhq-512": ((512, 512), "nvidia-pickle", 2e-3),
    "afhq-cat-512": ((512, 512), "nvidia-pickle", 2e-3),
    "lsun-car-512": ((512, 512), "tf-pickle", 2e-3),
    "lsun-cat-256": ((256, 256), "tf-pickle", 1e-3),
    "lions-512": ((512, 512), "nvidia-pickle", 1e-3),
    "dogs-1024": ((1024, 1024), "nvidia-pickle", 1e-3),
    "horses-256": ((256, 256), "nvidia-pickle", 1e-3),
    "elephants-512": ((512, 512), "nvidia-pickle", 1e-3),
    "stylegan-human-512x256": ((512, 256), "nvidia-pickle", 1e-3),
    "lhq-256": ((256, 256), "nvidia-pickle", 1e-3),
    # NVIDIA's StyleGAN3 releases at their native sizes, configs T and R.
    "stylegan3-t-ffhq-1024": ((1024, 1024), "nvidia-pickle", 2e-3),
    "stylegan3-t-afhqv2-512": ((512, 512), "nvidia-pickle", 2e-3),
    "stylegan3-t-metfaces-1024": ((1024, 1024), "nvidia-pickle", 2e-3),
    "stylegan3-r-ffhq-1024": ((1024, 1024), "nvidia-pickle", 2e-3),
    "stylegan3-r-afhqv2-512": ((512, 512), "nvidia-pickle", 2e-3),
    "stylegan3-r-metfaces-1024": ((1024, 1024), "nvidia-pickle", 2e-3),
}


@pytest.fixture
def raw() -> dict:
    return json.loads(CATALOGUE_PATH.read_text())


def test_shipped_catalogue_lists_draggans_models():
    catalogue = load_catalogue()
    assert list(catalogue) == list(EXPECTED)
    for name, (resolution, fmt, step) in EXPECTED.items():
        entry = catalogue[name]
        assert (entry.resolution, entry.format, entry.default_step_size) == (resolution, fmt, step), name
        assert entry.format in READERS  # the loader reads what the catalogue promises
        assert entry.licence and entry.domain and entry.page.startswith("https://")
        assert entry.url.endswith(".pkl") or "drive.usercontent.google.com" in entry.url


def test_checksums_are_published_ones_or_left_to_be_recorded():
    # None are published for these files today; a value, where given, must be a full SHA-256.
    for entry in load_catalogue().values():
        assert entry.sha256 is None or len(entry.sha256) == 64


def test_unknown_name_lists_the_catalogue_and_points_to_add():
    with pytest.raises(UnknownModelError, match="ffhq-512.*dragd models add"):
        find_entry("ffhq-1024")


@pytest.mark.parametrize(("change", "match"), [
    (lambda m: m.update(sha256="ABC"), "sha256"),
    (lambda m: m.update(sha256="A" * 64), "sha256"),  # upper case is not how the records spell it
    (lambda m: m.update(name="../x"), "plain file name"),
    (lambda m: m.update(format="onnx"), "format"),
    (lambda m: m.update(url="ftp://example.org/x.pkl"), "http"),
    (lambda m: m.update(default_step_size=0), "step"),
    (lambda m: m.pop("licence"), "licence"),
    (lambda m: m.update(resolution=[512]), "malformed"),
    (lambda m: m.update(download_size=-1), "download_size"),
])
def test_malformed_entries_are_refused(raw, change, match):
    data = copy.deepcopy(raw)
    change(data["models"][0])
    with pytest.raises(CatalogueError, match=match):
        parse_catalogue(data)


def test_duplicate_names_and_wrong_version_are_refused(raw):
    data = copy.deepcopy(raw)
    data["models"].append(copy.deepcopy(data["models"][0]))
    with pytest.raises(CatalogueError, match="twice"):
        parse_catalogue(data)
    with pytest.raises(CatalogueError, match="format_version"):
        parse_catalogue({**raw, "format_version": 2})
