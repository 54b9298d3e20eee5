"""`dragd drag --image PHOTO`: invert a photo (or a region of it), drag there, paste the edit back.

Points, region and mask are in photo pixels, as viewers show the photo (EXIF orientation applied). Writes OUT
(photo-sized, upright, of the photo's kind and depth, equal to the photo outside the edit region; see
`daemon/images.py`), OUT_inversion.png (what the model saw | its reconstruction | the edit), OUT_before_after.png
(the photo and the result, points drawn), OUT.json, and with --gif OUT.gif (the edit region as the model sees it).
No latent .npy: a photo's latent means nothing without the generator tuned to that photo. `--paste` picks how
the edit lands (the default carries the photo's own pixels along the edit; see daemon/invert/motion.py).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
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
                            **given(align=args.align, feather=args.feather, paste=args.paste))


def drag_photo(args: argparse.Namespace) -> int:
    out = check_out(args.out, (args.image, args.mask, args.model))
    handles, targets = parse_points(args.points)
    region = parse_region(args.region)
    check_file(args.image, "image")
    if args.mask:
        check_file(args.mask, "mask")
    from ..images import draw_points, load_mask, read_photo, save_png, side_by_side, write_photo
    from ..invert.region import check_inputs

    started = time.perf_counter()
    photo = read_photo(args.image)
    print(f"read {args.image}: {photo.describe()} in {time.perf_counter() - started:.1f} s")
    for note in photo.notes:
        print(f"note: {note}")
    height, width = photo.pixels.shape[:2]
    photo_mask = load_mask(args.mask, height, width) if args.mask else None
    check_inputs(width, height, region, photo_mask, [*handles, *targets])  # before torch and the model load
    announce("dragd: starting torch and loading the model ...")
    import numpy as np  # after every check that needs no torch: the imports below take seconds

    from ..engine.drag import DragRun
    from ..invert.align import alignment_for
    from ..invert.lpips import LpipsWeightsError, load_lpips
    from ..invert.pipeline import invert
    from ..invert.region import mask_to_model

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

    # The points are checked against the model's square before the projection starts.
    inversion = invert(generator, photo.working, region, None, options,
                       alignment=alignment_for(info.name, info.domain), lpips=lpips, on_progress=on_progress,
                       points=[*handles, *targets])
    for note in inversion.notes:
        print(f"note: {note}")
    lp = "" if inversion.quality.lpips is None else f", LPIPS {inversion.quality.lpips:.3f}"
    print(f"inverted in {sum(inversion.seconds.values()):.1f} s: PSNR {inversion.quality.psnr:.2f} dB{lp} "
          f"({'face aligned' if inversion.aligned else 'plain region'})")

    size = inversion.frame.resolution  # the side of the model's square, where points now lie
    model_handles, model_targets = inversion.to_model(handles), inversion.to_model(targets)
    mask = None if photo_mask is None else mask_to_model(photo_mask, inversion.frame)
    run = DragRun(inversion.generator, inversion.ws, model_handles, model_targets, mask, drag_options(args, info))
    recorder = Recorder(args, model_targets, max(1, 256 // size))  # frames show the edit region, model pixels
    result = run_to_the_end(run, args.steps, recorder.preview_every, recorder)

    print(f"writing {out}", file=sys.stderr)
    edited = inversion.paste(photo.working, result.image)  # 8-bit sRGB; the file gets the photo's own kind
    write_photo(photo.result(edited, (inversion.plan.box, inversion.plan.alpha)), out, photo.icc)
    strip = np.hstack([inversion.target, inversion.reconstruction, result.image])
    save_png(strip, out.with_name(out.stem + "_inversion.png"))
    final = inversion.to_photo(result.points)
    side_by_side(draw_points(photo.working, handles, targets), draw_points(edited, final, targets)).save(
        out.with_name(out.stem + "_before_after.png"))
    recorder.save_gif(result, out.with_suffix(".gif"))
    record = {
        "model": info.name, "image": str(args.image), "region": region, "handles": handles, "targets": targets,
        "photo": {"read_as": photo.describe(), "notes": list(photo.notes)},
        "inversion": {"psnr": inversion.quality.psnr, "lpips": inversion.quality.lpips,
                      "projection_psnr": inversion.projection_psnr, "aligned": inversion.aligned,
                      "notes": inversion.notes, "seconds": inversion.seconds, "transform": inversion.transform,
                      "edit_box": inversion.plan.box, "paste": inversion.plan.mode},
        **drag_record(run, result), "final_points": final,
        "trajectory": [inversion.to_photo(points) for points in result.trajectory],
    }
    out.with_suffix(".json").write_text(json.dumps(record, indent=1))
    distances = ", ".join(f"{math.dist(p, t):.1f}" for p, t in zip(final, targets, strict=True))
    print(f"{result.stopped} after {result.steps} steps; handles {distances} photo px from their targets; wrote {out}")
    return 0
