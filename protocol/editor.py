"""Plugin logic that the Krita and GIMP plugins share; no editor API in here.

- `pair_polylines`: the user's lines (editor corner-origin coordinates) -> handle/target PointPairs.
- `build_drag_request` / `build_open_session_request`: layer pixels + selection -> the request.
- `find_or_start_daemon`: a connected `DragdClient`, starting `dragd serve` when nothing answers.

Errors are `DragdError`s whose message is a sentence the plugin can show the user as it is.
"""

from __future__ import annotations

import math
import os
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from . import texts
from .client import DragdClient
from .errors import DragdError, DragdTimeout, ErrorCode
from .images import Image, mask_bounds, mask_is_full
from .limits import DEFAULT_ADDRESS, DEFAULT_LIMITS
from .messages import DragOptions, DragRequest, OpenSessionRequest, Point, PointPair
from .transport import AddressError, is_loopback, parse_address

Polyline = Sequence[Sequence[float]]  # [(x, y), ...] in the editor's corner-origin coordinates

HOW_TO_DRAW = (
    "Draw each drag as a line of at least two points: start on the feature to move (the handle) and end "
    "where it should go (the target). Draw one line per point to move."
)

# `{address}` is replaced by the address the client connects to.
DEFAULT_DAEMON_COMMAND: tuple[str, ...] = ("dragd", "serve", "--address", "{address}")


def corner_to_centre(point: Sequence[float]) -> Point:
    """Editor coordinates (0, 0 = top-left corner of the top-left pixel) -> protocol pixel-centre coordinates."""
    return float(point[0]) - 0.5, float(point[1]) - 0.5


def centre_to_corner(point: Sequence[float]) -> Point:
    return float(point[0]) + 0.5, float(point[1]) + 0.5


def pair_polylines(polylines: Sequence[Polyline], width: int, height: int,
                   max_points: int = DEFAULT_LIMITS.max_points) -> tuple[PointPair, ...]:
    """One pair per polyline: its first point is the handle, its last the target (points in between, as a
    path drawn with several clicks leaves them, are ignored). A line whose two ends coincide but that has other
    points pins that spot (handle == target). Raises DragdError(bad_request) with a message for the user."""
    if not polylines:
        raise DragdError(ErrorCode.BAD_REQUEST, f"No drag lines found. {HOW_TO_DRAW}")
    if len(polylines) > max_points:
        raise DragdError(ErrorCode.LIMIT_EXCEEDED,
                         f"{len(polylines)} drag lines, but at most {max_points} can be dragged at once.")
    pairs = []
    for number, line in enumerate(polylines, start=1):
        points = [_finite_point(point, number) for point in line]
        if len(set(points)) < 2:
            what = "no points" if not points else "only one point" if len(points) == 1 else "all its points on one spot"
            raise DragdError(ErrorCode.BAD_REQUEST, f"Drag line {number} has {what}. {HOW_TO_DRAW}")
        for role, (x, y) in (("start (the handle)", points[0]), ("end (the target)", points[-1])):
            if not (0 <= x <= width and 0 <= y <= height):
                raise DragdError(ErrorCode.BAD_REQUEST,
                                 f"The {role} of drag line {number} lies outside the layer ({width}x{height} "
                                 f"pixels, the point is at {x:g}, {y:g}); move it onto the layer.")
        pairs.append(PointPair(corner_to_centre(points[0]), corner_to_centre(points[-1])))
    return tuple(pairs)


def _finite_point(point: Sequence[float], line: int) -> tuple[float, float]:
    try:
        x, y = float(point[0]), float(point[1])
    except (TypeError, ValueError, IndexError):
        raise DragdError(ErrorCode.BAD_REQUEST, f"Drag line {line} has a point that is not (x, y): {point!r}"
                         ) from None
    if not (math.isfinite(x) and math.isfinite(y)):
        raise DragdError(ErrorCode.BAD_REQUEST, f"Drag line {line} has a point at an invalid position ({x}, {y}).")
    return x, y


def selection_mask(selection: Image | None, width: int, height: int) -> Image | None:
    """The selection as a protocol mask, or None when it restricts nothing (none, empty, or everything)."""
    if selection is None:
        return None
    if selection.mode != "L" or (selection.width, selection.height) != (width, height):
        raise DragdError(ErrorCode.BAD_REQUEST, f"The selection mask ({selection.mode} {selection.width}x"
                                                f"{selection.height}) does not match the layer ({width}x{height}).")
    if mask_bounds(selection) is None or mask_is_full(selection):
        return None
    return selection


