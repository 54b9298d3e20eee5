"""`dragd generate` and `dragd drag` on a generated image: load a model, run the drag loop, write the outputs.

torch and numpy are imported inside the functions that need them, after every check of the arguments that needs
neither, so that a mistake is reported before seconds go into importing torch and loading a model.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ...protocol.limits import DEFAULT_TRUNCATION
from .errors import CliError
from .inputs import check_file, check_out, parse_points

if TYPE_CHECKING:
    import numpy as np
    import torch

    from ..engine.drag import DragOptions, DragResult, DragRun, DragStep
    from ..models.registry import ModelInfo
    from ..models.stylegan2 import Generator


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
            self.stream.write("\r" + line.ljust(78))  # also covers a line from `announce`
            self.stream.flush()
        elif step * 10 // self.total > self.last_decile:
            self.last_decile = step * 10 // self.total
            self.stream.write(line + "\n")

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")


def announce(text: str, stream=sys.stderr) -> None:
    """On a terminal, a transient line saying what the next seconds go into (importing torch, loading a model),
    left for the progress line or an error to overwrite. Nothing in logs and pipes."""
    if stream.isatty():
        stream.write(text[:78] + "\r")
        stream.flush()


def load_model(name: str | None, device_name: str) -> tuple[ModelInfo, Generator, torch.device]:
    """The registry's entry for `name` (None: the default), its generator on the device asked for, the device."""
    from ..device import pick_device
    from ..models.loader import load_generator
    from ..models.registry import find_model

    info = find_model(name)
    device = pick_device(device_name)
    return info, load_generator(info.path, device=device), device


def read_latent(path: str, key: str | None = None) -> np.ndarray:
    """The array in a latent file (.npy, .npz, torch tensor file; see models/latents.py). Raises CliError."""
    from ..models.latents import LatentFileError, read_latent_file

    try:
        return read_latent_file(path, key)
    except LatentFileError as exc:
        raise CliError(str(exc)) from None
    except OSError as exc:
        raise CliError(f"cannot read latent {path}: {exc.strerror or exc}") from None


def latent_for(generator: Generator, ws: np.ndarray, path: str) -> torch.Tensor:
    """`ws` read from `path` as the [1, num_ws, w_dim] tensor `generator` takes (W repeated per layer, or W+).
    Raises CliError on a shape the model does not take."""
    import torch

    from ..models.latents import LatentFileError, as_ws

    try:
        ws = as_ws(ws, generator.num_ws, generator.cfg.w_dim, f"latent {Path(path).name}")
    except LatentFileError as exc:
        raise CliError(str(exc)) from None
    return torch.from_numpy(ws).to(generator.mapping.w_avg.device)


def drag_options(args: argparse.Namespace, info: ModelInfo) -> DragOptions:
    """The drag options `dragd drag` was given, the model's own defaults where it was given none."""
    from ..engine.drag import DragOptions, with_model_defaults

    return with_model_defaults(
        DragOptions(step_size=args.step_size, latent_space=args.latent_space, trainable_layers=args.trainable_layers,
                    feature_block=args.feature_block, r1=args.r1, r2=args.r2, mask_strength=args.mask_strength,
                    stop_distance=args.stop_distance, max_steps=args.steps, tracking_norm=args.tracking_norm,
                    motion_supervision=args.motion_supervision, compute=args.compute),
        info.default_step_size, info.feature_block, info.mask_strength)


def check_drag_arguments(args: argparse.Namespace) -> None:
    """Refuses, in one line, options that the chosen source (--seed, --latent or --image) would ignore."""
    if args.trunc is not None and args.seed is None:
        raise CliError("--trunc applies to --seed only (a latent or a photo has no truncation)")
    if args.latent_key is not None and args.latent is None:
        raise CliError("--latent-key applies to --latent only (it names an array in a .npz or torch file)")
    if not args.image:
        given = [option for dest, option in args.photo_only if getattr(args, dest) is not None]
        if given:
            raise CliError(f"{', '.join(given)}: only with --image PHOTO (they set a photo's inversion and paste-back)")
    if args.preview_every and not args.gif:
        raise CliError("--preview-every sets the GIF's frames; give --gif too")


