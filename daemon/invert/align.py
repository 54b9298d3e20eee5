"""Face alignment: find a face's landmarks and the similarity transform that puts it where the model expects.

Landmarks come from dlib's 68-point predictor, shipped as data by the `face_recognition_models` package
(PyPI) and loaded by `dlib` (PyPI `dlib-bin`); both are the optional extra `faces`. Nothing is downloaded
at run time. Without them, or when no face is found, the caller falls back to the plain region and says so.

Two alignments exist:
- a template: the mean landmark positions of the model's training faces (eye centres, nose tip, mouth
  centre), fitted by least squares. Used for models that say where their faces sit (faces-128-cpu).
- FFHQ's rule (Karras et al. 2019, used by every FFHQ-trained model): an oriented square built from the eye
  and mouth centres. Used for other face models.
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from .region import Frame, Rect

NO_LANDMARK_MODEL = ("face alignment is not installed: using the plain region (run the dragd installer again to add "
                     "it; `dragd doctor` tells)")
NO_FACE = "no face found in the region: using the plain region"

# dlib 68-point indices.
LEFT_EYE = slice(36, 42)  # the eye on the image's left
RIGHT_EYE = slice(42, 48)
NOSE_TIP = 30
MOUTH = slice(48, 68)
MOUTH_LEFT, MOUTH_RIGHT = 48, 54
DETECT_MAX_SIDE = 800  # the detector runs on a copy no larger than this (it is slow on big photos)
DETECT_CONTEXT = 2.0  # a region is searched with this many of its longer sides around it, then the whole photo


class LandmarksUnavailable(RuntimeError):
    """dlib or its landmark model is not installed."""


@dataclass(frozen=True)
class FaceTemplate:
    """Where a model's faces sit: eye centres, nose tip, mouth centre in pixels at `resolution`."""

    points: tuple[tuple[float, float], ...]
    resolution: int

    def scaled(self, resolution: int) -> np.ndarray:
        # Pixel centres scale about the image's edge: c' + 0.5 = (c + 0.5) * k.
        k = resolution / self.resolution
        return (np.array(self.points) + 0.5) * k - 0.5


# Measured on the training faces of faces-128-cpu (its README: mean dlib positions on 390 faces).
FACES_128_CPU = FaceTemplate(((38.4, 38.1), (87.5, 38.2), (62.7, 65.1), (62.9, 88.6)), 128)
TEMPLATES: dict[str, FaceTemplate] = {"faces-128-cpu": FACES_128_CPU}


@dataclass(frozen=True)
class FaceAlignment:
    """How a face model wants its faces placed: a template, or FFHQ's rule when `template` is None."""

    template: FaceTemplate | None = None


def alignment_for(model_name: str, domain: str) -> FaceAlignment | None:
    """The alignment a model was trained with; None for models that are not of faces."""
    if model_name in TEMPLATES:
        return FaceAlignment(TEMPLATES[model_name])
    return FaceAlignment(None) if domain == "faces" else None


# --- landmarks ----------------------------------------------------------------------------------------------


def _predictor_path() -> Path | None:
    # face_recognition_models' own __init__ needs pkg_resources; only its data file is wanted, so find the
    # package folder without importing it.
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / "shape_predictor_68_face_landmarks.dat"
    return path if path.is_file() else None


@lru_cache(maxsize=1)
def _dlib_models():
    try:
        import dlib
    except ImportError:
        raise LandmarksUnavailable(NO_LANDMARK_MODEL) from None
    path = _predictor_path()
    if path is None:
        raise LandmarksUnavailable(NO_LANDMARK_MODEL)
    return dlib.get_frontal_face_detector(), dlib.shape_predictor(str(path)), dlib.rectangle


def landmarks_available() -> bool:
    try:
        _dlib_models()
    except LandmarksUnavailable:
        return False
    return True


def _search_areas(within: Rect | None, width: int, height: int) -> list[Rect]:
    """Where to look for the face: around the region (grown by DETECT_CONTEXT of its longer side, so a small
    face in a large photo keeps enough pixels when shrunk to DETECT_MAX_SIDE), then the whole photo."""
    whole = (0, 0, width, height)
    if within is None:
        return [whole]
    x, y, w, h = within
    grow = DETECT_CONTEXT * max(w, h)
    x0, y0 = max(0, math.floor(x - grow)), max(0, math.floor(y - grow))
    x1, y1 = min(width, math.ceil(x + w + grow)), min(height, math.ceil(y + h + grow))
    around = (x0, y0, x1 - x0, y1 - y0)
    return [around] if around == whole else [around, whole]


def _faces(detector, rgb: np.ndarray, area: Rect) -> list[tuple[float, float, float, float]]:
    """Face boxes (left, top, right, bottom in photo pixels) found in `area`, searched on a copy shrunk (area
    averaged) to at most DETECT_MAX_SIDE: the detector's time grows with the pixels it scans."""
    import cv2

    x, y, w, h = area
    crop = rgb[y:y + h, x:x + w, :3]
    scale = max(1.0, max(w, h) / DETECT_MAX_SIDE)
    if scale > 1:
        crop = cv2.resize(crop, (max(1, round(w / scale)), max(1, round(h / scale))), interpolation=cv2.INTER_AREA)
    sx, sy = w / crop.shape[1], h / crop.shape[0]
    return [(x + f.left() * sx, y + f.top() * sy, x + f.right() * sx, y + f.bottom() * sy)
            for f in detector(np.ascontiguousarray(crop), 1)]


