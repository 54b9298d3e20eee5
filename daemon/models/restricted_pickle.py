"""What the two pickle readers share: an unpickler that resolves only listed globals, stand-ins for the plain
numpy values and dnnlib dicts both kinds of file hold, and the walk that turns init kwargs into plain data.

`nvidia_pickle` (PyTorch-era files) and `tf_pickle` (TensorFlow-era files) each list the globals their files
may name (`AllowListUnpickler.allowed`, starting from `PLAIN_DATA_GLOBALS`); every other global is refused
before anything is called, so nothing in a model file is ever executed.
"""

from __future__ import annotations

import math
import pickle
from typing import Any, BinaryIO

import numpy as np

from .checkpoint import CheckpointError, CorruptCheckpointError, UnsafeCheckpointError

# numpy dtype kinds that hold plain numbers: bool, signed/unsigned int, float, complex.
PLAIN_NUMBER_KINDS = "biufc?"
MAX_KWARGS_DEPTH = 16


class EasyDictStandIn(dict):
    """`dnnlib.util.EasyDict` is a dict whose items double as attributes; as data, a dict is enough."""

    def __setstate__(self, state: Any) -> None:
        if state:  # EasyDict keeps everything in its items; a non-empty __dict__ is not one.
            raise CorruptCheckpointError("a dnnlib EasyDict in the file carries unexpected attributes")


def plain_numpy_dtype(spec: Any, align: Any = False, copy: Any = True) -> np.dtype:
    """Stands for `numpy.dtype(spec)`: only dtypes of plain numbers."""
    if not isinstance(spec, str):
        raise CorruptCheckpointError("a numpy dtype in the pickle is malformed")
    try:
        # Always a fresh copy: the pickle's BUILD then sets its byte order, never numpy's shared dtype.
        dtype = np.dtype(spec, bool(align), True)
    except (TypeError, ValueError) as exc:
        raise CorruptCheckpointError(f"a numpy dtype in the pickle is malformed: {spec!r}") from exc
    if dtype.kind not in PLAIN_NUMBER_KINDS:
        raise UnsafeCheckpointError(f"refused numpy dtype {spec!r}: only plain numeric values are read")
    return dtype


def plain_numpy_scalar(dtype: Any, data: Any = None) -> int | float | bool | complex:
    """Stands for `numpy.core.multiarray.scalar(dtype, data)`: a Python number from its raw bytes."""
    if not (isinstance(dtype, np.dtype) and dtype.kind in PLAIN_NUMBER_KINDS and isinstance(data, bytes)
            and len(data) == dtype.itemsize):
        raise UnsafeCheckpointError("refused a numpy scalar that is not a plain number")
    return np.frombuffer(data, dtype=dtype)[0].item()


class NdarrayMarker:
    """Stands for the class `numpy.ndarray`, which a pickled array names as the type to rebuild."""


class PlainArray:
    """A pickled numpy array: `_reconstruct(ndarray, (0,), b"b")` begins it, then the pickle's BUILD supplies
    (version, shape, dtype, is_fortran, raw bytes) (older numpy omits the version). Only arrays of plain numbers
    are read; `value` holds the result. (TensorFlow-era networks keep their variables so; StyleGAN3's layers keep
    sizes as small int arrays in their attributes.)"""

    value: np.ndarray

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 5:
            state = state[1:]
        if not (isinstance(state, tuple) and len(state) == 4):
            raise CorruptCheckpointError("a numpy array in the pickle has a malformed state")
        shape, dtype, is_fortran, data = state
        if not (isinstance(shape, tuple) and all(isinstance(n, int) and n >= 0 for n in shape)):
            raise CorruptCheckpointError("a numpy array in the pickle has a malformed shape")
        if not isinstance(dtype, np.dtype) or dtype.kind not in PLAIN_NUMBER_KINDS:
            raise UnsafeCheckpointError("refused a numpy array that does not hold plain numbers")
        if not isinstance(data, (bytes, bytearray)) or len(data) != math.prod(shape) * dtype.itemsize:
            raise CorruptCheckpointError("a numpy array in the pickle does not hold the bytes its shape needs")
        flat = np.frombuffer(bytes(data), dtype=dtype)
        self.value = flat.reshape(shape, order="F" if is_fortran else "C")


def plain_numpy_array(subtype: Any, shape: Any = (0,), dtype_code: Any = b"b") -> PlainArray:
    """Stands for `numpy.core.multiarray._reconstruct`: only plain ndarrays (their data arrives by BUILD)."""
    if subtype is not NdarrayMarker:
        raise UnsafeCheckpointError("refused a numpy reconstruction of something that is not a plain ndarray")
    return PlainArray()


# Globals for plain values that both PyTorch- and TensorFlow-era StyleGAN pickles name.
PLAIN_DATA_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "scalar"): plain_numpy_scalar,  # numpy 1 files
    ("numpy._core.multiarray", "scalar"): plain_numpy_scalar,  # numpy 2 files
    ("numpy.core.multiarray", "_reconstruct"): plain_numpy_array,  # numpy 1 files
    ("numpy._core.multiarray", "_reconstruct"): plain_numpy_array,  # numpy 2 files
    ("numpy", "ndarray"): NdarrayMarker,
    ("numpy", "dtype"): plain_numpy_dtype,
    ("dnnlib.util", "EasyDict"): EasyDictStandIn,
}


class AllowListUnpickler(pickle.Unpickler):
    """Resolves only the globals in `allowed`; refuses every other one before it can be called."""

    allowed: dict[tuple[str, str], Any] = PLAIN_DATA_GLOBALS
    kind = "StyleGAN network pickle"  # what the files are, for the error messages

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self.allowed:
            return self.allowed[(module, name)]
        raise self.refusal(module, name)

    def refusal(self, module: str, name: str) -> CheckpointError:
        """The error for a global not in `allowed`; a subclass may explain files it knows to be foreign."""
        return UnsafeCheckpointError(
            f"refused to load global {module}.{name}: a model file may hold only data, and this one "
            "asks for code; nothing from it was run")

    def persistent_load(self, pid: Any) -> Any:
        raise CorruptCheckpointError(f"the pickle uses persistent ids; it is not a {self.kind}")


def load_restricted(file: BinaryIO, unpickler: type[AllowListUnpickler]) -> Any:
    """Unpickles `file` with the restricted `unpickler`; every failure is a `CheckpointError`."""
    try:
        return unpickler(file).load()
    except CheckpointError:
        raise
    except EOFError as exc:
        raise CorruptCheckpointError("the pickle ends early: the file is truncated") from exc
    except (RecursionError, MemoryError) as exc:
        raise CorruptCheckpointError("the pickle is malformed (too deep or too large)") from exc
    except Exception as exc:  # UnpicklingError, ValueError, TypeError, ... from damaged opcodes
        raise CorruptCheckpointError(f"the pickle is damaged: {exc}") from exc


def plain_data(value: Any, depth: int = 0) -> Any:
    """Kwargs as JSON-friendly data: dicts, lists, str, numbers, bool, None."""
    if depth > MAX_KWARGS_DEPTH:
        raise CorruptCheckpointError("the init kwargs nest too deeply")
    if isinstance(value, dict):
        return {str(k): plain_data(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_data(v, depth + 1) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, PlainArray) and hasattr(value, "value"):
        return value.value.tolist()
    raise CorruptCheckpointError(f"the init kwargs hold a {type(value).__name__}, not plain data")
