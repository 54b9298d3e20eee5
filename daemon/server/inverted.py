"""Sessions opened from a user's image (`open_session`): the GAN inversion and the layer frame it leaves behind.

A generated session's frame is the model's own picture (`sessions.ModelFrame`). An opened session's frame is
the user's layer: `LayerFrame` maps points and masks from layer pixels into the model's square with the
inversion's transform, maps tracked points back, and turns every image the generator makes into the paste-back
patch (the edit region, `offset` in the layer). The patch equals the layer byte for byte wherever the paste
weight is zero, so a client that pastes it into its layer changes nothing outside the selection grown by the
feather. A grey layer (`images.is_grey`) gets grey patches: the model's colour never lands in it. The frame owns
the session's tuned generator copy, which is freed with the session.

Everything inversion-specific in the daemon lives here; `jobs.py` only calls `invert_layer` and the frame.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ...protocol import messages as m
from ...protocol.errors import DragdError, ErrorCode
from ..engine.drag import inside_image
from ..images import Photo, is_grey
from ..invert.align import alignment_for
from ..invert.lpips import LpipsVgg
from ..invert.motion import content_positions, content_sources, estimate_motion
from ..invert.paste import PastePlan, paste_back
from ..invert.pipeline import Inversion, InversionCancelled, InversionOptions, invert
from ..invert.project import ProjectionOptions
from ..invert.pti import TuningOptions
from ..invert.region import Frame, InvertInputError, check_inputs, mask_to_model
from ..models.stylegan2 import Generator
from .config import InversionSteps
from .models import LoadedModel

Point = tuple[float, float]


def generator_bytes(generator: Generator) -> int:
    return sum(t.numel() * t.element_size() for t in (*generator.parameters(), *generator.buffers()))


class LayerFrame:
    """An opened session's frame: the user's layer (width x height), of which the model sees one square."""

    def __init__(self, inversion: Inversion, original: np.ndarray) -> None:
        self.generator = inversion.generator  # the session-local tuned copy
        self.frame = inversion.frame
        self.reference = inversion.reconstruction  # G0: every edit is measured from the pivot's image
        self.width, self.height = inversion.plan.photo_size
        x, y, w, h = self.box = inversion.plan.box
        # Only the pixels the model square covers are kept (with their alpha): the paste writes the edit region
        # and carries pixels from anywhere the motion can reach, which is inside the square. The frame and plan
        # are moved to that crop so `paste_back` works on it as on a whole layer.
        fx, fy, fw, fh = inversion.frame.footprint(self.width, self.height) or self.box
        cx0, cy0 = min(fx, x), min(fy, y)
        cx1, cy1 = max(fx + fw, x + w), max(fy + fh, y + h)
        self._crop_origin = (cx0, cy0)
        self._original = np.ascontiguousarray(original[cy0:cy1, cx0:cx1])
        shifted = inversion.frame.matrix.copy()
        shifted[:, 2] += inversion.frame.matrix[:, :2] @ np.array([cx0, cy0], dtype=np.float64)
        self._local_frame = Frame(shifted, inversion.frame.resolution)
        self._local_plan = PastePlan((x - cx0, y - cy0, w, h), inversion.plan.alpha, (cx1 - cx0, cy1 - cy0),
                                     inversion.plan.mode)
        colour, alpha = original[..., :3], original[..., 3] if original.shape[2] == 4 else None
        self.grey = is_grey(colour, alpha)

    def saved(self) -> tuple[dict[str, np.ndarray], dict[str, object]]:
        """What `restored` needs besides the generator: arrays and plain values (server/persist.py)."""
        arrays = {"original": self._original, "alpha": self._local_plan.alpha, "matrix": self.frame.matrix,
                  "reference": self.reference}
        plan = self._local_plan
        return arrays, {"resolution": self.frame.resolution, "photo_size": [self.width, self.height],
                        "box": list(self.box), "crop_origin": list(self._crop_origin), "plan_box": list(plan.box),
                        "plan_size": list(plan.photo_size), "mode": plan.mode, "grey": bool(self.grey)}

    @classmethod
    def restored(cls, generator: Generator, arrays: dict[str, np.ndarray], values: dict) -> LayerFrame:
        """A frame as `saved` described it, around `generator` (the session's tuned copy, rebuilt)."""
        frame = cls.__new__(cls)
        frame.generator = generator
        frame.frame = Frame(arrays["matrix"], int(values["resolution"]))
        frame.reference = arrays["reference"]
        frame.width, frame.height = (int(v) for v in values["photo_size"])
        frame.box = tuple(int(v) for v in values["box"])
        cx0, cy0 = frame._crop_origin = tuple(int(v) for v in values["crop_origin"])
        frame._original = np.ascontiguousarray(arrays["original"])
        shifted = frame.frame.matrix.copy()
        shifted[:, 2] += frame.frame.matrix[:, :2] @ np.array([cx0, cy0], dtype=np.float64)
        frame._local_frame = Frame(shifted, frame.frame.resolution)
        frame._local_plan = PastePlan(tuple(int(v) for v in values["plan_box"]), arrays["alpha"],
                                      tuple(int(v) for v in values["plan_size"]), values["mode"])
        frame.grey = bool(values["grey"])
        return frame

    def extra_bytes(self) -> int:
        return (generator_bytes(self.generator) + self._original.nbytes + self._local_plan.alpha.nbytes
                + self.reference.nbytes)

    def to_model(self, points: Sequence[Point]) -> list[Point]:
        """Layer pixel centres -> model pixel centres; a point outside the layer or the inverted square is an
        error the user can act on."""
        res = self.frame.resolution
        mapped = [(float(x), float(y)) for x, y in self.frame.to_model(np.array(points, dtype=np.float64))]
        for (x, y), (mx, my) in zip(points, mapped, strict=True):
            if not inside_image((x, y), self.width, self.height):
                raise DragdError(ErrorCode.BAD_REQUEST, f"point ({x:g}, {y:g}) is outside the "
                                                        f"{self.width}x{self.height} layer")
            if not inside_image((mx, my), res, res):
                raise DragdError(ErrorCode.BAD_REQUEST, f"point ({x:g}, {y:g}) lies outside the part of the "
                                                        "layer the session was opened on; select around it and "
                                                        "open the layer again")
        return mapped

    def to_frame(self, points: Sequence[Point]) -> list[Point]:
        return [(float(x), float(y)) for x, y in self.frame.to_photo(np.array(points, dtype=np.float64))]

    def final_points(self, before: np.ndarray, after: np.ndarray, handles: Sequence[Point],
                     tracked: Sequence[Point]) -> list[Point]:
        """Where the layer's content at each handle (layer px, as the layer showed `before` pasted) lies once
        `after` is pasted: measured from the paste's own motion, not the tracker's positions (`tracked`, model
        px, unused), which follow features in the model's picture and may claim more than the layer shows.
        Carry paste: both states are measured from the pivot's image, so the handle's content is traced back to
        the layer's own pixels (`content_sources`) and forward to where the new paste puts them
        (`content_positions`). Reconstruction paste: the motion between the two pictures."""
        if self._local_plan.mode == "reconstruction":
            return content_positions(estimate_motion(before, after), self.frame, handles)
        sources = list(handles) if np.array_equal(before, self.reference) else content_sources(
            estimate_motion(self.reference, before), self.frame, handles)
        return content_positions(estimate_motion(self.reference, after), self.frame, sources)

    def mask_to_model(self, movable: np.ndarray) -> np.ndarray:
        if movable.shape != (self.height, self.width):
            raise DragdError(ErrorCode.BAD_REQUEST, f"the mask is {movable.shape[1]}x{movable.shape[0]}, the "
                                                    f"session's layer {self.width}x{self.height}")
        return mask_to_model(movable, self.frame)

    def patch(self, model_rgb: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
        """The edit region of the layer with `model_rgb` pasted back (RGBA or RGB as the layer came), and where
        its top-left pixel lies in the layer."""
        pasted = paste_back(self._original, self.reference, model_rgb, self._local_frame, self._local_plan)
        if self.grey:  # the change as grey, added to the layer's own pixels (as for a grey photo file)
            layer = Photo(self._original, self._original, True, None, ())
            pasted = layer.result(pasted, (self._local_plan.box, self._local_plan.alpha))
        x, y, w, h = self._local_plan.box
        return np.ascontiguousarray(pasted[y:y + h, x:x + w]), (self.box[0], self.box[1])


@dataclass
class OpenedLayer:
    """What `open_session` answers with, besides the session id and the image."""

    frame: LayerFrame
    ws: torch.Tensor
    reconstruction: np.ndarray  # R x R x 3: the tuned generator's image of ws
    quality: m.Quality
    transform: m.Transform
    notes: tuple[str, ...]


def inversion_options(request: m.InversionOptions, defaults: InversionSteps) -> InversionOptions:
    def pick(value: int | None, default: int) -> int:
        return default if value is None else value

    return InversionOptions(
        ProjectionOptions(w_steps=pick(request.w_steps, defaults.w), wplus_steps=pick(request.wplus_steps,
                                                                                       defaults.wplus)),
        TuningOptions(steps=pick(request.tuning_steps, defaults.tuning)), align=request.align,
        feather=request.feather, paste=request.paste)


def check_layer(layer: np.ndarray, region: tuple[int, int, int, int] | None, mask: np.ndarray | None) -> None:
    """What the layer's size alone tells (`region.check_inputs`), asked before the model is loaded: a layer
    too small, or a mask that selects nothing, is `bad_request` at once."""
    try:
        check_inputs(layer.shape[1], layer.shape[0], region, mask)
    except InvertInputError as exc:
        raise DragdError(ErrorCode.BAD_REQUEST, str(exc)) from None


def invert_layer(model: LoadedModel, layer: np.ndarray, region: tuple[int, int, int, int] | None,
                 mask: np.ndarray | None, options: InversionOptions, lpips: LpipsVgg | None,
                 on_progress: Callable[[str, int, int], None], should_stop: Callable[[], bool]) -> OpenedLayer:
    """Inverts `region` of `layer` (H x W x 4 uint8; default the mask's bounds, else all of it) into a tuned
    copy of the model's generator. `mask` (H x W, the selection: bool, or uint8 0-255 for a feathered one)
    limits where edits may land and weights them."""
    try:
        inversion = invert(model.generator, layer, region, mask, options,
                           alignment=alignment_for(model.info.name, model.info.domain), lpips=lpips,
                           on_progress=on_progress, should_stop=should_stop)
    except InversionCancelled as exc:
        raise DragdError(ErrorCode.CANCELLED, str(exc)) from None
    except InvertInputError as exc:
        raise DragdError(ErrorCode.BAD_REQUEST, str(exc)) from None
    stages = ", ".join(f"{stage} {seconds:.1f}" for stage, seconds in inversion.seconds.items())
    how = "face aligned" if inversion.aligned else "plain region"
    notes = (*inversion.notes, f"{how}; inverted in {sum(inversion.seconds.values()):.1f} s ({stages} s)")
    return OpenedLayer(LayerFrame(inversion, layer), inversion.ws, inversion.reconstruction,
                       m.Quality(inversion.quality.psnr, inversion.quality.lpips), m.Transform(inversion.transform),
                       notes)
