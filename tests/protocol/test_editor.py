"""Shared plugin logic: pairing drawn lines, building requests from layer pixels, finding/starting the daemon."""

from __future__ import annotations

import math
import sys
import textwrap

import pytest
from conftest import free_tcp_address
from dragd.protocol import DragdError, DragOptions, ErrorCode, Image, PointPair, validate_request
from dragd.protocol.editor import (
    build_drag_request,
    build_open_session_request,
    centre_to_corner,
    corner_to_centre,
    find_or_start_daemon,
    is_local_address,
    pair_polylines,
)
from dragd.protocol.messages import request_message
from protocol_fakes import FakeDaemon


def test_corner_and_centre_coordinates():
    assert corner_to_centre((0.5, 0.5)) == (0.0, 0.0)  # the middle of the top-left pixel
    assert centre_to_corner(corner_to_centre((12.25, 3.0))) == (12.25, 3.0)


def test_first_point_is_handle_last_is_target_in_pixel_centres():
    pairs = pair_polylines([[(10.5, 20.5), (15, 15), (30.5, 40.5)], [[1, 1], [2, 2]]], 64, 64)
    assert pairs == (PointPair((10.0, 20.0), (30.0, 40.0)), PointPair((0.5, 0.5), (1.5, 1.5)))


def test_closed_line_pins_its_point():
    assert pair_polylines([[(5, 5), (9, 9), (5, 5)]], 16, 16) == (PointPair((4.5, 4.5), (4.5, 4.5)),)


@pytest.mark.parametrize(
    ("lines", "text"),
    [
        ([], "No drag lines found"),
        ([[]], "has no points"),
        ([[(3, 3)]], "has only one point"),
        ([[(1, 2), (3, 4)], [(3, 3), (3, 3), (3, 3)]], "Drag line 2 has all its points on one spot"),
        ([[(1, 1), (70, 1)]], "end (the target) of drag line 1 lies outside the layer"),
        ([[(-1, 1), (3, 1)]], "start (the handle) of drag line 1 lies outside"),
        ([[(1, math.nan), (3, 1)]], "invalid position"),
        ([[(1,), (3, 1)]], "not (x, y)"),
    ],
)
def test_unusable_lines_explain_how_to_draw(lines, text):
    with pytest.raises(DragdError) as info:
        pair_polylines(lines, 64, 64)
    assert info.value.code == ErrorCode.BAD_REQUEST and text in info.value.message
    if "point" in text and "position" not in text and "(x, y)" not in text:
        assert "at least two points" in info.value.message  # tells the user how to draw one


def test_too_many_lines():
    with pytest.raises(DragdError) as info:
        pair_polylines([[(1, 1), (2, 2)]] * 5, 8, 8, max_points=4)
    assert info.value.code == ErrorCode.LIMIT_EXCEEDED


def selection(width, height, rect):
    x0, y0, w, h = rect
    data = bytearray(width * height)
    for y in range(y0, y0 + h):
        data[y * width + x0:y * width + x0 + w] = b"\xff" * w
    return Image.mask(width, height, bytes(data))


def test_drag_request_with_selection_mask_is_valid_on_the_wire():
    mask = selection(16, 12, (2, 2, 8, 6))
    request = build_drag_request("s1", [[(4.5, 4.5), (8.5, 6.5)]], 16, 12, mask, DragOptions(max_steps=40))
    assert request.mask is mask and request.points == (PointPair((4.0, 4.0), (8.0, 6.0)),)
    assert validate_request(request_message(1, request)).body == request


def test_selection_of_nothing_or_everything_means_no_mask():
    for everything_or_nothing in (Image.filled("L", 16, 12, 0), Image.filled("L", 16, 12, 255), None):
        assert build_drag_request("s1", [[(1, 1), (3, 3)]], 16, 12, everything_or_nothing).mask is None


def test_handle_outside_the_selection_is_refused_with_advice():
    with pytest.raises(DragdError, match="outside the selection"):
        build_drag_request("s1", [[(12.5, 10.5), (4, 4)]], 16, 12, selection(16, 12, (2, 2, 8, 6)))


def test_selection_of_another_size_is_refused():
    with pytest.raises(DragdError, match="does not match"):
        build_drag_request("s1", [[(1, 1), (3, 3)]], 16, 12, Image.filled("L", 8, 8, 255))


