"""Reads NVIDIA generators saved whole with `torch.save` (PTI's tuned generator, `model_*.pt`) as pure data.

PTI (Roich et al. 2021) tunes NVIDIA's generator and saves the module itself: a torch zip archive whose
`data.pkl` pickles the network as NVIDIA's persistence does (`_reconstruct_persistent_obj(meta)`, see
`nvidia_pickle`) and each tensor's storage as a persistent id `("storage", torch.FloatStorage, key,
location, numel)` whose bytes are the archive's `data/<key>` record. `torch.load(weights_only=True)`
refuses such files; loading them the usual way would run NVIDIA's code. Here the same restricted unpickler
as for NVIDIA pickles reads `data.pkl` (nothing is executed), storages come from their records, and the
generator converts like any NVIDIA network.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import torch

from .checkpoint import Checkpoint, CorruptCheckpointError, UnsupportedCheckpointError
from .nvidia_pickle import ALLOWED_GLOBALS, RestrictedUnpickler, checkpoint_from_pickle_data
from .restricted_pickle import load_restricted

FORMAT = "nvidia-torch-save"
PERSISTENCE_MODULE = b"torch_utils.persistence"
# torch's legacy storage classes, as torch.save names them in a storage record, and the dtype each holds.
STORAGE_DTYPES = {
    "FloatStorage": torch.float32, "DoubleStorage": torch.float64, "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16, "LongStorage": torch.int64, "IntStorage": torch.int32,
    "ShortStorage": torch.int16, "CharStorage": torch.int8, "ByteStorage": torch.uint8, "BoolStorage": torch.bool,
}


class StorageType:
    """Stands for one of torch's storage classes in a storage record: only its dtype matters."""

    def __init__(self, dtype: torch.dtype) -> None:
        self.dtype = dtype


def _latin1_bytes(text: Any, encoding: Any = "utf-8") -> bytes:
    """Stands for `_codecs.encode`: protocol 2 pickles write byte strings (numpy data) as latin-1 text."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise CorruptCheckpointError("the pickle encodes something other than latin-1 bytes")
    return text.encode("latin-1")


TORCH_SAVE_GLOBALS: dict[tuple[str, str], Any] = {
    **ALLOWED_GLOBALS,
    **{("torch", name): StorageType(dtype) for name, dtype in STORAGE_DTYPES.items()},
    # torch.save writes pickle protocol 2, which names builtins by their Python 2 module.
    ("__builtin__", "set"): set,
    ("_codecs", "encode"): _latin1_bytes,
}


def _archive_prefix(archive: zipfile.ZipFile) -> str:
    """The folder torch.save puts everything in (`<name>/data.pkl`)."""
    pickles = [n for n in archive.namelist() if n.endswith("data.pkl") and n.count("/") == 1]
    if len(pickles) != 1:
        raise CorruptCheckpointError("a zip file, but not one torch.save wrote (no single <name>/data.pkl)")
    return pickles[0][: -len("data.pkl")]


class TorchSaveUnpickler(RestrictedUnpickler):
    """`RestrictedUnpickler` for a torch zip's `data.pkl`: storages come from the archive's records."""

    allowed = TORCH_SAVE_GLOBALS
    kind = "torch.save file"

    def __init__(self, file: Any, archive: zipfile.ZipFile, prefix: str) -> None:
        super().__init__(file)
        self.archive, self.prefix = archive, prefix
        self.storages: dict[str, torch.storage.TypedStorage] = {}

    def persistent_load(self, pid: Any) -> torch.storage.TypedStorage:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage" and isinstance(pid[1], StorageType)
                and isinstance(pid[2], str) and isinstance(pid[4], int) and pid[4] >= 0):
            raise CorruptCheckpointError("the torch file has a malformed storage record")
        _, storage_type, key, _location, numel = pid  # the location (e.g. cuda:0) is ignored: read on the CPU
        if key not in self.storages:
            try:
                data = self.archive.read(f"{self.prefix}data/{key}")
            except KeyError:
                raise CorruptCheckpointError(f"the torch file has no record for storage {key!r}") from None
            dtype = storage_type.dtype
            if len(data) != numel * dtype.itemsize:
                raise CorruptCheckpointError(f"storage {key!r} holds {len(data)} bytes, not {numel} values")
            values = torch.frombuffer(bytearray(data), dtype=dtype) if data else torch.empty(0, dtype=dtype)
            self.storages[key] = torch.storage.TypedStorage(wrap_storage=values.untyped_storage(), dtype=dtype,
                                                            _internal=True)
        return self.storages[key]


def names_nvidia_network(path: str | Path) -> bool:
    """Whether the torch zip at `path` pickles an NVIDIA persistent network (read, never run)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return PERSISTENCE_MODULE in archive.read(_archive_prefix(archive) + "data.pkl")
    except (zipfile.BadZipFile, CorruptCheckpointError, OSError, KeyError):
        return False


def read_nvidia_torch_save(path: str | Path) -> Checkpoint:
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            prefix = _archive_prefix(archive)
            byteorder = archive.read(prefix + "byteorder").decode() if prefix + "byteorder" in archive.namelist() \
                else "little"
            if byteorder != "little":
                raise UnsupportedCheckpointError(f"the torch file stores {byteorder}-endian tensors")
            with archive.open(prefix + "data.pkl") as file:
                data = load_restricted(file, lambda f: TorchSaveUnpickler(f, archive, prefix))  # type: ignore[arg-type]
    except zipfile.BadZipFile as exc:
        raise CorruptCheckpointError(f"the torch file is damaged or truncated: {exc}") from exc
    return checkpoint_from_pickle_data(data, source=path.name, source_format=FORMAT)
