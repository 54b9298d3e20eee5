"""Checks of the user's input that need neither torch nor a model, so that a mistake is reported at once."""

from __future__ import annotations

import math
from pathlib import Path

from .errors import CliError


def parse_points(text: str) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """'hx,hy:tx,ty;hx,hy:tx,ty' -> (handles, targets), in pixels. Raises CliError for a malformed pair."""
    handles, targets = [], []
    for pair in filter(None, (p.strip() for p in text.split(";"))):
        try:
            handle, target = pair.split(":")
            hx, hy = (float(v) for v in handle.split(","))
            tx, ty = (float(v) for v in target.split(","))
        except ValueError:
            raise CliError(f"malformed point pair {pair!r}; expected 'hx,hy:tx,ty' (pairs separated by ';')") from None
        if not all(math.isfinite(v) for v in (hx, hy, tx, ty)):
            raise CliError(f"point pair {pair!r} has a non-finite coordinate")
        handles.append((hx, hy))
        targets.append((tx, ty))
    if not handles:
        raise CliError("no point pairs given; expected 'hx,hy:tx,ty'")
    return handles, targets


def check_out(path: str) -> Path:
    """The --out path as a Path: a .png in a folder that exists. Raises CliError otherwise."""
    out = Path(path)
    if out.suffix.lower() != ".png":
        raise CliError(f"--out must name a .png file, not {path!r}")
    if not out.parent.exists():
        raise CliError(f"folder {out.parent} does not exist")
    return out


def check_file(path: str, what: str) -> str:
    """`path` unchanged if it names a file; CliError("no such WHAT: PATH") otherwise."""
    if not Path(path).is_file():
        raise CliError(f"no such {what}: {path}")
    return path


def parse_region(text: str | None) -> tuple[int, int, int, int] | None:
    """'X,Y,W,H' in photo pixels -> (x, y, w, h); None for None. Raises CliError for a malformed region."""
    if text is None:
        return None
    try:
        x, y, w, h = (int(v) for v in text.split(","))
    except ValueError:
        raise CliError(f"malformed region {text!r}; expected X,Y,W,H in pixels") from None
    return x, y, w, h
