"""The errors a model file can cause, importable without torch (a download reports them before any model
is read). `checkpoint.py` re-exports them beside the one that needs the generator's code
(`UnsupportedCheckpointError`)."""

from __future__ import annotations


class CheckpointError(Exception):
    """A model file could not be used; the message says why in words a user can act on."""


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    pass


class UnknownFormatError(CheckpointError):
    """The file's content matches none of the formats dragd reads."""


class CorruptCheckpointError(CheckpointError):
    """The file looks like a known format but is truncated or malformed, or holds weights that are not
    finite numbers."""


class UnsafeCheckpointError(CheckpointError):
    """The file asks to run or import something that is not plain data; nothing of it was executed."""


class StateDictMismatchError(CheckpointError):
    """The weights do not fit the generator the config describes."""
