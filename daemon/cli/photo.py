"""`dragd drag --image PHOTO`: invert a photo (or a region of it), drag there, paste the edit back.

Points, region and mask are in photo pixels, as viewers show the photo (EXIF orientation applied). Writes OUT
(photo-sized, upright, of the photo's kind and depth, equal to the photo outside the edit region; see
`daemon/images.py`), OUT_inversion.png (what the model saw | its reconstruction | the edit), OUT_before_after.png
(the photo with arrows from the handles to the targets | the result with arrows from where the handles' content
lies now, measured, to the targets), OUT.json, and with --gif OUT.gif (the edit region as the model sees it).
What is reported is what the user gets: the motion of the photo's content at each handle, measured from the
optical flow the paste moves the photo by (`motion.content_positions`); the drag's tracker (which follows
features in the model's picture) is reported beside it, labelled as such.
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

Point = tuple[float, float]


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


MEASURED = ("where the content at each handle lies in the result, measured by the optical flow between the model's "
            "picture before and after the drag (the motion the carry paste moves the photo by), photo px")


def _px(values: list[float]) -> str:
    return ", ".join(f"{v:.1f}" for v in values)


def content_report(handles: list[Point], targets: list[Point], moved: list[Point], tracked: list[Point]) -> str:
    """What the user got, in words: how far the photo's content at the handles moved (measured, `moved`) of
    the distance asked, how far it lies from the targets, and, labelled as such, the drag's own tracker."""
    asked = [math.dist(h, t) for h, t in zip(handles, targets, strict=True)]
    went = [math.dist(h, p) for h, p in zip(handles, moved, strict=True)]
    left = [math.dist(p, t) for p, t in zip(moved, targets, strict=True)]
    tracker = [math.dist(p, t) for p, t in zip(tracked, targets, strict=True)]
    return (f"measured in the result, the photo's content at the handles moved {_px(went)} px of the "
            f"{_px(asked)} px asked and lies {_px(left)} px from the targets (the drag's tracker, in the model's "
            f"picture, puts the handles {_px(tracker)} px from them)")


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
    from ..invert.motion import content_positions, estimate_motion
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
    # 8-bit sRGB for the pictures; the file gets the photo's own kind, with carried content read from the file
    edited, carried = inversion.paste_carried(photo.working, result.image)
    write_photo(photo.result(edited, (inversion.plan.box, inversion.plan.alpha), carried), out, photo.icc)
    strip = np.hstack([inversion.target, inversion.reconstruction, result.image])
    save_png(strip, out.with_name(out.stem + "_inversion.png"))
    motion = carried.motion if carried is not None else estimate_motion(inversion.reconstruction, result.image)
    moved = content_positions(motion, inversion.frame, handles)  # where the handles' content lies now
    side_by_side(draw_points(photo.working, handles, targets), draw_points(edited, moved, targets)).save(
        out.with_name(out.stem + "_before_after.png"))
    recorder.save_gif(result, out.with_suffix(".gif"))
    tracked = inversion.to_photo(result.points)
    record = {
        "model": info.name, "image": str(args.image), "region": region, "handles": handles, "targets": targets,
        "photo": {"read_as": photo.describe(), "notes": list(photo.notes)},
        "inversion": {"psnr": inversion.quality.psnr, "lpips": inversion.quality.lpips,
                      "projection_psnr": inversion.projection_psnr, "aligned": inversion.aligned,
                      "notes": inversion.notes, "seconds": inversion.seconds, "transform": inversion.transform,
                      "edit_box": inversion.plan.box, "paste": inversion.plan.mode},
        **drag_record(run, result),
        "final_points": moved, "final_points_are": MEASURED, "tracked_points": tracked,
        "moved_px": [math.dist(h, p) for h, p in zip(handles, moved, strict=True)],
        "asked_px": [math.dist(h, t) for h, t in zip(handles, targets, strict=True)],
        "trajectory": [inversion.to_photo(points) for points in result.trajectory],
    }
    out.with_suffix(".json").write_text(json.dumps(record, indent=1))
    print(f"{result.stopped} after {result.steps} steps; {content_report(handles, targets, moved, tracked)}; "
          f"wrote {out}")
    return 0
