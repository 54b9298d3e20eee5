"""The `dragd` command line: headless generate / drag / convert / models, and the daemon's commands.

Every failure the user can cause ends in one line on stderr and exit status 2; a bug ends in one line and
status 1 (set DRAGD_DEBUG=1 to see the traceback).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # imported where used: `dragd --help` must not wait for torch
    from .engine.drag import DragOptions, DragResult, DragRun, DragStep
    from .models.registry import ModelInfo
    from .server.config import InversionSteps

EXIT_USAGE = 2


class CliError(Exception):
    """A problem with the user's input, reported as one line."""


def parse_points(text: str) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """'hx,hy:tx,ty;hx,hy:tx,ty' -> (handles, targets)."""
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


def _load_model(name: str | None, device_name: str):
    from .device import pick_device
    from .models.loader import load_generator
    from .models.registry import find_model

    info = find_model(name)
    device = pick_device(device_name)
    return info, load_generator(info.path, device=device), device


def _latent_from_args(args: argparse.Namespace, generator) -> torch.Tensor:  # noqa: F821
    import torch

    if args.latent:
        try:
            ws = np.load(args.latent, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise CliError(f"cannot read latent {args.latent}: {exc}") from None
        expected = (generator.num_ws, generator.cfg.w_dim)
        if ws.shape[-2:] != expected or ws.ndim not in (2, 3) or (ws.ndim == 3 and ws.shape[0] != 1):
            raise CliError(f"latent {args.latent} has shape {ws.shape}; this model needs [1, {expected[0]}, "
                           f"{expected[1]}]")
        return torch.from_numpy(ws.reshape(1, *expected).astype(np.float32)).to(generator.mapping.w_avg.device)
    return generator.ws_for_seed(args.seed, args.trunc)


def _check_out(path: str) -> Path:
    out = Path(path)
    if out.suffix.lower() != ".png":
        raise CliError(f"--out must name a .png file, not {path!r}")
    if not out.parent.exists():
        raise CliError(f"folder {out.parent} does not exist")
    return out


class Progress:
    """One self-rewriting line on a terminal; a line every 10 % otherwise (logs, CI)."""

    def __init__(self, total: int, stream=sys.stderr) -> None:
        self.total, self.stream = max(total, 1), stream
        self.tty = stream.isatty()
        self.start = time.perf_counter()
        self.last_decile = -1

    def update(self, step: int, text: str) -> None:
        rate = step / max(time.perf_counter() - self.start, 1e-9)
        line = f"step {step}/{self.total}  {text}  {rate:.1f} steps/s"
        if self.tty:
            self.stream.write("\r" + line.ljust(78))
            self.stream.flush()
        elif step * 10 // self.total > self.last_decile:
            self.last_decile = step * 10 // self.total
            self.stream.write(line + "\n")

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")


# --- commands -----------------------------------------------------------------------------------------


def cmd_generate(args: argparse.Namespace) -> int:
    from .images import save_png
    from .models.stylegan2 import to_uint8_image

    out = _check_out(args.out)
    _, generator, _ = _load_model(args.model, args.device)
    import torch

    ws = generator.ws_for_seed(args.seed, args.trunc)
    with torch.no_grad():
        save_png(to_uint8_image(generator.synthesis(ws)), out)
    np.save(out.with_suffix(".npy"), ws.cpu().numpy())
    print(f"wrote {out} and {out.with_suffix('.npy')}")
    return 0


def drag_options(args: argparse.Namespace, info: ModelInfo) -> DragOptions:
    """The drag options `dragd drag` was given, the model's own defaults where it was given none."""
    from .engine.drag import DragOptions, with_model_defaults

    return with_model_defaults(
        DragOptions(step_size=args.step_size, latent_space=args.latent_space, trainable_layers=args.trainable_layers,
                    feature_block=args.feature_block, r1=args.r1, r2=args.r2, mask_strength=args.mask_strength,
                    stop_distance=args.stop_distance, max_steps=args.steps, tracking_norm=args.tracking_norm,
                    motion_supervision=args.motion_supervision),
        info.default_step_size, info.feature_block, info.mask_strength)


def run_to_the_end(run: DragRun, max_steps: int, preview_every: int = 0,
                   on_preview: Callable[[DragStep], None] | None = None) -> DragResult:
    """Runs a drag with a progress line on stderr; `on_preview` sees every step that carries an image."""
    progress = Progress(max_steps)
    for step in run.steps(preview_every=preview_every):
        if step.image is not None and on_preview is not None:
            on_preview(step)
        if step.done:
            break
        progress.update(step.step, f"loss {step.loss:.4f}  max distance {max(step.distances):.1f} px")
    progress.close()
    assert run.result is not None  # the last step is `done`, and a done run has its result
    return run.result


def cmd_drag(args: argparse.Namespace) -> int:
    if args.image:
        from .invert.command import drag_photo

        return drag_photo(args)
    from .engine.drag import DragRun
    from .images import draw_points, load_mask, save_gif, save_png, side_by_side

    out = _check_out(args.out)
    handles, targets = parse_points(args.points)
    info, generator, _ = _load_model(args.model, args.device)
    ws = _latent_from_args(args, generator)
    height, width = generator.img_shape
    mask = load_mask(args.mask, height, width) if args.mask else None
    options = drag_options(args, info)
    run = DragRun(generator, ws, handles, targets, mask, options)
    scale = max(1, 256 // max(height, width))
    preview_every = args.preview_every or (max(1, args.steps // 40) if args.gif else 0)
    frames = []
    before = None

    def on_preview(step: DragStep) -> None:
        nonlocal before
        if before is None:
            before = step.image
        if args.gif:
            frames.append(draw_points(step.image, step.points, targets, scale))

    result = run_to_the_end(run, args.steps, preview_every if args.gif else 0, on_preview)
    if before is None:  # no previews were asked for: render the start once for the before/after picture
        import torch

        from .models.stylegan2 import to_uint8_image

        with torch.no_grad():
            before = to_uint8_image(generator.synthesis(ws))
    save_png(result.image, out)
    np.save(out.with_suffix(".npy"), result.ws.cpu().numpy())
    side_by_side(draw_points(before, handles, targets, scale),
                 draw_points(result.image, result.points, targets, scale)).save(
        out.with_name(out.stem + "_before_after.png"))
    record = {
        "model": info.name, "seed": None if args.latent else args.seed, "latent": args.latent,
        "handles": handles, "targets": targets, "options": {k: getattr(run.options, k) for k in (
            "step_size", "latent_space", "trainable_layers", "max_steps", "tracking_norm", "motion_supervision")} | {
            "r1": run.r1, "r2": run.r2, "stop_distance": run.stop_distance, "feature_block": run.feature_block,
            "mask_strength": run.mask_strength},
        "steps": result.steps, "reached": result.reached, "stopped": result.stopped,
        "final_points": result.points, "trajectory": result.trajectory, "loss": result.losses,
    }
    out.with_suffix(".json").write_text(json.dumps(record, indent=1))
    if args.gif:
        frames.append(draw_points(result.image, result.points, targets, scale))
        save_gif(frames, out.with_suffix(".gif"))
    distances = ", ".join(f"{d:.1f}" for d in (math.dist(p, t) for p, t in zip(result.points, targets, strict=True)))
    print(f"{result.stopped} after {result.steps} steps; handles {distances} px from their targets; wrote {out}")
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    from .models.loader import convert

    convert(args.src, args.dst)
    print(f"wrote {args.dst}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from .models.registry import list_models, user_models_dir

    if args.fetch_lpips:
        from .invert.lpips import fetch_lpips_weights
        from .transfer import TerminalProgress

        bars: dict[str, TerminalProgress] = {}

        def report(name: str, done: int, total: int | None) -> None:
            bars.setdefault(name, TerminalProgress(name))(done, total)

        for path in fetch_lpips_weights(on_progress=report):
            print(f"checked {path}", file=sys.stderr)
        return 0
    from .models.catalogue import load_catalogue

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
    from .models.catalogue import find_entry
    from .models.download import download
    from .transfer import TerminalProgress

    entry = find_entry(args.name)
    print(f"{entry.name}: {entry.title}\n  licence: {entry.licence}\n  from: {entry.url}", file=sys.stderr)
    try:
        info = download(entry.name, on_progress=TerminalProgress(entry.name), force=args.force)
    except KeyboardInterrupt:
        print(f"\ndragd: interrupted; `dragd models download {entry.name}` resumes where it stopped", file=sys.stderr)
        return 130
    assert info.resolution is not None
    print(f"installed {info.name} ({info.resolution[0]}x{info.resolution[1]}, {info.domain}) at {info.path}")
    return 0


def cmd_models_add(args: argparse.Namespace) -> int:
    from .models.download import add

    info = add(args.file, args.name, domain=args.domain, default_step_size=args.step_size, licence=args.licence,
               description=args.description or "", force=args.force)
    assert info.resolution is not None
    print(f"installed {info.name} ({info.resolution[0]}x{info.resolution[1]}, {info.domain}, step "
          f"{info.default_step_size:g}) at {info.path}")
    return 0


def parse_inversion_steps(text: str) -> InversionSteps:
    from .server.config import InversionSteps

    try:
        w, wplus, tuning = (int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected W,WPLUS,TUNING step counts, got {text!r}") from None
    if min(w, wplus, tuning) < 0 or max(w, wplus, tuning) > 100_000:
        raise argparse.ArgumentTypeError("step counts must be in [0, 100000]")
    return InversionSteps(w, wplus, tuning)


def cmd_serve(args: argparse.Namespace) -> int:
    from ..protocol.transport import resolve_address
    from .server.config import ServerConfig
    from .server.control import default_state_dir, serve

    config = ServerConfig(address=resolve_address(args.address), device=args.device,
                          preload=tuple(args.model or ()),
                          curve_keys=Path(args.curve_keys) if args.curve_keys else None,
                          client_timeout_s=args.client_timeout, orphan_timeout_s=args.orphan_timeout,
                          inversion_steps=args.inversion_steps,
                          state_dir=Path(args.state_dir) if args.state_dir else default_state_dir())
    serve(config, Path(args.log_file) if args.log_file else None)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from .server.control import connect, status_lines

    with connect(args.address, Path(args.curve_keys) if args.curve_keys else None, args.client, args.timeout) as c:
        print("\n".join(status_lines(c)))
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    from .server.control import connect, stop

    with connect(args.address, Path(args.curve_keys) if args.curve_keys else None, args.client, args.timeout) as c:
        stop(c)
        print(f"dragd at {c.address} is stopping")
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    from .server.control import keys

    print("\n".join(keys(Path(args.folder), args.client)))
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from .doctor import Setup, exit_status, run_checks, summary

    optional = {name: Path(getattr(args, name)) if getattr(args, name) else None
                for name in ("curve_keys", "krita_dir", "gimp_dir", "krita_python", "gimp_python")}
    results = run_checks(Setup(address=args.address, client_name=args.client, timeout_s=args.timeout, **optional))
    for result in results:
        print(result.line(), flush=True)
    print(summary(results))
    return exit_status(results)


# --- parser ---------------------------------------------------------------------------------------------


def _add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", help="model name (see `dragd models`) or checkpoint path; default: the embedded one")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda or mps")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dragd", description="DragGAN for Krita and GIMP: engine, daemon, tools")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("generate", help="render a seed to a PNG (and its latent to .npy)")
    _add_model_args(p)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--trunc", type=float, default=0.7, help="truncation psi (default 0.7, as DragGAN)")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("drag", help="drag handle points to targets on a generated image, headless")
    _add_model_args(p)
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--seed", type=int)
    source.add_argument("--latent", help=".npy latent from `dragd generate` or an earlier drag")
    source.add_argument("--image", help="a photo: invert it, drag there (points in photo pixels), paste back")
    p.add_argument("--trunc", type=float, default=0.7)
    p.add_argument("--points", required=True, help="'hx,hy:tx,ty;...' in pixels (centre of top-left pixel = 0,0)")
    p.add_argument("--mask", help="grey PNG of the image's size: white (>= 128) may move, black stays")
    p.add_argument("--steps", type=int, default=300, help="maximum optimisation steps (default 300)")
    p.add_argument("--step-size", type=float, help="Adam step size (default: the model's, 2e-3 for faces)")
    p.add_argument("--latent-space", choices=("w+", "w"), default="w+")
    p.add_argument("--trainable-layers", type=int, default=6, help="latents optimised (default 6)")
    p.add_argument("--feature-block", type=int, help="synthesis block for features (0 = 4 px); default: model's")
    p.add_argument("--r1", type=float, help="motion supervision radius (default round(3/512*size))")
    p.add_argument("--r2", type=int, help="tracking search half-size (default round(12/512*size))")
    p.add_argument("--mask-strength", type=float, help="lambda of the fixed-region term (default: model's, else 20)")
    p.add_argument("--stop-distance", type=float, help="px; default 1 for up to 5 handles, else 2")
    p.add_argument("--tracking-norm", choices=("l2", "l1"), default="l2")
    p.add_argument("--motion-supervision", choices=("paper", "reference"), default="paper",
                   help="the paper's sg(F(q)) vs F(q+d) (default) or DragGAN's code: F(q) vs sg(F(q-d))")
    p.add_argument("--gif", action="store_true", help="also write an animation of the drag")
    p.add_argument("--preview-every", type=int, default=0, help="GIF frame every N steps (default: ~40 frames)")
    p.add_argument("--out", required=True, help="result PNG; .npy, .json, _before_after.png, .gif beside it")
    photo = p.add_argument_group("with --image (GAN inversion and paste-back)")
    photo.add_argument("--region", help="X,Y,W,H in photo pixels to edit (default: the whole photo)")
    photo.add_argument("--w-steps", type=int, default=200, help="projection steps in W (default 200)")
    photo.add_argument("--wplus-steps", type=int, default=100, help="projection steps in W+ (default 100)")
    photo.add_argument("--tuning-steps", type=int, default=100, help="pivotal tuning steps (default 100)")
    photo.add_argument("--align", choices=("auto", "plain"), default="auto",
                       help="auto: align faces for face models (needs dragd[faces]); plain: never")
    photo.add_argument("--feather", type=int, help="paste-back feather width in photo pixels (default: 4%% of "
                                                   "the region)")
    p.set_defaults(func=cmd_drag)

    p = sub.add_parser("convert", help="convert any supported checkpoint to dragd's safetensors format")
    p.add_argument("src")
    p.add_argument("dst")
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("models", help="list, download and add models (plain `dragd models` lists them)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--fetch-lpips", action="store_true",
                   help="download the LPIPS/VGG16 weights photo inversion uses (about 530 MB, checksummed)")
    p.set_defaults(func=cmd_models)
    models_sub = p.add_subparsers(dest="models_command", metavar="{list,download,add}")
    m = models_sub.add_parser("list", help="installed models: name, domain, resolution, step size, file")
    m.add_argument("--json", action="store_true", default=argparse.SUPPRESS)
    m.add_argument("--catalogue", action="store_true", help="also describe every model that can be downloaded")
    m.set_defaults(func=cmd_models, fetch_lpips=False)
    m = models_sub.add_parser("download", help="download a catalogue model, check it, convert it, install it")
    m.add_argument("name", help="a name from `dragd models list --catalogue`")
    m.add_argument("--force", action="store_true", help="replace the model if it is installed")
    m.set_defaults(func=cmd_models_download)
    m = models_sub.add_parser("add", help="install a checkpoint of your own (NVIDIA/TF .pkl, rosinality .pt, "
                                          "safetensors)")
    m.add_argument("file")
    m.add_argument("--name", required=True, help="the model's name (letters, digits, '.', '_', '-')")
    m.add_argument("--domain", default="unknown", help="what it makes, e.g. faces, cars, cats (sets the step size)")
    m.add_argument("--step-size", type=float, help="default drag step size (default: 2e-3 for faces, cats, cars; "
                                                   "else 1e-3)")
    m.add_argument("--licence", default="unknown")
    m.add_argument("--description")
    m.add_argument("--force", action="store_true", help="replace a model of that name")
    m.set_defaults(func=cmd_models_add)
    from ..protocol.limits import DEFAULT_ADDRESS

    address_help = f"tcp://HOST:PORT or ipc://PATH (default: $DRAGD_ADDRESS, else {DEFAULT_ADDRESS})"
    p = sub.add_parser("serve", help="run the daemon the editor plugins talk to")
    p.add_argument("--address", help=address_help)
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda or mps")
    p.add_argument("--model", action="append", help="load this model at start (repeatable)")
    p.add_argument("--curve-keys", help="folder from `dragd keys`: admit only its clients (default: the user's "
                                        "own keys, made on first run); required for a non-loopback address")
    p.add_argument("--state-dir", help="where sessions are saved across restarts (default: $DRAGD_STATE_DIR, "
                                       "else the user's state folder)")
    p.add_argument("--log-file", help="JSON-lines log (default: the user log folder, or $DRAGD_LOG_DIR)")
    p.add_argument("--client-timeout", type=float, default=60.0,
                   help="seconds without a message after which an idle client counts as gone (default 60)")
    p.add_argument("--orphan-timeout", type=float, default=600.0,
                   help="seconds a gone client's sessions are kept after their last use, for a new connection to "
                        "resume them with their ids (default 600)")
    p.add_argument("--inversion-steps", type=parse_inversion_steps, default="200,100,100",
                   help="open_session's default steps: W,WPLUS,TUNING (projection in W, in W+, pivotal tuning; "
                        "default 200,100,100); a request may set its own")
    p.set_defaults(func=cmd_serve)

    for name, func, text in (("status", cmd_status, "show what a running daemon is doing"),
                             ("stop", cmd_stop, "ask a running daemon to shut down")):
        p = sub.add_parser(name, help=text)
        p.add_argument("--address", help=address_help)
        p.add_argument("--curve-keys", help="keys folder, for a daemon served with --curve-keys")
        p.add_argument("--client", default="client", help="client key name in that folder (default 'client')")
        p.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for an answer (default 5)")
        p.set_defaults(func=func)

    p = sub.add_parser("keys", help="create CurveZMQ keys: the daemon's pair and an authorised client's pair")
    p.add_argument("folder")
    p.add_argument("--client", default="client", help="name of the client key pair (default 'client')")
    p.set_defaults(func=cmd_keys)

    p = sub.add_parser("doctor", help="check the installation line by line: Python, torch, device, models, "
                                      "editors, daemon; exit status 1 when something needed is broken")
    p.add_argument("--address", help="the daemon's address (default: $DRAGD_ADDRESS, Krita's setting, or "
                                     f"{DEFAULT_ADDRESS})")
    p.add_argument("--curve-keys", help="keys folder from `dragd keys`, for a daemon served with --curve-keys")
    p.add_argument("--client", default="client", help="client key name in that folder (default 'client')")
    p.add_argument("--timeout", type=float, default=2.0, help="seconds to wait for the daemon (default 2)")
    p.add_argument("--krita-dir", help="Krita's resource folder, if not the usual one")
    p.add_argument("--gimp-dir", help="GIMP 3's profile folder, if not the usual one")
    p.add_argument("--krita-python", help="the Python Krita runs plugins with, if not the one found")
    p.add_argument("--gimp-python", help="the Python GIMP runs plug-ins with, if not the one found")
    p.set_defaults(func=cmd_doctor)
    return parser


def user_errors() -> tuple[type[BaseException], ...]:
    """Exception types that mean bad input, each reported as one line."""
    from .device import DeviceError
    from .engine.drag import DragInputError
    from .images import ImageFileError
    from .invert.lpips import LpipsWeightsError
    from .invert.region import InvertInputError
    from .models.registry import UnknownModelError
    from .models.stylegan2 import UnsupportedModelError
    from .transfer import DownloadError

    errors: list[type[BaseException]] = [CliError, DeviceError, DragInputError, ImageFileError, UnknownModelError,
                                         UnsupportedModelError, FileNotFoundError, PermissionError,
                                         InvertInputError, LpipsWeightsError, DownloadError]
    from ..protocol.errors import DragdError
    from .server.listen import StartError
    from .server.models import ModelNotFound
    from .server.security import SecurityError

    errors += [DragdError, ModelNotFound, SecurityError, StartError]
    try:
        from .models.checkpoint import CheckpointError

        errors.append(CheckpointError)
    except ImportError:
        pass
    return tuple(errors)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except KeyboardInterrupt:
        print("dragd: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if os.environ.get("DRAGD_DEBUG"):
            raise
        if isinstance(exc, user_errors()):
            print(f"dragd: error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        print(f"dragd: internal error: {type(exc).__name__}: {exc} (DRAGD_DEBUG=1 shows the traceback)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
