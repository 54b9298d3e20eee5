"""The daemon's logs: JSON lines to a file (for machines and bug reports), readable lines to the terminal.

Every record is an *event* with a short name and a few fields: `log_event(log, "drag_done", steps=42)`.
The file goes to platformdirs' user log folder unless `DRAGD_LOG_DIR` or an explicit path says otherwise; it is
readable by its user only (0600), and holds no secrets: sessions appear by their key (persist.session_key),
never by their id, which is a capability.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import platformdirs

LOGGER_NAME = "dragd.server"
LOG_FILE_NAME = "dragd.jsonl"
_HANDLER_TAG = "_dragd_server_handler"  # marks handlers installed here, so setup can be repeated safely

log = logging.getLogger(LOGGER_NAME)


def default_log_file() -> Path:
    override = os.environ.get("DRAGD_LOG_DIR")
    folder = Path(override) if override else Path(platformdirs.user_log_dir("dragd"))
    return folder / LOG_FILE_NAME


def log_event(logger: logging.Logger, level: int, event: str, exc_info: bool = False, **fields: Any) -> None:
    logger.log(level, event, exc_info=exc_info, extra={"fields": fields})


class JsonLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "event": record.getMessage(),
            "thread": record.threadName,
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=repr)


class TerminalFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", {})
        text = " ".join(f"{key}={value}" for key, value in fields.items())
        line = f"{time.strftime('%H:%M:%S', time.localtime(record.created))} {record.levelname.lower():7} " \
               f"{record.getMessage()}" + (f"  {text}" if text else "")
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def setup_logging(log_file: Path | None = None, terminal: bool = True, level: int = logging.INFO) -> Path:
    """Sends the daemon's events to `log_file` (default: `default_log_file()`) and, optionally, stderr."""
    path = log_file or default_log_file()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))  # created private to its user
    os.chmod(path, 0o600)  # and made so if an older dragd left it world-readable
    for handler in [h for h in log.handlers if getattr(h, _HANDLER_TAG, False)]:
        log.removeHandler(handler)
        handler.close()
    file_handler = logging.FileHandler(path, encoding="utf-8")
    file_handler.setFormatter(JsonLineFormatter())
    handlers: list[logging.Handler] = [file_handler]
    if terminal:
        stream = logging.StreamHandler(sys.stderr)
        stream.setFormatter(TerminalFormatter())
        handlers.append(stream)
    for handler in handlers:
        setattr(handler, _HANDLER_TAG, True)
        log.addHandler(handler)
    log.setLevel(level)
    log.propagate = False
    return path
