"""How the command line tells a user's mistake (one line, exit 2) from a bug (one line, exit 1).

Imports nothing heavy: classifying an exception must not import torch just to find out that the user mistyped.
"""

from __future__ import annotations

import errno
import sys

EXIT_USAGE = 2  # the user's input was wrong; argparse uses the same status
EXIT_BUG = 1
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report Ctrl+C


class CliError(Exception):
    """A problem with the user's input, reported as one line."""


# Exception classes that mean bad input, as (module, class name) under `dragd`. Each is looked up only if its
# module is already imported: an exception can only be an instance of a class whose module has been imported.
USER_ERRORS: tuple[tuple[str, str], ...] = (
    ("daemon.cli.errors", "CliError"),
    ("daemon.device", "DeviceError"),
    ("daemon.engine.drag", "DragInputError"),
    ("daemon.images", "ImageFileError"),
    ("daemon.invert.lpips", "LpipsWeightsError"),
    ("daemon.invert.region", "InvertInputError"),
    ("daemon.models.registry", "UnknownModelError"),
    ("daemon.models.stylegan2", "UnsupportedModelError"),
    ("daemon.models.errors", "CheckpointError"),
    ("daemon.transfer", "DownloadError"),
    ("daemon.server.models", "ModelNotFound"),
    ("daemon.server.security", "SecurityError"),
    ("daemon.server.listen", "StartError"),
    ("protocol.errors", "DragdError"),
    ("protocol.transport", "KeysError"),
)
ENVIRONMENT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EISDIR, errno.ENOTDIR, errno.EFBIG,
                                errno.ENAMETOOLONG, errno.EACCES, errno.EPERM, errno.ENOENT})
_PACKAGE = __name__.split(".daemon.")[0]  # "dragd"


def is_user_error(exc: BaseException) -> bool:
    """True when `exc` reports bad input (a missing file, a malformed option, an unknown model, ...)."""
    if isinstance(exc, FileNotFoundError | PermissionError):
        return True
    if isinstance(exc, OSError) and exc.errno in ENVIRONMENT_ERRNOS:  # the user's disk or folders, not a bug
        return True
    for module_name, class_name in USER_ERRORS:
        module = sys.modules.get(f"{_PACKAGE}.{module_name}")
        if module is not None and isinstance(exc, getattr(module, class_name)):
            return True
    return False
