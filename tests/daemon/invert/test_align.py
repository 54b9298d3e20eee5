"""Face alignment: landmarks from the packaged dlib model, the similarity transforms, and the round trip."""

from __future__ import annotations

import numpy as np
import pytest
from dragd.daemon.invert import align
from dragd.daemon.invert.align import (
    FACES_128_CPU,
    NO_FACE,
    NO_LANDMARK_MODEL,
    FaceAlignment,
    LandmarksUnavailable,
    alignment_for,
    face_frame,
    face_points,
    find_landmarks,
    landmarks_available,
    similarity_fit,
)
from dragd.daemon.invert.pipeline import InversionOptions, choose_frame
from dragd.daemon.invert.region import warp_to_model, warp_to_photo
from dragd.daemon.models.stylegan2 import to_uint8_image
from photo_fixtures import photo
from PIL import Image

needs_dlib = pytest.mark.skipif(not landmarks_available(), reason="the optional extra dragd[faces] is not installed")


def _landmarks_at(points: np.ndarray) -> np.ndarray:
    """68 landmarks whose eye centres, nose tip and mouth (centre and corners) are the given 4 points."""
    lm = np.zeros((68, 2))
    lm[36:42], lm[42:48], lm[30], lm[48:68] = points[0], points[1], points[2], points[3]
    lm[48], lm[54] = points[3] - [10, 0], points[3] + [10, 0]
    return lm


def test_similarity_fit_recovers_a_known_transform():
    angle, scale = 0.2, 1.7
    m = np.array([[scale * np.cos(angle), -scale * np.sin(angle), 5.0],
                  [scale * np.sin(angle), scale * np.cos(angle), -3.0]])
    src = np.random.default_rng(0).uniform(0, 100, (6, 2))
    dst = src @ m[:, :2].T + m[:, 2]
    assert np.allclose(similarity_fit(src, dst), m)


def test_template_alignment_puts_the_face_points_on_the_template():
    rotation = np.array([[np.cos(0.3), -np.sin(0.3)], [np.sin(0.3), np.cos(0.3)]])
    photo_points = FACES_128_CPU.scaled(128) @ rotation.T * 2.5 + [300, 200]  # same face, turned and larger
    frame = face_frame(_landmarks_at(photo_points), FaceAlignment(FACES_128_CPU), 128)
    assert np.allclose(frame.to_model(face_points(_landmarks_at(photo_points))), FACES_128_CPU.scaled(128))
    assert frame.scale == pytest.approx(1 / 2.5)
    at_256 = face_frame(_landmarks_at(photo_points), FaceAlignment(FACES_128_CPU), 256)
    assert at_256.scale == pytest.approx(2 / 2.5)


def test_ffhq_rule_levels_the_eyes_and_centres_the_face():
    points = np.array([[100.0, 100.0], [160.0, 100.0], [130.0, 130.0], [130.0, 160.0]])
    frame = face_frame(_landmarks_at(points), FaceAlignment(None), 512)
    eyes = frame.to_model(points[:2])
    assert eyes[0, 1] == pytest.approx(eyes[1, 1])
    assert (eyes[0, 0] + eyes[1, 0]) / 2 == pytest.approx(255.5)
    assert frame.scale == pytest.approx(512 / (2 * 120))  # half side = max(2 * 60, 1.8 * 60)


def test_alignment_is_chosen_by_model():
    assert alignment_for("faces-128-cpu", "faces") == FaceAlignment(FACES_128_CPU)
    assert alignment_for("ffhq-512", "faces") == FaceAlignment(None)
    assert alignment_for("cats", "cats") is None


@needs_dlib
def test_landmarks_on_a_real_face_photo():
    astronaut = photo("astronaut.png")
    lm = find_landmarks(astronaut)
    assert lm is not None and lm.shape == (68, 2)
    eyes = face_points(lm)[:2]
    assert np.allclose(eyes, [[203, 101.5], [246.5, 104]], atol=4)  # where the eyes are, checked by eye
    assert find_landmarks(astronaut, within=(0, 300, 100, 100)) is None  # no face there
    mouth_only = find_landmarks(astronaut, within=(195, 130, 60, 20))
    # A selection of part of a face finds it (searched around the selection: the box may differ by a pixel).
    assert mouth_only is not None and np.allclose(mouth_only, lm, atol=2)
    assert find_landmarks(photo("chelsea.png")) is None  # a cat


@needs_dlib
def test_a_small_face_in_a_large_photo_is_found_around_the_region():
    """Shrunk to DETECT_MAX_SIDE, this 4000 px photo leaves the face ~20 px wide, too small for the detector (a
    whole-photo search finds nothing); the search around the selection sees it at full size."""
    small = np.asarray(Image.fromarray(photo("astronaut.png")).resize((384, 384), Image.BICUBIC))
    big = np.full((3000, 4000, 3), 120, np.uint8)
    big[1900:2284, 2700:3084] = small
    face = (2700 + 130, 1900 + 60, 110, 130)  # x, y, w, h around the face
    lm = find_landmarks(big, within=face)
    assert lm is not None
    eyes = face_points(lm)[:2] - [2700, 1900]
    assert np.allclose(eyes, np.array([[203, 101.5], [246.5, 104]]) * 0.75, atol=4)


@needs_dlib
@pytest.mark.parametrize(("alignment", "tolerance"), [(FaceAlignment(FACES_128_CPU), 2.5), (FaceAlignment(None), 4.0)])
def test_alignment_round_trip_returns_the_face(alignment, tolerance):
    """Align the face to the model's grid and back with no edit: the face region comes back, up to the
    resampling (mean absolute error in 8-bit levels; measured 1.7 and 3.1)."""
    astronaut = photo("astronaut.png")
    frame = face_frame(find_landmarks(astronaut), alignment, 128)
    model = to_uint8_image(warp_to_model(astronaut, frame))
    box = (180, 80, 90, 70)  # eyes, nose and mouth
    back = warp_to_photo(model, frame, box)
    x, y, w, h = box
    error = np.abs(back - astronaut[y:y + h, x:x + w].astype(np.float64)).mean()
    assert error < tolerance


@needs_dlib
def test_no_face_means_the_plain_region_and_a_note():
    cat = photo("chelsea.png")
    frame, aligned, notes = choose_frame(cat, (0, 0, 451, 300), True, 128, FaceAlignment(FACES_128_CPU),
                                         InversionOptions())
    assert not aligned and notes == [NO_FACE]
    assert frame.footprint(451, 300) == (0, 0, 451, 300)


def test_without_the_landmark_model_the_plain_region_is_used(monkeypatch):
    def missing():
        raise LandmarksUnavailable(NO_LANDMARK_MODEL)

    monkeypatch.setattr(align, "_dlib_models", missing)
    frame, aligned, notes = choose_frame(np.zeros((64, 64, 3), np.uint8), (0, 0, 64, 64), True, 64,
                                         FaceAlignment(None), InversionOptions())
    assert not aligned and notes == [NO_LANDMARK_MODEL]
    assert np.allclose(frame.matrix, [[1, 0, 0], [0, 1, 0]])
