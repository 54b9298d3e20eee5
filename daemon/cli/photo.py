"""`dragd drag --image PHOTO`: invert a photo (or a region of it), drag there, paste the edit back.

Points, region and mask are in photo pixels. Writes OUT (photo-sized, equal to the photo outside the edit
region), OUT_inversion.png (what the model saw | its reconstruction | the edit), OUT_before_after.png (the
photo and the result, points drawn), OUT.json, and with --gif OUT.gif (the edit region as the model sees it).
No latent .npy: a photo's latent means nothing without the generator tuned to that photo.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import TYPE_CHECKING

from .drag import Progress, Recorder, announce, drag_options, drag_record, load_model, run_to_the_end
from .inputs import check_file, check_out, parse_points, parse_region

if TYPE_CHECKING:
    from ..invert.pipeline import InversionOptions


def inversion_options(args: argparse.Namespace) -> InversionOptions:
    """The inversion options `dragd drag --image` was given."""
    from ..invert.pipeline import InversionOptions
    from ..invert.project import ProjectionOptions
    from ..invert.pti import TuningOptions

    def given(**values: object) -> dict[str, object]:  # the options' own defaults where none was given
        return {name: value for name, value in values.items() if value is not None}

    return InversionOptions(ProjectionOptions(**given(w_steps=args.w_steps, wplus_steps=args.wplus_steps)),
                            TuningOptions(**given(steps=args.tuning_steps)),
                            **given(align=args.align, feather=args.feather))


def drag_photo(args: argparse.Namespace) -> int:
    out = check_out(args.out)
    handles, targets = parse_points(args.points)
    region = parse_region(args.region)
    check_file(args.image, "image")
    if args.mask:
        check_file(args.mask, "mask")
    from ..images import draw_points, load_image, load_mask, save_png, side_by_side

    photo = load_image(args.image)
    height, width = photo.shape[:2]
    photo_mask = load_mask(args.mask, height, width) if args.mask else None
    announce("dragd: starting torch and loading the model ...")
    import numpy as np  # after every check that needs no torch: the imports below take seconds

    from ..engine.drag import DragRun, inside_image
    from ..invert.align import alignment_for
    from ..invert.lpips import LpipsWeightsError, load_lpips
    from ..invert.pipeline import invert
    from ..invert.region import InvertInputError, mask_to_model

    options = inversion_options(args)
    info, generator, device = load_model(args.model, args.device)
    try:
        lpips = load_lpips(device=device)
    except LpipsWeightsError as exc:
        print(f"dragd: {exc}; using pixel losses only", file=sys.stderr)
        lpips = None

    bars: dict[str, Progress] = {}

    def on_progress(stage: str, step: int, total: int) -> None:
        bar = bars.setdefault(stage, Progress(total))
        bar.update(step, stage)
        if step == total:
            bar.close()

    inversion = invert(generator, photo, region, None, options, alignment=alignment_for(info.name, info.domain),
                       lpips=lpips, on_progress=on_progress)
    for note in inversion.notes:
        print(f"note: {note}")
    lp = "" if inversion.quality.lpips is None else f", LPIPS {inversion.quality.lpips:.3f}"
    print(f"inverted in {sum(inversion.seconds.values()):.1f} s: PSNR {inversion.quality.psnr:.2f} dB{lp} "
          f"({'face aligned' if inversion.aligned else 'plain region'})")

    size = inversion.frame.resolution  # the side of the model's square, where points now lie
    model_handles, model_targets = inversion.to_model(handles), inversion.to_model(targets)
    for photo_point, (x, y) in zip([*handles, *targets], [*model_handles, *model_targets], strict=True):
        if not inside_image((x, y), size, size):
            raise InvertInputError(f"point ({photo_point[0]:g}, {photo_point[1]:g}) lies outside the inverted "
                                   "region of the photo")
    mask = None if photo_mask is None else mask_to_model(photo_mask, inversion.frame)
    run = DragRun(inversion.generator, inversion.ws, model_handles, model_targets, mask, drag_options(args, info))
    recorder = Recorder(args, model_targets, max(1, 256 // size))  # frames show the edit region, model pixels
    result = run_to_the_end(run, args.steps, recorder.preview_every, recorder)

    edited = inversion.paste(photo, result.image)
    save_png(edited, out)
    strip = np.hstack([inversion.target, inversion.reconstruction, result.image])
    save_png(strip, out.with_name(out.stem + "_inversion.png"))
    final = inversion.to_photo(result.points)
    side_by_side(draw_points(photo, handles, targets), draw_points(edited, final, targets)).save(
        out.with_name(out.stem + "_before_after.png"))
    recorder.save_gif(result, out.with_suffix(".gif"))
    record = {
        "model": info.name, "image": str(args.image), "region": region, "handles": handles, "targets": targets,
        "inversion": {"psnr": inversion.quality.psnr, "lpips": inversion.quality.lpips,
                      "projection_psnr": inversion.projection_psnr, "aligned": inversion.aligned,
                      "notes": inversion.notes, "seconds": inversion.seconds, "transform": inversion.transform,
                      "edit_box": inversion.plan.box},
        **drag_record(run, result), "final_points": final,
        "trajectory": [inversion.to_photo(points) for points in result.trajectory],
    }
    out.with_suffix(".json").write_text(json.dumps(record, indent=1))
    distances = ", ".join(f"{math.dist(p, t):.1f}" for p, t in zip(final, targets, strict=True))
    print(f"{result.stopped} after {result.steps} steps; handles {distances} photo px from their targets; wrote {out}")
    return 0
