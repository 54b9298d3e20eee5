"""Which models dragd knows, where they are, and what defaults a drag on each should use.

Two places hold models: the embedded default shipped inside the package (`embedded/`), and the user's
models folder (platformdirs' user data dir, `models/`, or $DRAGD_MODELS_DIR), where each
`NAME.safetensors` may have a `NAME.json` beside it with the same fields as the embedded sidecar
(`write_sidecar` writes one: `dragd models download` and `dragd models add` put models there).
A model can also be named by path.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import platformdirs

EMBEDDED_DIR = Path(__file__).parent / "embedded"
DEFAULT_MODEL = "faces-128-cpu"
# The paper's step sizes: 2e-3 for FFHQ, AFHQ cat and LSUN car; 1e-3 otherwise.
DOMAIN_STEP_SIZES = {"faces": 2e-3, "cats": 2e-3, "cars": 2e-3}
GENERIC_STEP_SIZE = 1e-3
# A model's name is also its file name in the user's models folder.
MODEL_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class UnknownModelError(LookupError):
    pass


@dataclass(frozen=True)
class ModelInfo:
    name: str
    path: Path
    domain: str = "unknown"
    default_step_size: float = GENERIC_STEP_SIZE
    feature_block: int | None = None  # None: the drag engine's default (the 6th block)
    mask_strength: float | None = None  # None: the drag engine's default (20, as the reference GUI)
    description: str = ""
    licence: str = "unknown"
    embedded: bool = False
    resolution: tuple[int, int] | None = None  # (height, width) of its images; None: not recorded
    sha256: str | None = None  # of the file at `path`, recorded when it was installed
    source: str = ""  # where it came from: a download address or the file it was added from

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "path": str(self.path), "domain": self.domain,
                "default_step_size": self.default_step_size, "feature_block": self.feature_block,
                "mask_strength": self.mask_strength,
                "description": self.description, "licence": self.licence, "embedded": self.embedded,
                "resolution": list(self.resolution) if self.resolution else None, "sha256": self.sha256,
                "source": self.source}


def user_models_dir() -> Path:
    override = os.environ.get("DRAGD_MODELS_DIR")
    return Path(override) if override else Path(platformdirs.user_data_dir("dragd")) / "models"


def _resolution(value: Any) -> tuple[int, int] | None:
    if isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) and v > 0 for v in value):
        return value[0], value[1]
    return None


def _from_sidecar(sidecar: Path, embedded: bool) -> ModelInfo:
    data = json.loads(sidecar.read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{sidecar} does not hold a JSON object")
    domain = str(data.get("domain", "unknown"))
    return ModelInfo(
        name=str(data.get("name", sidecar.stem)),
        path=sidecar.parent / str(data.get("file", sidecar.stem + ".safetensors")),
        domain=domain,
        default_step_size=float(data.get("default_step_size", DOMAIN_STEP_SIZES.get(domain, GENERIC_STEP_SIZE))),
        feature_block=data.get("feature_block"),
        mask_strength=data.get("mask_strength"),
        description=str(data.get("description", "")),
        licence=str(data.get("licence", "unknown")),
        embedded=embedded,
        resolution=_resolution(data.get("resolution")),
        sha256=data.get("sha256") if isinstance(data.get("sha256"), str) else None,
        source=str(data.get("source", "")),
    )


def write_sidecar(info: ModelInfo, extra: dict[str, Any] | None = None) -> Path:
    """Writes `info` as the `NAME.json` beside its weights (atomically), plus `extra` facts; returns its path."""
    data: dict[str, Any] = {
        "name": info.name, "file": info.path.name, "domain": info.domain,
        "default_step_size": info.default_step_size, "description": info.description, "licence": info.licence,
        "resolution": list(info.resolution) if info.resolution else None, "sha256": info.sha256,
        "source": info.source}
    if info.feature_block is not None:
        data["feature_block"] = info.feature_block
    if info.mask_strength is not None:
        data["mask_strength"] = info.mask_strength
    data.update(extra or {})
    sidecar = info.path.with_suffix(".json")
    partial = sidecar.with_name(sidecar.name + ".partial")
    try:
        partial.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
        os.replace(partial, sidecar)
    finally:
        partial.unlink(missing_ok=True)
    return sidecar


def file_resolution(path: Path) -> tuple[int, int] | None:
    """(height, width) a dragd safetensors file declares in its header (weights not read); None if unreadable."""
    from safetensors import safe_open

    from .checkpoint import config_from_nvidia_kwargs

    try:
        with safe_open(str(path), framework="pt", device="cpu") as file:
            config = json.loads((file.metadata() or {})["config"])
        return config_from_nvidia_kwargs(config["init_kwargs"], config.get("class_name")).img_shape
    except Exception:  # a damaged user file must not break listing the others
        return None


def list_models() -> list[ModelInfo]:
    """The models dragd offers (CLI and daemon alike): the embedded ones first, then the user's, by name.

    A user's file whose resolution can be read neither from its sidecar nor from its header is not a usable
    model and is left out (`unusable_models` names those); a broken sidecar does not hide the others.
    """
    return [m for m in _all_models() if m.resolution is not None]


def unusable_models() -> list[ModelInfo]:
    """Files in the user's models folder that `list_models` leaves out: their header cannot be read."""
    return [m for m in _all_models() if m.resolution is None]


def _all_models() -> list[ModelInfo]:
    models = [_from_sidecar(p, embedded=True) for p in sorted(EMBEDDED_DIR.glob("*.json"))]
    folder = user_models_dir()
    if folder.is_dir():
        for weights in sorted(folder.glob("*.safetensors")):
            sidecar = weights.with_suffix(".json")
            try:
                info = _from_sidecar(sidecar, embedded=False) if sidecar.exists() else ModelInfo(
                    weights.stem, weights)
            except (OSError, ValueError):
                info = ModelInfo(weights.stem, weights, description="(its .json description is unreadable)")
            models.append(info)
    # Files without a recorded resolution declare it in their header.
    return [m if m.resolution else replace(m, resolution=file_resolution(m.path)) for m in models]


def find_model(name_or_path: str | None) -> ModelInfo:
    """A model by name (None: the default) or by a path to a checkpoint file of any supported format."""
    if name_or_path is not None and not name_or_path.strip():
        raise UnknownModelError("the model name is empty; leave it out for the default model")
    name = DEFAULT_MODEL if name_or_path is None else name_or_path
    models = _all_models()  # one scan of the folder (each call reads the headers of files without a sidecar)
    usable = [m for m in models if m.resolution is not None]
    for info in usable:
        if info.name == name:
            return info
    unusable = [m for m in models if m.resolution is None and m.name == name]
    if unusable:
        raise UnknownModelError(f"model {name!r} is not usable: the header of {unusable[0].path} cannot be read "
                                "(a damaged or foreign file); replace it with `dragd models add` or remove it")
    path = Path(name).expanduser()
    if path.is_file():
        return ModelInfo(path.stem, path, description="given by path")
    known = ", ".join(m.name for m in usable)
    raise UnknownModelError(f"unknown model {name!r} (known: {known}; or give a path to a checkpoint file)")