class Recorder:
    """Collects what a drag shows: its first image and, with --gif, a frame per preview with the points drawn."""

    def __init__(self, args: argparse.Namespace, targets: list[tuple[float, float]], scale: int) -> None:
        self.gif, self.targets, self.scale = args.gif, targets, scale
        self.preview_every = (args.preview_every or max(1, args.steps // 40)) if args.gif else 0
        self.before: np.ndarray | None = None
        self.frames: list = []

    def __call__(self, step: DragStep) -> None:
        from ..images import draw_points

        assert step.image is not None
        if self.before is None:
            self.before = step.image
        if self.gif:
            self.frames.append(draw_points(step.image, step.points, self.targets, self.scale))

    def save_gif(self, result: DragResult, path: Path) -> None:
        """Writes the frames and the final image as an animation, when --gif asked for one."""
        from ..images import draw_points, save_gif

        if self.gif:
            save_gif([*self.frames, draw_points(result.image, result.points, self.targets, self.scale)], path)


def drag_record(run: DragRun, result: DragResult) -> dict:
    """The options a drag ran with and how it ended, for OUT.json on both paths."""
    return {
        "options": {k: getattr(run.options, k) for k in (
            "step_size", "latent_space", "trainable_layers", "max_steps", "tracking_norm", "motion_supervision")} | {
            "r1": run.r1, "r2": run.r2, "stop_distance": run.stop_distance, "feature_block": run.feature_block,
            "mask_strength": run.mask_strength},
        "steps": result.steps, "reached": result.reached, "stopped": result.stopped, "loss": result.losses,
    }


def run_to_the_end(run: DragRun, max_steps: int, preview_every: int = 0,
                   on_preview: Callable[[DragStep], None] | None = None) -> DragResult:
    """Runs a drag with a progress line on stderr; `on_preview` sees every step before the last that carries an
    image (the last one carries the result, which is `run.result.image`, never a preview of the start)."""
    progress = Progress(max_steps)
    for step in run.steps(preview_every=preview_every):
        if step.image is not None and on_preview is not None and not step.done:
            on_preview(step)
        if step.done:
            break
        progress.update(step.step, f"loss {step.loss:.4f}  max distance {max(step.distances):.1f} px")
    progress.close()
    assert run.result is not None  # the last step is `done`, and a done run has its result
    return run.result


def cmd_generate(args: argparse.Namespace) -> int:
    out = check_out(args.out, (args.model,))
    announce("dragd: starting torch and loading the model ...")
    import numpy as np
    import torch

    from ..images import save_png
    from ..models.stylegan2 import to_uint8_image

    _, generator, _ = load_model(args.model, args.device)
    ws = generator.ws_for_seed(args.seed, args.trunc)
    with torch.no_grad():
        save_png(to_uint8_image(generator.synthesis(ws)), out)
    np.save(out.with_suffix(".npy"), ws.cpu().numpy())
    print(f"wrote {out} and {out.with_suffix('.npy')}")
    return 0


def cmd_drag(args: argparse.Namespace) -> int:
    check_drag_arguments(args)
    if args.image:
        from .photo import drag_photo

        return drag_photo(args)
    out = check_out(args.out, (args.latent, args.mask, args.model))
    handles, targets = parse_points(args.points)
    if args.mask:
        check_file(args.mask, "mask")
    latent = read_latent(args.latent, args.latent_key) if args.latent else None
    announce("dragd: starting torch and loading the model ...")
    import numpy as np

    from ..engine.drag import DragRun
    from ..images import draw_points, load_mask, save_png, side_by_side

    info, generator, _ = load_model(args.model, args.device)
    trunc = DEFAULT_TRUNCATION if args.trunc is None else args.trunc
    ws = generator.ws_for_seed(args.seed, trunc) if latent is None else latent_for(generator, latent, args.latent)
    height, width = generator.img_shape
    mask = load_mask(args.mask, height, width) if args.mask else None
    run = DragRun(generator, ws, handles, targets, mask, drag_options(args, info))
    scale = max(1, 256 // max(height, width))
    recorder = Recorder(args, targets, scale)
    result = run_to_the_end(run, args.steps, recorder.preview_every, recorder)
    before = recorder.before
    if before is None:  # no previews were asked for: render the start once for the before/after picture
        import torch

        from ..models.stylegan2 import to_uint8_image

        with torch.no_grad():
            before = to_uint8_image(generator.synthesis(ws))
    save_png(result.image, out)
    np.save(out.with_suffix(".npy"), result.ws.cpu().numpy())
    side_by_side(draw_points(before, handles, targets, scale),
                 draw_points(result.image, result.points, targets, scale)).save(
        out.with_name(out.stem + "_before_after.png"))
    record = {
        "model": info.name, "seed": None if args.latent else args.seed, "latent": args.latent,
        "handles": handles, "targets": targets, **drag_record(run, result),
        "final_points": result.points, "trajectory": result.trajectory,
    }
    out.with_suffix(".json").write_text(json.dumps(record, indent=1))
    recorder.save_gif(result, out.with_suffix(".gif"))
    distances = ", ".join(f"{d:.1f}" for d in (math.dist(p, t) for p, t in zip(result.points, targets, strict=True)))
    print(f"{result.stopped} after {result.steps} steps; handles {distances} px from their targets; wrote {out}")
    return 0