def build_drag_request(session: str, polylines: Sequence[Polyline], width: int, height: int,
                       selection: Image | None = None, options: DragOptions | None = None,
                       max_points: int = DEFAULT_LIMITS.max_points) -> DragRequest:
    """The drag of a session whose frame is the layer (width x height). The selection, when there is one,
    is the area allowed to move; every handle must lie inside it, or it could not move at all."""
    pairs = pair_polylines(polylines, width, height, max_points)
    mask = selection_mask(selection, width, height)
    if mask is not None:
        for number, pair in enumerate(pairs, start=1):
            x = min(max(round(pair.handle[0]), 0), width - 1)
            y = min(max(round(pair.handle[1]), 0), height - 1)
            if mask.pixel(x, y)[0] == 0:
                raise DragdError(ErrorCode.BAD_REQUEST,
                                 f"The start (handle) of drag line {number} lies outside the selection; only "
                                 "the selected area may move. Select more, or move the line's start into it.")
    return DragRequest(session=session, points=pairs, mask=mask, options=options or DragOptions())


def build_open_session_request(layer: Image, selection: Image | None = None,
                               model: str | None = None) -> OpenSessionRequest:
    """Open a real image: the selection's bounding box is the region to invert, the selection itself the mask;
    without a selection the whole layer is the region."""
    mask = selection_mask(selection, layer.width, layer.height)
    region = mask_bounds(mask) if mask is not None else None
    return OpenSessionRequest(image=layer, model=model, region=region, mask=mask)


# ---- finding the daemon -----------------------------------------------------------------------------------------


def is_local_address(address: str) -> bool:
    """True for addresses on this computer, where a daemon can be started for the user: the transport's own
    loopback rule (`transport.is_loopback`), False for an address it cannot parse."""
    try:
        return is_loopback(parse_address(address))
    except AddressError:
        return False


def find_or_start_daemon(
    address: str = DEFAULT_ADDRESS,
    command: Sequence[str] = DEFAULT_DAEMON_COMMAND,
    *,
    timeout: float = 30.0,
    start_timeout: float = 60.0,
    ping_timeout: float = 3.0,
    log_path: str | Path | None = None,
    client_factory: Callable[..., DragdClient] = DragdClient,
    where: str = "the plugin's settings",
    **client_options: Any,
) -> DragdClient:
    """A client connected to a daemon that answers: the one at `address`, or, when nothing answers there and
    the address is local, one started with `command` (detached, so it outlives the editor). Waits up to
    `start_timeout` s for it (loading a model can take a while). Raises DragdError(unavailable) with a message
    for the user, naming `where` (the editor's place for the address and command settings) as the fix.
    `client_options` go to DragdClient (e.g. curve keys)."""
    texts.check_address(address, where)
    try:
        client = client_factory(address, timeout, **client_options)
    except DragdError:
        raise
    except Exception as exc:  # noqa: BLE001 - pyzmq's own error for an address it cannot parse or reach
        raise DragdError(ErrorCode.BAD_REQUEST, texts.bad_address(address, str(exc), where)) from None
    try:
        if _answers(client, ping_timeout):
            return client
        if not is_local_address(address):
            raise DragdError(ErrorCode.UNAVAILABLE,
                             f"No dragd daemon answers at {address}. It is not on this computer, so it cannot be "
                             f"started from here: start it there with `dragd serve`, or check the address in "
                             f"{where}.")
        argv = [part.replace("{address}", address) for part in command]
        process = _start_detached(argv, log_path, where)
        deadline = time.monotonic() + start_timeout
        while time.monotonic() < deadline:
            if _answers(client, ping_timeout):
                return client
            if process.poll() is not None:
                if _answers(client, ping_timeout):  # lost a race to another editor's daemon: fine
                    return client
                log = f" Its log: {log_path}." if log_path else ""
                raise DragdError(ErrorCode.UNAVAILABLE,
                                 f"The dragd daemon stopped right after starting (exit code {process.returncode})."
                                 f"{log} Run `{' '.join(argv)}` in a terminal to see why; the command is set "
                                 f"in {where}.")
        raise DragdError(ErrorCode.UNAVAILABLE,
                         f"Started the dragd daemon (`{' '.join(argv)}`), but it did not answer at {address} "
                         f"within {start_timeout:g} s. It may still be loading; try again in a moment.")
    except BaseException:
        client.close()
        raise


def _answers(client: DragdClient, ping_timeout: float) -> bool:
    try:
        client.ping(timeout=ping_timeout)
    except DragdTimeout:
        return False
    return True


def _start_detached(argv: list[str], log_path: str | Path | None, where: str) -> subprocess.Popen[bytes]:
    """Start the daemon in its own session / process group, so closing the editor does not stop it."""
    if os.name == "nt":
        flags = getattr(subprocess, "DETACHED_PROCESS", 0) | getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)
        detach: dict[str, Any] = {"creationflags": flags}
    else:
        detach = {"start_new_session": True}
    try:
        log = open(log_path, "ab") if log_path is not None else subprocess.DEVNULL  # noqa: SIM115
        try:
            return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    close_fds=True, **detach)
        finally:
            if log is not subprocess.DEVNULL:
                log.close()  # the child has its own copy of the descriptor
    except FileNotFoundError:
        raise DragdError(ErrorCode.UNAVAILABLE, texts.command_not_found(argv[0], where)) from None
    except OSError as exc:
        raise DragdError(ErrorCode.UNAVAILABLE, f"Cannot start the dragd daemon (`{' '.join(argv)}`): {exc}"
                         ) from None
