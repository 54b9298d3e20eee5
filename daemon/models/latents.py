"""Reading latent files as DragGAN, PTI and dragd users pass them around: W or W+ codes.

Formats, told apart by content: numpy `.npy` (what `dragd generate` and `dragd drag` write), numpy `.npz`
(one array, or the one named by `key`), and torch tensor files (PTI's `w_pivot.pt`, DragGAN's saved codes:
a tensor, or a dict of tensors with one entry or the one named by `key`), read with
`torch.load(weights_only=True)` so that nothing in them runs. Nothing is ever unpickled by numpy.

Shapes: W is [w_dim] or [1, w_dim] (repeated for every layer); W+ is [num_ws, w_dim] or [1, num_ws, w_dim].
Every failure is a `LatentFileError` whose message is one line a user can act on.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np

NPY_MAGIC = b"\x93NUMPY"
ZIP_MAGIC = b"PK\x03\x04"
LEGACY_TORCH_MAGIC = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"
MAX_LATENT_VALUES = 1 << 20  # a W+ code of a 1024 px StyleGAN3 has 16 * 512; anything this large is not a latent


class LatentFileError(ValueError):
    """A latent file that cannot be read or does not fit the model (one line, for the user)."""


def _pick(arrays: dict[str, Any], key: str | None, path: Path) -> Any:
    names = ", ".join(map(str, arrays)) or "nothing"
    if key is not None:
        if key not in arrays:
            raise LatentFileError(f"latent {path.name} has no array {key!r} (it holds {names})")
        return arrays[key]
    if len(arrays) != 1:
        raise LatentFileError(f"latent {path.name} holds several arrays ({names}); say which with --latent-key")
    return next(iter(arrays.values()))


def _read_torch(path: Path, key: str | None) -> np.ndarray:
    import torch

    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError, ... for foreign or damaged files
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise LatentFileError(f"latent {path.name} is not a plain torch tensor file ({first[:160]})") from None
    if isinstance(data, dict):
        data = _pick(data, key, path)
    elif key is not None:
        raise LatentFileError(f"latent {path.name} holds one tensor, not named arrays; leave out --latent-key")
    if not isinstance(data, torch.Tensor):
        raise LatentFileError(f"latent {path.name} holds a {type(data).__name__}, not a tensor")
    if not data.is_floating_point():
        raise LatentFileError(f"latent {path.name} holds {data.dtype} values, not floating-point ones")
    return data.detach().to(torch.float32).numpy()


def read_latent_file(path: str | Path, key: str | None = None) -> np.ndarray:
    """The array in a latent file (any shape; see `as_ws`). Raises LatentFileError, or OSError if unreadable."""
    path = Path(path)
    with open(path, "rb") as file:
        head = file.read(len(LEGACY_TORCH_MAGIC))
    try:
        if head.startswith(NPY_MAGIC):
            if key is not None:
                raise LatentFileError(f"latent {path.name} is a single .npy array; leave out --latent-key")
            array = np.load(path, allow_pickle=False)
        elif head.startswith(ZIP_MAGIC) and _is_npz(path):
            with np.load(path, allow_pickle=False) as npz:
                array = npz[_pick({name: name for name in npz.files}, key, path)]
        elif head.startswith((ZIP_MAGIC, LEGACY_TORCH_MAGIC)):
            array = _read_torch(path, key)
        else:
            raise LatentFileError(f"latent {path.name} is not a .npy, .npz or torch tensor file")
    except ValueError as exc:  # numpy: object arrays (pickles), damaged headers
        if isinstance(exc, LatentFileError):
            raise
        raise LatentFileError(f"latent {path.name} is not a plain numeric array: {exc}") from None
    if array.dtype.kind != "f":
        raise LatentFileError(f"latent {path.name} holds {array.dtype} values, not floating-point ones")
    return array


def _is_npz(path: Path) -> bool:
    """A zip of .npy members (numpy's savez) rather than a torch archive."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except zipfile.BadZipFile:
        return False
    return bool(names) and all(name.endswith(".npy") for name in names)


def as_ws(array: np.ndarray, num_ws: int, w_dim: int, name: str = "the latent") -> np.ndarray:
    """`array` as the float32 W+ code [1, num_ws, w_dim] a generator takes (a W code is repeated per layer)."""
    shape = tuple(array.shape)
    if array.size > MAX_LATENT_VALUES:
        raise LatentFileError(f"{name} has shape {list(shape)}: far too large for a latent")
    if shape in ((w_dim,), (1, w_dim)):
        ws = np.repeat(array.reshape(1, 1, w_dim), num_ws, axis=1)
    elif shape in ((num_ws, w_dim), (1, num_ws, w_dim)):
        ws = array.reshape(1, num_ws, w_dim)
    else:
        raise LatentFileError(
            f"{name} has shape {list(shape)}; this model takes W [{w_dim}] or [1, {w_dim}], "
            f"or W+ [{num_ws}, {w_dim}] or [1, {num_ws}, {w_dim}]")
    if not np.isfinite(ws).all():
        raise LatentFileError(f"{name} contains NaN or infinite values")
    return ws.astype(np.float32)
