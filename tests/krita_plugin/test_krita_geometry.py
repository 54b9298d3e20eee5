"""Reading drag lines from Krita's shape SVG, and writing them back (krita_plugin/geometry.py)."""

from __future__ import annotations

import math

import pytest
from dragd.krita_plugin import geometry
from dragd.krita_plugin.geometry import SvgError
from hypothesis import given
from hypothesis import strategies as st

# What Krita 5.1 returns from Shape.toSvg() for a line drawn from (10, 20) pt to (50, 60) pt.
KRITA_LINE = ('<path id="shape0" transform="translate(10, 20)" fill="none" stroke="#ff0000" stroke-width="1" '
              'stroke-linecap="butt" stroke-linejoin="miter" stroke-miterlimit="2" d="M0 0L40 40" '
              'sodipodi:nodetypes="cc"/>')


def test_a_krita_line_reads_in_document_pixels() -> None:
    assert geometry.shape_nodes_in_pixels(KRITA_LINE, 72.0, 72.0) == [(10.0, 20.0), (50.0, 60.0)]
    nodes = geometry.shape_nodes_in_pixels(KRITA_LINE, 96.0, 300.0)  # points -> pixels per axis
    assert nodes == [pytest.approx((10 * 96 / 72, 20 * 300 / 72)), pytest.approx((50 * 96 / 72, 60 * 300 / 72))]


@pytest.mark.parametrize(("d", "nodes"), [
    ("M0 0L40 40", [(0, 0), (40, 40)]),
    ("M 1,2 3,4 5,6", [(1, 2), (3, 4), (5, 6)]),  # numbers after a moveto are linetos
    ("m1 2 l3 4 l-1-1", [(1, 2), (4, 6), (3, 5)]),  # relative, numbers glued by their signs
    ("M1 1H5V7h-2v-1", [(1, 1), (5, 1), (5, 7), (3, 7), (3, 6)]),
    ("M0 0C1 1 2 2 3 3S5 5 6 6Q7 7 8 8T9 9", [(0, 0), (3, 3), (6, 6), (8, 8), (9, 9)]),  # control points skipped
    ("M0 0A5 5 0 0 1 10 0", [(0, 0), (10, 0)]),
    ("M1 1L2 2Zm1 1l1 0", [(1, 1), (2, 2), (2, 2), (3, 2)]),  # after Z, a relative move starts at the start
    ("M1e1 .5L-2.5e-1 3", [(10, 0.5), (-0.25, 3)]),
])
def test_path_nodes(d: str, nodes: list[tuple[float, float]]) -> None:
    assert geometry.path_nodes(d) == [pytest.approx(n) for n in nodes]


@pytest.mark.parametrize("d", ["L1 2", "M1", "M1 2 3", "M1 2 Z 3", "M1 2 X3 4", "M1 2 L3 nan"])
def test_unreadable_paths_are_refused(d: str) -> None:
    with pytest.raises(SvgError):
        geometry.path_nodes(d)


@pytest.mark.parametrize(("transform", "point", "expected"), [
    ("", (1, 2), (1, 2)),
    ("translate(10, 20)", (1, 2), (11, 22)),
    ("translate(5)", (1, 2), (6, 2)),
    ("scale(2)", (1, 2), (2, 4)),
    ("scale(2, 3)", (1, 2), (2, 6)),
    ("rotate(90)", (1, 0), (0, 1)),
    ("rotate(180, 1, 1)", (2, 1), (0, 1)),
    ("matrix(1 0 0 1 7 8)", (1, 2), (8, 10)),
    ("translate(10,0) scale(2)", (1, 1), (12, 2)),  # the rightmost applies first
    ("skewX(45)", (0, 1), (1, 1)),
])
def test_transforms(transform: str, point: tuple[float, float], expected: tuple[float, float]) -> None:
    assert geometry.apply(geometry.parse_transform(transform), point) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("transform", ["translate(1, 2", "perspective(3)", "scale(1, 2, 3)", "junk"])
def test_unreadable_transforms_are_refused(transform: str) -> None:
    with pytest.raises(SvgError):
        geometry.parse_transform(transform)


def test_shapes_that_are_not_paths_are_refused() -> None:
    with pytest.raises(SvgError):
        geometry.shape_nodes_in_pixels('<rect x="1" y="2" width="3" height="4"/>', 72, 72)
    with pytest.raises(SvgError):
        geometry.shape_nodes_in_pixels("no svg here", 72, 72)


coordinate = st.floats(-1000, 1000, allow_nan=False)


@given(st.lists(st.tuples(coordinate, coordinate), min_size=2, max_size=5), st.sampled_from([72.0, 96.0, 300.0]),
       st.sampled_from([72.0, 150.0]))
def test_a_written_line_reads_back_as_the_same_pixels(nodes, x_res, y_res) -> None:
    svg = geometry.line_svg(nodes, 128, 96, x_res, y_res)
    element = svg[svg.index("<path"):]
    back = geometry.shape_nodes_in_pixels(element, x_res, y_res)
    assert len(back) == len(nodes)
    for (x, y), (bx, by) in zip(nodes, back, strict=True):
        assert math.isclose(x, bx, abs_tol=1e-3 * x_res / 72) and math.isclose(y, by, abs_tol=1e-3 * y_res / 72)


def test_a_rewritten_line_keeps_the_users_stroke_but_not_its_id_or_transform() -> None:
    svg = geometry.line_svg([(1, 2), (3, 4)], 10, 10, 72, 72, geometry.shape_style(KRITA_LINE))
    attributes = geometry.element_attributes(svg[svg.index("<path"):])
    assert attributes["stroke"] == "#ff0000" and attributes["stroke-width"] == "1"
    assert "id" not in attributes and "transform" not in attributes and "sodipodi:nodetypes" not in attributes
    assert 'width="10.0000pt"' in svg and 'viewBox="0 0 10.0000 10.0000"' in svg


def test_style_values_are_escaped() -> None:
    svg = geometry.line_svg([(0, 0), (1, 1)], 4, 4, 72, 72, {"stroke": 'x" onload="y'})
    assert 'stroke="x&quot; onload=&quot;y"' in svg


def test_units() -> None:
    assert geometry.points_to_pixels((72, 36), 300, 96) == (300, 48)
    assert geometry.pixels_to_points((300, 48), 300, 96) == (72, 36)
