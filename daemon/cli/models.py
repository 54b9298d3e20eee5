"""`dragd models [list | download | add]` and `dragd convert`: the models a user has and can get."""

from __future__ import annotations

import argparse
import json
import sys

from .errors import EXIT_INTERRUPTED


def cmd_convert(args: argparse.Namespace) -> int:
    from ..models.loader import convert

    convert(args.src, args.dst)
    print(f"wrote {args.dst}")
    return 0


def fetch_lpips() -> int:
    """Downloads (or checks) the LPIPS/VGG16 weights photo inversion uses, with a progress bar per file."""
    from ..invert.lpips_files import fetch_lpips_weights
    from ..transfer import TerminalProgress

    bars: dict[str, TerminalProgress] = {}

    def report(name: str, done: int, total: int | None) -> None:
        bars.setdefault(name, TerminalProgress(name))(done, total)

    for path in fetch_lpips_weights(on_progress=report):
        print(f"checked {path}", file=sys.stderr)
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    if args.fetch_lpips:
        return fetch_lpips()
    from ..models.catalogue import load_catalogue
    from ..models.registry import list_models, unusable_models, user_models_dir

    models = list_models()
    installed = {m.name for m in models}
    downloadable = [e for e in load_catalogue().values() if e.name not in installed]
    if args.json:
        print(json.dumps([m.to_dict() for m in models], indent=1))
        return 0
    for m in models:
        where = "embedded" if m.embedded else str(m.path)
        size = f"{m.resolution[0]}x{m.resolution[1]}" if m.resolution else "?"
        print(f"{m.name:24} {m.domain:10} {size:>9}  step {m.default_step_size:g}  {where}\n    {m.description}")
    for m in unusable_models():
        print(f"not usable (its header cannot be read; replace or remove it): {m.path}")
    print(f"user models folder: {user_models_dir()}")
    if downloadable:
        print("to download (`dragd models download NAME`; `dragd models list --catalogue` tells more): "
              + ", ".join(e.name for e in downloadable))
    if getattr(args, "catalogue", False):
        for e in load_catalogue().values():
            state = "installed" if e.name in installed else "not installed"
            print(f"\n{e.name} ({state}): {e.title}, step {e.default_step_size:g}\n    licence: {e.licence}"
                  f"\n    from: {e.url}")
    return 0


def cmd_models_download(args: argparse.Namespace) -> int:
    from ..models.catalogue import find_entry
    from ..models.download import download
    from ..transfer import TerminalProgress

    entry = find_entry(args.name)
    print(f"{entry.name}: {entry.title}\n  licence: {entry.licence}\n  from: {entry.url}", file=sys.stderr)
    try:
        info = download(entry.name, on_progress=TerminalProgress(entry.name), force=args.force)
    except KeyboardInterrupt:
        print(f"\ndragd: interrupted; `dragd models download {entry.name}` resumes where it stopped", file=sys.stderr)
        return EXIT_INTERRUPTED
    assert info.resolution is not None
    print(f"installed {info.name} ({info.resolution[0]}x{info.resolution[1]}, {info.domain}) at {info.path}")
    return 0


def cmd_models_add(args: argparse.Namespace) -> int:
    from ..models.download import add

    info = add(args.file, args.name, domain=args.domain, default_step_size=args.step_size, licence=args.licence,
               description=args.description or "", force=args.force)
    assert info.resolution is not None
    print(f"installed {info.name} ({info.resolution[0]}x{info.resolution[1]}, {info.domain}, step "
          f"{info.default_step_size:g}) at {info.path}")
    return 0
