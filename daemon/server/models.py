"""Generators loaded once and shared by every session that uses them.

Clients name models by catalogue name only (`dragd models`), never by path: a network peer must not make the
daemon open arbitrary files. Tests and embedders `register` a ready generator under a name instead.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..models.registry import DEFAULT_MODEL, ModelInfo, file_resolution, list_models
from ..models.stylegan2 import Generator


class ModelNotFound(LookupError):
    pass


@dataclass(frozen=True)
class LoadedModel:
    info: ModelInfo
    generator: Generator


def _load_from_file(info: ModelInfo, device: torch.device) -> Generator:
    from ..models.loader import load_generator

    return load_generator(info.path, device=device)


class ModelCache:
    """Name -> loaded generator. `get` loads on first use (call it from the worker thread: it runs torch)."""

    def __init__(self, device: torch.device, loader: Callable[[ModelInfo, torch.device], Generator] = _load_from_file,
                 catalogue: Callable[[], list[ModelInfo]] = list_models, default: str = DEFAULT_MODEL) -> None:
        self.device = device
        self.default = default
        self._loader = loader
        self._catalogue = catalogue
        self._loaded: dict[str, LoadedModel] = {}
        self._registered: dict[str, ModelInfo] = {}
        self._lock = threading.Lock()

    def register(self, info: ModelInfo, generator: Generator) -> None:
        """Makes `generator` available as `info.name` (it is moved to the cache's device)."""
        with self._lock:
            self._registered[info.name] = info
            self._loaded[info.name] = LoadedModel(info, generator.to(self.device).eval().requires_grad_(False))

    def available(self) -> list[ModelInfo]:
        """Registered models, then the catalogue's (a catalogue entry never shadows a registered name)."""
        with self._lock:
            registered = list(self._registered.values())
        names = {info.name for info in registered}
        return registered + [info for info in self._catalogue() if info.name not in names]

    def is_loaded(self, name: str) -> bool:
        with self._lock:
            return name in self._loaded

    def resolution(self, info: ModelInfo) -> tuple[int, int] | None:
        """The model's (height, width), from the loaded generator, else the registry or the file's header."""
        with self._lock:
            loaded = self._loaded.get(info.name)
        if loaded is not None:
            return loaded.generator.img_shape
        return info.resolution or file_resolution(info.path)

    def resolve(self, name: str | None) -> ModelInfo:
        """The model named `name` (None: the default; an empty name is no name and is refused)."""
        if name is not None and not name.strip():
            raise ModelNotFound("the model name is empty; leave it out for the default model")
        name = self.default if name is None else name
        for info in self.available():
            if info.name == name:
                return info
        known = ", ".join(info.name for info in self.available())
        raise ModelNotFound(f"unknown model {name!r} (known: {known})")

    def get(self, name: str | None) -> LoadedModel:
        info = self.resolve(name)
        with self._lock:
            loaded = self._loaded.get(info.name)
        if loaded is not None:
            return loaded
        generator = self._loader(info, self.device)  # outside the lock: loading can take seconds
        with self._lock:
            return self._loaded.setdefault(info.name, LoadedModel(info, generator))

