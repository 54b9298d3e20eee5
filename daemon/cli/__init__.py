"""The `dragd` command line: headless generate / drag / convert / models, and the daemon's commands.

Every failure the user can cause ends in one line on stderr and exit status 2; a bug ends in one line and
status 1 (set DRAGD_DEBUG=1 to see the traceback).

Layout: `parser.py` (every command and option), `inputs.py` (checks that need no model), `drag.py` (generate,
drag), `photo.py` (drag --image), `models.py` (models, convert), `service.py` (serve, status, stop, keys,
doctor), `errors.py` (what counts as the user's mistake). Only the commands import torch, and only after the
checks that need no torch: `dragd --help` and a mistyped option answer at once.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from .errors import EXIT_BUG, EXIT_INTERRUPTED, EXIT_USAGE, CliError, is_user_error
from .inputs import attach_dash_values, parse_points
from .parser import build_parser

__all__ = ["EXIT_USAGE", "CliError", "build_parser", "main", "parse_points"]


def main(argv: Sequence[str] | None = None) -> int:
    """Runs one `dragd` command; returns its exit status (0, 1 for a bug, 2 for the user's mistake, 130)."""
    parser = build_parser()
    try:
        args = parser.parse_args(attach_dash_values(sys.argv[1:] if argv is None else argv))
    except SystemExit as done:  # --help, or a mistake argparse reported in one line
        return done.code if isinstance(done.code, int) else EXIT_USAGE
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        if hasattr(args, "threads"):  # before anything loads torch: OpenMP reads its wait policy once
            from ..device import apply_thread_policy

            apply_thread_policy(args.threads, args.wait_policy)
        return func(args)
    except BrokenPipeError:  # `dragd models | head` stopped reading: nothing went wrong
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # as Python's signal docs advise
        return 0
    except KeyboardInterrupt:
        print("dragd: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        if os.environ.get("DRAGD_DEBUG"):
            raise
        clear = "\r\033[K" if sys.stderr.isatty() else ""  # over a transient line from `announce`
        if is_user_error(exc):
            print(f"{clear}dragd: error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        print(f"{clear}dragd: internal error: {type(exc).__name__}: {exc} (DRAGD_DEBUG=1 shows the traceback)",
              file=sys.stderr)
        return EXIT_BUG
