"""Checks of the user's input that need neither torch nor a model, so that a mistake is reported at once."""

from __future__ import annotations

import argparse
import math
import tempfile
from collections.abc import Sequence
from pathlib import Path

from ...protocol.limits import DEFAULT_LIMITS, MAX_SEED, TRUNCATION_MAX
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
    if len(handles) > DEFAULT_LIMITS.max_points:
        raise CliError(f"{len(handles)} point pairs: at most {DEFAULT_LIMITS.max_points}, as the daemon takes")
    return handles, targets


OUTPUT_SUFFIXES = (".npy", ".json", ".gif")  # written beside OUT.png (the .npy only for generated images)
OUTPUT_SIBLINGS = ("_before_after.png", "_inversion.png")  # OUT_before_after.png, OUT_inversion.png (photos)


def outputs_of(out: Path) -> list[Path]:
    """Every file a command with `--out OUT.png` may write: OUT.png and the files beside it."""
    return [out, *(out.with_suffix(suffix) for suffix in OUTPUT_SUFFIXES),
            *(out.with_name(out.stem + sibling) for sibling in OUTPUT_SIBLINGS)]


def check_out(path: str, inputs: Sequence[str | None] = ()) -> Path:
    """The --out path as a Path: a .png in a folder that exists and takes new files, none of whose outputs
    (`outputs_of`) is a folder or one of the command's `inputs` (latent, photo, mask, model file: `--out face.png`
    after `--latent face.npy` would replace the user's starting latent). Raises CliError otherwise."""
    out = Path(path)
    if out.suffix.lower() != ".png":
        raise CliError(f"--out must name a .png file, not {path!r}")
    if not out.parent.exists():
        raise CliError(f"folder {out.parent} does not exist")
    given = {Path(p).resolve(): p for p in inputs if p}
    for written in outputs_of(out):
        if written.resolve() in given:
            raise CliError(f"--out {path} would overwrite the input {given[written.resolve()]} "
                           f"(it writes {written.name}): choose another --out")
        if written.is_dir():
            raise CliError(f"--out {path} would write {written}, which is a folder: choose another --out")
    try:  # before the work: a drag of minutes must not end in "cannot write"
        with tempfile.TemporaryFile(dir=out.parent):
            pass
    except OSError as exc:
        raise CliError(f"cannot write in the folder {out.parent}: {exc.strerror or exc}") from None
    return out


def check_converted(src: str, dst: str) -> Path:
    """`dragd convert SRC DST`'s DST as a Path: a .safetensors file in a folder that exists, not SRC (converting
    a pickle onto itself would replace the user's original). Raises CliError otherwise, before anything loads."""
    out = Path(dst)
    if out.suffix.lower() != ".safetensors" or out.is_dir():
        raise CliError(f"the converted model is a safetensors file: name it NAME.safetensors, not {dst!r}")
    if not out.parent.is_dir():
        raise CliError(f"folder {out.parent} does not exist")
    if out.resolve() == Path(src).resolve():
        raise CliError(f"{dst} is the model being converted: choose another name for the converted one")
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


# --- argparse types: a value that cannot be right is refused while the arguments are parsed ------------------


def _number(text: str, kind: type[int] | type[float]) -> float:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {'an integer' if kind is int else 'a number'}, "
                                         f"got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _at_least(kind: type[int] | type[float], low: float, open_low: bool = False):
    """An argparse type: a finite `kind` >= low (> low when `open_low`)."""
    relation = ">" if open_low else ">="
    noun = "an integer" if kind is int else "a number"

    def parse(text: str):
        value = _number(text, kind)
        if value < low or (open_low and value == low):
            raise argparse.ArgumentTypeError(f"must be {noun} {relation} {low:g}, got {text!r}")
        return value

    parse.__name__ = f"{noun.split()[-1]} {relation} {low:g}"  # argparse names the type in some messages
    return parse


non_negative_float = _at_least(float, 0)
positive_float = _at_least(float, 0, open_low=True)
non_negative_int = _at_least(int, 0)
positive_int = _at_least(int, 1)


def seed(text: str) -> int:
    """An argparse type: a seed NumPy's RandomState takes, in [0, MAX_SEED]."""
    value = int(_number(text, int))
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be in [0, {MAX_SEED}], got {text!r}")
    return value


def device(text: str) -> str:
    """An argparse type: a device name dragd knows (daemon/device.py), checked before torch loads."""
    from ..device import DeviceError, check_device_name

    try:
        return check_device_name(text)
    except DeviceError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def truncation(text: str) -> float:
    """An argparse type: truncation psi in [0, TRUNCATION_MAX], the range the daemon and the plugins take."""
    value = _number(text, float)
    if not 0 <= value <= TRUNCATION_MAX:
        raise argparse.ArgumentTypeError(f"must be in [0, {TRUNCATION_MAX:g}], got {text!r}")
    return value


def attach_dash_values(argv: Sequence[str]) -> list[str]:
    """`--points -5,10:20,20` -> `--points=-5,10:20,20`: argparse would take a value starting with '-' and a
    digit for an option of its own (it only knows plain negative numbers); no dragd option starts that way."""
    out: list[str] = []
    for token in argv:
        if out and out[-1].startswith("--") and "=" not in out[-1] and len(token) > 1 and token[0] == "-" \
                and (token[1].isdigit() or token[1] == "."):
            out[-1] = f"{out[-1]}={token}"
        else:
            out.append(token)
    return out
