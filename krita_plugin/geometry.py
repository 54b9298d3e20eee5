"""The drag lines on Krita's "DragGAN points" vector layer, as SVG text, and their units.

Krita hands out each vector shape as an SVG element (`Shape.toSvg()`): a `transform` attribute plus a path
`d`, both in points (1/72 inch), origin at the document's top-left corner. The plugin wants each line's nodes
in document pixels with the same corner origin (`protocol.editor.pair_polylines` takes those and moves them to
the protocol's pixel-centre origin). Pure Python, no Krita: the adapter feeds it Krita's strings.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

Point = tuple[float, float]
Matrix = tuple[float, float, float, float, float, float]  # SVG matrix(a b c d e f): x' = a x + c y + e, ...

IDENTITY: Matrix = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)
POINTS_PER_INCH = 72.0

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_TOKEN = re.compile(rf"([MmLlHhVvCcSsQqTtAaZz])|({_NUMBER})")
_TRANSFORM = re.compile(r"(matrix|translate|scale|rotate|skewX|skewY)\s*\(([^)]*)\)")
_ATTRIBUTE = re.compile(r'([\w:.-]+)\s*=\s*"([^"]*)"')
# How many numbers each path command takes per repetition (arcs: rx ry angle large-arc sweep x y).
_ARITY = {"M": 2, "L": 2, "H": 1, "V": 1, "C": 6, "S": 4, "Q": 4, "T": 2, "A": 7, "Z": 0}


class SvgError(ValueError):
    """A shape whose SVG this module cannot read (it is then not a drag line)."""


# ---- units ---------------------------------------------------------------------------------------------------


def points_to_pixels(point: Point, x_res: float, y_res: float) -> Point:
    """Krita points (1/72 in) -> document pixels, both with the top-left corner of the image as (0, 0)."""
    return point[0] * x_res / POINTS_PER_INCH, point[1] * y_res / POINTS_PER_INCH


def pixels_to_points(point: Point, x_res: float, y_res: float) -> Point:
    return point[0] * POINTS_PER_INCH / x_res, point[1] * POINTS_PER_INCH / y_res


# ---- reading shapes ------------------------------------------------------------------------------------------


def element_attributes(element: str) -> dict[str, str]:
    """The attributes of the first element of `element` (Krita writes one `<path .../>` per shape)."""
    start = element.find("<")
    end = element.find(">", start)
    if start < 0 or end < 0:
        raise SvgError("not an SVG element")
    return dict(_ATTRIBUTE.findall(element[start:end]))


def parse_transform(text: str) -> Matrix:
    """An SVG transform list (`translate(10, 20) rotate(45)` ...) as one matrix."""
    matrix = IDENTITY
    rest = _TRANSFORM.sub("", text).strip(" ,\t\n")
    if rest:
        raise SvgError(f"cannot read the transform {text!r}")
    for name, raw in _TRANSFORM.findall(text):
        args = [float(v) for v in re.findall(_NUMBER, raw)]
        matrix = multiply(matrix, _transform_matrix(name, args))
    return matrix


def _transform_matrix(name: str, args: list[float]) -> Matrix:
    try:
        if name == "matrix" and len(args) == 6:
            return (args[0], args[1], args[2], args[3], args[4], args[5])
        if name == "translate" and len(args) in (1, 2):
            return (1.0, 0.0, 0.0, 1.0, args[0], args[1] if len(args) == 2 else 0.0)
        if name == "scale" and len(args) in (1, 2):
            return (args[0], 0.0, 0.0, args[1] if len(args) == 2 else args[0], 0.0, 0.0)
        if name == "rotate" and len(args) in (1, 3):
            a = math.radians(args[0])
            rotation = (math.cos(a), math.sin(a), -math.sin(a), math.cos(a), 0.0, 0.0)
            if len(args) == 1:
                return rotation
            cx, cy = args[1], args[2]
            return multiply(multiply((1.0, 0.0, 0.0, 1.0, cx, cy), rotation), (1.0, 0.0, 0.0, 1.0, -cx, -cy))
        if name == "skewX" and len(args) == 1:
            return (1.0, 0.0, math.tan(math.radians(args[0])), 1.0, 0.0, 0.0)
        if name == "skewY" and len(args) == 1:
            return (1.0, math.tan(math.radians(args[0])), 0.0, 1.0, 0.0, 0.0)
    except (ValueError, OverflowError):
        pass
    raise SvgError(f"cannot read the transform {name}({', '.join(f'{v:g}' for v in args)})")


def multiply(left: Matrix, right: Matrix) -> Matrix:
    """left * right: applying the result applies `right` first, as in an SVG transform list."""
    a1, b1, c1, d1, e1, f1 = left
    a2, b2, c2, d2, e2, f2 = right
    return (a1 * a2 + c1 * b2, b1 * a2 + d1 * b2, a1 * c2 + c1 * d2, b1 * c2 + d1 * d2,
            a1 * e2 + c1 * f2 + e1, b1 * e2 + d1 * f2 + f1)


def apply(matrix: Matrix, point: Point) -> Point:
    a, b, c, d, e, f = matrix
    return a * point[0] + c * point[1] + e, b * point[0] + d * point[1] + f


def path_nodes(d: str) -> list[Point]:
    """The nodes (end points of every segment; control points are not nodes) of an SVG path, absolute."""
    tokens = _TOKEN.findall(d)
    if tokens and tokens[0][0] not in ("M", "m"):
        raise SvgError(f"the path {d[:80]!r} does not start with a moveto")
    if "".join(command + number for command, number in tokens).replace(" ", "") != re.sub(r"[\s,]", "", d):
        raise SvgError(f"cannot read the path {d[:80]!r}")
    nodes: list[Point] = []
    current = start = (0.0, 0.0)
    command = ""
    numbers: list[float] = []

    def flush() -> None:
        nonlocal current, start, command
        upper = command.upper()
        arity = _ARITY[upper]
        if arity == 0:
            if numbers:
                raise SvgError(f"numbers after Z in the path {d[:80]!r}")
            current = start
            return
        if not numbers or len(numbers) % arity:
            raise SvgError(f"{command} needs a multiple of {arity} numbers in the path {d[:80]!r}")
        relative = command.islower()
        for i in range(0, len(numbers), arity):
            args = numbers[i:i + arity]
            x0, y0 = current if relative else (0.0, 0.0)
            if upper == "H":
                point = (args[0] + (current[0] if relative else 0.0), current[1])
            elif upper == "V":
                point = (current[0], args[0] + (current[1] if relative else 0.0))
            else:
                point = (args[-2] + x0, args[-1] + y0)
            if upper == "M" and i == 0:
                start = point
            current = point
            nodes.append(point)
        if upper == "M":
            command = "l" if relative else "L"  # numbers after a moveto are implicit linetos

    for letter, number in tokens:
        if letter:
            if command:
                flush()
            command, numbers = letter, []
        elif not command:
            raise SvgError(f"the path {d[:80]!r} does not start with a command")
        else:
            numbers.append(float(number))
    if command:
        flush()
    return nodes


def shape_nodes_in_pixels(element: str, x_res: float, y_res: float) -> list[Point]:
    """The nodes of one Krita path shape (`Shape.toSvg()`) in document pixels, corner origin."""
    attributes = element_attributes(element)
    if "d" not in attributes:
        raise SvgError("the shape is not a path")
    matrix = parse_transform(attributes.get("transform", ""))
    return [points_to_pixels(apply(matrix, node), x_res, y_res) for node in path_nodes(attributes["d"])]


# ---- writing shapes ------------------------------------------------------------------------------------------


def line_svg(nodes_px: Sequence[Point], width_px: int, height_px: int, x_res: float, y_res: float,
             style: dict[str, str] | None = None) -> str:
    """A whole SVG document holding one polyline through `nodes_px` (document pixels, corner origin), for
    `VectorLayer.addShapesFromSvg`: its user unit is the point, as Krita's own shapes use."""
    if len(nodes_px) < 2:
        raise ValueError("a drag line needs at least two nodes")
    width_pt, height_pt = pixels_to_points((width_px, height_px), x_res, y_res)
    points = [pixels_to_points(node, x_res, y_res) for node in nodes_px]
    d = "M" + " L".join(f"{x:.4f} {y:.4f}" for x, y in points)
    attributes = {"fill": "none", "stroke": "#ff3030", "stroke-width": "1.5", "stroke-linecap": "round"}
    attributes.update({k: v for k, v in (style or {}).items() if k not in ("d", "transform", "id")})
    attributes["d"] = d
    body = " ".join(f'{k}="{_escape(v)}"' for k, v in attributes.items() if ":" not in k)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width_pt:.4f}pt" height="{height_pt:.4f}pt" '
            f'viewBox="0 0 {width_pt:.4f} {height_pt:.4f}"><path {body}/></svg>')


def shape_style(element: str) -> dict[str, str]:
    """The presentation attributes of a shape (stroke colour, width ...), to keep them on a redrawn line."""
    # Markers (arrow heads) point at <defs> that a lone element does not carry: Krita draws the line without.
    keep = ("stroke", "stroke-width", "stroke-linecap", "stroke-linejoin", "stroke-opacity", "stroke-dasharray",
            "fill", "opacity")
    return {k: v for k, v in element_attributes(element).items() if k in keep}


def _escape(value: str) -> str:
    return value.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
