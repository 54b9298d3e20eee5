"""The models dragd can download: `catalogue.json` (data, beside this file) read into checked entries.

Each entry says where a model's file is published (`url`, then `mirrors`), what it is (domain, image
[height, width], the file format it arrives in), its licence, the drag step size the paper uses for it,
and its SHA-256 where one is published. Where none is, the first download records one
(`download.ChecksumRecords`) and every later download must match it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from .registry import MODEL_NAME_PATTERN, UnknownModelError

CATALOGUE_PATH = Path(__file__).with_name("catalogue.json")
FORMAT_VERSION = 1
SHA256_PATTERN = re.compile(r"^[0-9a-f]{64}$")
FORMATS = ("nvidia-pickle", "tf-pickle", "rosinality", "safetensors")


class CatalogueError(ValueError):
    """The catalogue file itself is malformed (a bug in dragd's data, not the user's input)."""


@dataclass(frozen=True)
class CatalogueEntry:
    name: str
    title: str
    domain: str
    resolution: tuple[int, int]  # (height, width) of the generated image
    url: str
    mirrors: tuple[str, ...]
    file_name: str  # the name the publisher gives the file
    format: str  # the file format it arrives in (a key of loader.READERS)
    page: str  # where the address is documented, for a download by hand
    sha256: str | None
    download_size: int | None
    licence: str
    default_step_size: float
    description: str

    @property
    def urls(self) -> tuple[str, ...]:
        return (self.url, *self.mirrors)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "domain": self.domain, "resolution": list(self.resolution),
                "url": self.url, "mirrors": list(self.mirrors), "file_name": self.file_name, "format": self.format,
                "page": self.page, "sha256": self.sha256, "download_size": self.download_size,
                "licence": self.licence, "default_step_size": self.default_step_size,
                "description": self.description}


def _entry(raw: Any) -> CatalogueEntry:
    if not isinstance(raw, dict):
        raise CatalogueError(f"a catalogue entry is a {type(raw).__name__}, not an object")
    name = raw.get("name")
    where = f"catalogue entry {name!r}"
    try:
        entry = CatalogueEntry(
            name=str(name), title=str(raw["title"]), domain=str(raw["domain"]),
            resolution=(int(raw["resolution"][0]), int(raw["resolution"][1])),
            url=str(raw["url"]), mirrors=tuple(str(u) for u in raw.get("mirrors", [])),
            file_name=str(raw["file_name"]), format=str(raw["format"]), page=str(raw["page"]),
            sha256=raw.get("sha256"), download_size=raw.get("download_size"), licence=str(raw["licence"]),
            default_step_size=float(raw["default_step_size"]), description=str(raw.get("description", "")))
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise CatalogueError(f"{where} is malformed: {exc!r}") from exc
    if not isinstance(name, str) or not MODEL_NAME_PATTERN.match(name):
        raise CatalogueError(f"{where}: the name must be a plain file name")
    if entry.sha256 is not None and not (isinstance(entry.sha256, str) and SHA256_PATTERN.match(entry.sha256)):
        raise CatalogueError(f"{where}: sha256 must be 64 lowercase hex digits or null")
    if entry.download_size is not None and not (isinstance(entry.download_size, int) and entry.download_size > 0):
        raise CatalogueError(f"{where}: download_size must be a positive integer or null")
    if entry.format not in FORMATS:
        raise CatalogueError(f"{where}: format must be one of {FORMATS}")
    if not all(u.startswith(("https://", "http://")) for u in entry.urls):
        raise CatalogueError(f"{where}: addresses must be http(s) URLs")
    if min(entry.resolution) < 4 or not 0 < entry.default_step_size <= 1:
        raise CatalogueError(f"{where}: resolution or default_step_size out of range")
    return entry


def parse_catalogue(data: Any) -> dict[str, CatalogueEntry]:
    if not isinstance(data, dict) or data.get("format_version") != FORMAT_VERSION:
        raise CatalogueError(f"the catalogue must be an object with format_version {FORMAT_VERSION}")
    entries = [_entry(raw) for raw in data.get("models", [])]
    by_name = {entry.name: entry for entry in entries}
    if len(by_name) != len(entries):
        raise CatalogueError("the catalogue names a model twice")
    return by_name


@cache
def load_catalogue(path: Path = CATALOGUE_PATH) -> dict[str, CatalogueEntry]:
    """The catalogue by model name, in the file's order."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CatalogueError(f"cannot read the model catalogue {path}: {exc}") from exc
    return parse_catalogue(data)


def find_entry(name: str, catalogue: dict[str, CatalogueEntry] | None = None) -> CatalogueEntry:
    catalogue = load_catalogue() if catalogue is None else catalogue
    try:
        return catalogue[name]
    except KeyError:
        raise UnknownModelError(
            f"{name!r} is not in dragd's model catalogue (it has: {', '.join(catalogue)}); "
            "for a checkpoint file of your own use `dragd models add FILE --name NAME`") from None
