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
from .inputs import parse_points
from .parser import build_parser

__all__ = ["EXIT_USAGE", "CliError", "build_parser", "main", "parse_points"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        if hasattr(args, "threads"):  # before anything loads torch: OpenMP reads its wait policy once
            from ..device import apply_thread_policy

            apply_thread_policy(args.threads, args.wait_policy)
        return func(args)
    except KeyboardInterrupt:
        print("dragd: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        if os.environ.get("DRAGD_DEBUG"):
            raise
        if is_user_error(exc):
            print(f"dragd: error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        print(f"dragd: internal error: {type(exc).__name__}: {exc} (DRAGD_DEBUG=1 shows the traceback)",
              file=sys.stderr)
        return EXIT_BUG
