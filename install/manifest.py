"""What the installer created, so that `--uninstall` removes exactly that: the manifest
(`install-manifest.json` in the data folder), noting creations as they happen, and removing them again.

Standard library only, like every installer file (install.sh runs install.py before dragd is installed).
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from .common import InstallError

MANIFEST_NAME = "install-manifest.json"


def manifest_path(data_dir: Path) -> Path:
    return data_dir / MANIFEST_NAME


@dataclass
class Manifest:
    """Every path the installer created, in creation order (a folder before what is inside it).

    kind: `tree` (remove with everything in it: the venv), `dir` (remove only when empty), `file`,
    `settings` (a settings file we created; removed only if it is blank once our entries are gone),
    `link` (removed only while it still points where we pointed it)."""

    data_dir: Path
    created: list[dict[str, str]] = field(default_factory=list)
    editors: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return manifest_path(self.data_dir)

    @classmethod
    def load(cls, data_dir: Path) -> Manifest | None:
        path = manifest_path(data_dir)
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            created = [dict(entry) for entry in data["created"] if {"path", "kind"} <= set(entry)]
            editors = {str(k): dict(v) for k, v in data.get("editors", {}).items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise InstallError(f"the install manifest {path} is unreadable ({exc}); remove it by hand "
                               "to start over") from None
        return cls(data_dir, created, editors)

    def save(self) -> None:
        self.path.write_text(json.dumps({"version": 1, "created": self.created, "editors": self.editors},
                                        indent=1) + "\n", encoding="utf-8")

    def add(self, path: Path, kind: str, **extra: str) -> None:
        key = str(path)
        if not any(entry["path"] == key for entry in self.created):
            self.created.append({"path": key, "kind": kind, **extra})


def missing_chain(path: Path) -> list[Path]:
    """`path` and those of its parents that do not exist yet, outermost first."""
    chain = []
    for candidate in (path, *path.parents):
        if os.path.lexists(candidate):
            break
        chain.append(candidate)
    return chain[::-1]


class Creation:
    """Notes which of `targets` (and their missing parents) an action creates, into the manifest:

        with Creation(manifest, {folder: "tree", file: "file"}):
            ...make them...
    Parents become `dir` entries, removed at uninstall only if empty."""

    def __init__(self, manifest: Manifest, targets: dict[Path, str]) -> None:
        self.manifest, self.targets = manifest, targets

    def __enter__(self) -> Creation:
        self.new = {target: missing_chain(target) for target in self.targets}
        return self

    def __exit__(self, *exc_info: object) -> None:
        for target, chain in self.new.items():  # recorded even when the action failed half-way
            for path in chain:
                if os.path.lexists(path):
                    self.manifest.add(path, self.targets[target] if path == target else "dir")


def remove_entry(entry: dict[str, str], kept: list[str]) -> None:
    path, kind = Path(entry["path"]), entry["kind"]
    if not os.path.lexists(path):
        return
    if kind == "tree" and path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif kind == "link":
        if path.is_symlink() and os.readlink(path) == entry.get("target", os.readlink(path)):
            path.unlink()
    elif kind == "settings":
        if path.read_text(encoding="utf-8", errors="replace").strip():
            kept.append(f"{path} (settings written since: kept)")
        else:
            path.unlink()
    elif kind == "dir":
        try:
            path.rmdir()
        except OSError:
            kept.append(f"{path} (holds files the installer did not put there)")
    else:
        path.unlink()


def remove_created(manifest: Manifest) -> list[str]:
    """Removes every path in the manifest (what is inside a folder before the folder, folders only when empty)
    and the manifest itself; returns a line for each path kept and why."""
    kept: list[str] = []
    entries = manifest.created[::-1]
    for entry in (e for e in entries if e["kind"] != "dir"):
        remove_entry(entry, kept)
    manifest.path.unlink()
    for entry in (e for e in entries if e["kind"] == "dir"):
        remove_entry(entry, kept)
    return kept
