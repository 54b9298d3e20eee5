"""Which models dragd knows, where they are, and what defaults a drag on each should use.

Two places hold models: the embedded default shipped inside the package (`embedded/`), and the user's
models folder (platformdirs' user data dir, `models/`), where each `NAME.safetensors` may have a
`NAME.json` beside it with the same fields as the embedded sidecar. A model can also be named by path.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

EMBEDDED_DIR = Path(__file__).parent / "embedded"
DEFAULT_MODEL = "faces-128-cpu"
# The paper's step sizes: 2e-3 for FFHQ, AFHQ cat and LSUN car; 1e-3 otherwise.
DOMAIN_STEP_SIZES = {"faces": 2e-3, "cats": 2e-3, "cars": 2e-3}
GENERIC_STEP_SIZE = 1e-3


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

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "path": str(self.path), "domain": self.domain,
                "default_step_size": self.default_step_size, "feature_block": self.feature_block,
                "mask_strength": self.mask_strength,
                "description": self.description, "licence": self.licence, "embedded": self.embedded}


def user_models_dir() -> Path:
    override = os.environ.get("DRAGD_MODELS_DIR")
    return Path(override) if override else Path(platformdirs.user_data_dir("dragd")) / "models"


def _from_sidecar(sidecar: Path, embedded: bool) -> ModelInfo:
    data = json.loads(sidecar.read_text())
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
    )


def list_models() -> list[ModelInfo]:
    """The embedded models first, then the user's, by name; a broken sidecar does not hide the others."""
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
    return models


def find_model(name_or_path: str | None) -> ModelInfo:
    """A model by name (None: the default) or by a path to a checkpoint file of any supported format."""
    name = name_or_path or DEFAULT_MODEL
    for info in list_models():
        if info.name == name:
            return info
    path = Path(name).expanduser()
    if path.is_file():
        return ModelInfo(path.stem, path, description="given by path")
    known = ", ".join(m.name for m in list_models())
    raise UnknownModelError(f"unknown model {name!r} (known: {known}; or give a path to a checkpoint file)")