def test_open_session_request_uses_selection_bounds_as_region():
    layer = Image.filled("RGBA", 16, 12, (1, 2, 3, 255))
    request = build_open_session_request(layer, selection(16, 12, (3, 4, 5, 2)), model="faces")
    assert request.region == (3, 4, 5, 2) and request.mask is not None
    assert validate_request(request_message(1, request)).body == request
    whole = build_open_session_request(layer)
    assert whole.region is None and whole.mask is None


@pytest.mark.parametrize(
    ("address", "local"),
    [("tcp://127.0.0.1:5557", True), ("tcp://localhost:1", True), ("tcp://[::1]:5557", True),
     ("ipc:///tmp/dragd", True), ("tcp://10.0.0.2:5557", False), ("tcp://gpu-box:5557", False)],
)
def test_local_addresses(address, local):
    assert is_local_address(address) is local


# ---- find_or_start_daemon ---------------------------------------------------------------------------------------



def test_an_answering_daemon_is_used_and_nothing_is_started():
    with FakeDaemon() as daemon:
        client = find_or_start_daemon(daemon.address, ["/nonexistent/dragd"], timeout=2)
        assert client.ping().uptime_s == 1.5
        client.close()


DAEMON_SCRIPT = textwrap.dedent("""
    import sys, time
    import zmq, zmq.auth
    from dragd.protocol import DEFAULT_LIMITS, PingResult, ShutdownResult, decode, encode, router_socket
    from dragd.protocol import validate_request
    from dragd.protocol.transport import keys_folder

    time.sleep(0.5)  # start slowly, as a daemon loading a model does
    secret = zmq.auth.load_certificate(keys_folder() / "server.key_secret")[1]  # the user's daemon's key
    sock = router_socket(zmq.Context(), sys.argv[1], DEFAULT_LIMITS, curve_secret_key=secret)
    deadline = time.monotonic() + 20  # never outlive the test by much
    while time.monotonic() < deadline:
        if sock.poll(100):
            identity, frame = sock.recv_multipart()
            request = validate_request(decode(frame, DEFAULT_LIMITS.max_frame_bytes))
            if request.type == "shutdown":
                sock.send_multipart([identity, encode(request.result(ShutdownResult()))])
                break
            sock.send_multipart([identity, encode(request.result(PingResult(0.0)))])
""")


def test_a_missing_daemon_is_started_detached_and_waited_for(tmp_path):
    script = tmp_path / "fake_dragd.py"
    script.write_text(DAEMON_SCRIPT)
    address = free_tcp_address()
    log = tmp_path / "dragd.log"
    client = find_or_start_daemon(address, [sys.executable, str(script), "{address}"], timeout=2,
                                  start_timeout=20, ping_timeout=0.3, log_path=log)
    try:
        assert client.ping().uptime_s == 0.0
    finally:
        client.shutdown()  # the detached daemon outlives us otherwise
        client.close()


def test_a_daemon_that_exits_at_once_gives_a_clear_error(tmp_path):
    with pytest.raises(DragdError) as info:
        find_or_start_daemon(free_tcp_address(), [sys.executable, "-c", "raise SystemExit(3)"], start_timeout=10,
                             ping_timeout=0.2, log_path=tmp_path / "log")
    assert info.value.code == ErrorCode.UNAVAILABLE
    assert "exit code 3" in info.value.message and "log" in info.value.message


def test_a_missing_command_gives_a_clear_error():
    with pytest.raises(DragdError) as info:
        find_or_start_daemon(free_tcp_address(), ["/nonexistent/dragd", "serve"], ping_timeout=0.2)
    assert info.value.code == ErrorCode.UNAVAILABLE and "was not found" in info.value.message


def test_a_daemon_that_never_answers_times_out(tmp_path):
    sleeper = [sys.executable, "-c", "import time; time.sleep(2)"]  # ends by itself
    with pytest.raises(DragdError) as info:
        find_or_start_daemon(free_tcp_address(), sleeper, start_timeout=1.0, ping_timeout=0.2)
    assert info.value.code == ErrorCode.UNAVAILABLE and "did not answer" in info.value.message


def test_a_remote_address_is_never_started():
    with pytest.raises(DragdError) as info:
        find_or_start_daemon("tcp://192.0.2.1:5557", ["/nonexistent/dragd"], ping_timeout=0.2)
    assert "cannot be started from here" in info.value.message