def find_landmarks(rgb: np.ndarray, within: Rect | None = None) -> np.ndarray | None:
    """68 x 2 landmarks (photo pixels) of the face that overlaps `within` most (largest face when None).

    Raises LandmarksUnavailable when dlib or its model is missing.
    """
    detector, predictor, rectangle = _dlib_models()
    height, width = rgb.shape[:2]
    best, best_area = None, 0.0
    for area in _search_areas(within, width, height):
        for left, top, right, bottom in _faces(detector, rgb, area):
            if within is None:
                overlap = (right - left) * (bottom - top)
            else:  # the overlap with the region: a selection of just the mouth still finds its face
                x, y, w, h = within
                overlap = max(0, min(right, x + w) - max(left, x)) * max(0, min(bottom, y + h) - max(top, y))
            if overlap > best_area:
                best, best_area = (left, top, right, bottom), overlap
        if best is not None:
            break
    if best is None:
        return None
    # The 68 points, on the face and a margin of the full-resolution photo (no copy of the whole photo).
    left, top, right, bottom = best
    margin = right - left
    x0, y0 = max(0, math.floor(left - margin)), max(0, math.floor(top - margin))
    x1, y1 = min(width, math.ceil(right + margin)), min(height, math.ceil(bottom + margin))
    crop = np.ascontiguousarray(rgb[y0:y1, x0:x1, :3])
    shape = predictor(crop, rectangle(*(round(v) for v in (left - x0, top - y0, right - x0, bottom - y0))))
    return np.array([(p.x + x0, p.y + y0) for p in shape.parts()], dtype=np.float64)


# --- transforms --------------------------------------------------------------------------------------------


def face_points(landmarks: np.ndarray) -> np.ndarray:
    """Eye centres, nose tip, mouth centre: the template's four points."""
    return np.stack([landmarks[LEFT_EYE].mean(0), landmarks[RIGHT_EYE].mean(0), landmarks[NOSE_TIP],
                     landmarks[MOUTH].mean(0)])


def similarity_fit(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 2 x 3 similarity (no reflection) mapping src points onto dst with least squared error."""
    # Write the map as [a -b; b a] p + t and solve the linear least-squares problem in (a, b, tx, ty).
    rows, rhs = [], []
    for (x, y), (u, v) in zip(src, dst, strict=True):
        rows += [[x, -y, 1, 0], [y, x, 0, 1]]
        rhs += [u, v]
    a, b, tx, ty = np.linalg.lstsq(np.array(rows), np.array(rhs), rcond=None)[0]
    return np.array([[a, -b, tx], [b, a, ty]])


def template_frame(landmarks: np.ndarray, template: FaceTemplate, resolution: int) -> Frame:
    return Frame(similarity_fit(face_points(landmarks), template.scaled(resolution)), resolution)


def ffhq_frame(landmarks: np.ndarray, resolution: int) -> Frame:
    """FFHQ's alignment: a square centred a little below the eyes, oriented by the eye line and the
    eye-to-mouth direction, with half-side max(2 |eye to eye|, 1.8 |eye to mouth|)."""
    eye_left, eye_right = landmarks[LEFT_EYE].mean(0), landmarks[RIGHT_EYE].mean(0)
    eye_avg = (eye_left + eye_right) / 2
    mouth_avg = (landmarks[MOUTH_LEFT] + landmarks[MOUTH_RIGHT]) / 2
    eye_to_eye, eye_to_mouth = eye_right - eye_left, mouth_avg - eye_avg
    # The x axis blends the eye line with the eye-to-mouth direction turned a quarter turn anticlockwise
    # (for an upright face, (d, 0) and (0, m) give (d + m, 0)).
    x_axis = eye_to_eye + np.array([eye_to_mouth[1], -eye_to_mouth[0]])
    x_axis /= np.hypot(*x_axis)
    half = max(np.hypot(*eye_to_eye) * 2.0, np.hypot(*eye_to_mouth) * 1.8)
    y_axis = np.array([-x_axis[1], x_axis[0]])
    centre = eye_avg + eye_to_mouth * 0.1
    # The photo point centre + half (xi x_axis + eta y_axis), xi, eta in [-1, 1], lands on the model's edge
    # coordinate (xi + 1) R / 2, i.e. its pixel centre coordinate (xi + 1) R / 2 - 0.5.
    k = resolution / (2 * half)
    linear = k * np.stack([x_axis, y_axis])  # rows: model x, model y
    offset = resolution / 2 - 0.5 - linear @ centre
    return Frame(np.hstack([linear, offset[:, None]]), resolution)


def face_frame(landmarks: np.ndarray, alignment: FaceAlignment, resolution: int) -> Frame:
    if alignment.template is not None:
        return template_frame(landmarks, alignment.template, resolution)
    return ffhq_frame(landmarks, resolution)
