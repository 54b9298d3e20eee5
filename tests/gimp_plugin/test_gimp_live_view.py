"""The live preview's point handling (gimp_plugin/live_view.py), without Gtk or GIMP."""

from __future__ import annotations

import pytest
from dragd.gimp_plugin.live_view import (
    HANDLE,
    HIT_RADIUS_PX,
    TARGET,
    ZOOM_RANGE,
    Hit,
    LivePair,
    LivePoints,
    UpdateThrottle,
    ViewTransform,
)


def points(*pairs: LivePair, size: tuple[int, int] = (100, 80), max_points: int = 4, movable=None) -> LivePoints:
    return LivePoints(list(pairs) or [LivePair(0, (20.0, 30.0), (40.0, 30.0))], *size, max_points,
                      **({"movable": movable} if movable else {}))


# ---- view <-> layer ----


def test_fit_centres_the_whole_layer_at_the_largest_scale_that_fits():
    view = ViewTransform.fit((100, 50), (400, 400))
    assert view.scale == 4.0
    assert view.to_view((0, 0)) == (0.0, 100.0) and view.to_view((100, 50)) == (400.0, 300.0)
    tall = ViewTransform.fit((50, 100), (400, 300), margin=10)
    assert tall.scale == pytest.approx(2.8)
    assert tall.to_view((25, 50)) == pytest.approx((200, 150))  # the layer's centre is the view's


@pytest.mark.parametrize("transform", [ViewTransform(3.0, (12.5, -7.0)), ViewTransform.fit((128, 96), (333, 207)),
                                       ViewTransform(0.25, (0, 0)).zoomed(2.5, (40, 50)).panned(-3, 9)])
def test_view_and_layer_coordinates_are_inverse(transform):
    for point in [(0.0, 0.0), (17.25, 3.5), (128.0, 96.0), (-4.0, 200.0)]:
        assert transform.to_layer(transform.to_view(point)) == pytest.approx(point)


def test_zoom_keeps_the_point_under_the_pointer_and_stays_in_range():
    view = ViewTransform(2.0, (10.0, 20.0))
    under = view.to_layer((90.0, 70.0))
    zoomed = view.zoomed(1.25, (90.0, 70.0))
    assert zoomed.scale == 2.5 and zoomed.to_layer((90.0, 70.0)) == pytest.approx(under)
    assert view.zoomed(1e9, (0, 0)).scale == ZOOM_RANGE[1] and view.zoomed(1e-9, (0, 0)).scale == ZOOM_RANGE[0]


def test_a_tiny_view_still_has_a_usable_scale():
    assert ViewTransform.fit((512, 512), (0, 0), margin=20).scale == ZOOM_RANGE[0]


# ---- hit test ----


def test_the_nearest_point_within_the_radius_is_hit_in_view_pixels():
    live = points(LivePair(0, (10.0, 10.0), (30.0, 10.0)), LivePair(1, (12.0, 10.0), (50.0, 50.0)))
    view = ViewTransform(4.0, (0.0, 0.0))  # 1 layer px = 4 view px
    assert live.hit((120.0, 40.0 + HIT_RADIUS_PX - 0.5), view) == Hit(0, TARGET)
    assert live.hit((120.0, 40.0 + HIT_RADIUS_PX + 0.5), view) is None  # just outside the radius
    assert live.hit((41.0, 40.0), view) == Hit(0, HANDLE)  # 1 view px from handle 0, 7 from handle 1
    assert live.hit((47.0, 40.0), view) == Hit(1, HANDLE)
    # At 1/4 scale the same layer distance is 4x smaller on screen: both handles are in reach, the nearer wins.
    assert live.hit((3.1, 2.5), ViewTransform(0.25, (0.0, 0.0))) == Hit(1, HANDLE)


def test_a_target_on_its_own_handle_is_grabbed_as_the_target():
    live = points(LivePair(0, (10.0, 10.0), (10.0, 10.0)))
    assert live.hit((10.0, 10.0), ViewTransform(1.0, (0, 0))) == Hit(0, TARGET)


# ---- dragging a target ----


def test_dragging_a_target_moves_it_counts_revisions_and_clamps_it_onto_the_layer():
    live = points()
    view = ViewTransform(2.0, (5.0, 5.0))
    assert live.press(view.to_view((40.0, 30.0)), view) is False and live.dragging == TARGET
    changed, after = live.motion(view.to_view((44.5, 31.0)), view)
    assert changed and after == view and live.revision == 1
    assert live.pairs[0].target == pytest.approx((44.5, 31.0)) and live.pairs[0].handle == (20.0, 30.0)
    live.motion(view.to_view((500.0, -3.0)), view)
    assert live.pairs[0].target == (100.0, 0.0)  # onto the layer's edge, not off it
    assert live.motion(view.to_view((600.0, -9.0)), view)[0] is False and live.revision == 2  # still there
    assert live.release(view.to_view((60.0, 20.0)), view) is True
    assert live.dragging is None and live.pairs[0].target == pytest.approx((60.0, 20.0)) and live.revision == 3
    assert live.wire() == [(0, (20.0, 30.0), pytest.approx((60.0, 20.0)))]


def test_a_press_away_from_every_point_grabs_nothing():
    live = points()
    view = ViewTransform(1.0, (0, 0))
    assert live.press((90.0, 70.0), view) is False and live.dragging is None
    assert live.motion((91.0, 70.0), view) == (False, view) and live.revision == 0


def test_escape_puts_a_grabbed_target_back_and_that_is_sent_again():
    live = points()
    view = ViewTransform(1.0, (0, 0))
    live.press((40.0, 30.0), view)
    live.motion((70.0, 10.0), view)
    changed, _ = live.key("Escape", (70.0, 10.0), view)
    assert changed and live.pairs[0].target == (40.0, 30.0) and live.dragging is None and live.revision == 2
    assert live.release((70.0, 10.0), view) is False  # the release after Escape does nothing


def test_tracked_handles_follow_the_daemon_and_stale_keys_are_ignored():
    live = points(LivePair(0, (20.0, 30.0), (40.0, 30.0)), LivePair(1, (5.0, 5.0), (9.0, 9.0)))
    live.track([0, 1, 7], [(25.0, 30.0), (6.0, 6.0), (1.0, 1.0)])
    assert [p.handle for p in live.pairs] == [(25.0, 30.0), (6.0, 6.0)]
    with pytest.raises(ValueError):
        live.track([0], [(1.0, 1.0), (2.0, 2.0)])  # a malformed progress is the caller's bug, loudly


# ---- dragging a handle ----


def test_a_dropped_handle_becomes_a_new_pair_sent_once_and_tracking_leaves_it_in_the_hand():
    live = points()
    view = ViewTransform(1.0, (0, 0))
    live.press((20.0, 30.0), view)
    assert live.dragging == HANDLE
    assert live.motion((25.0, 35.0), view) == (False, view) and live.revision == 0  # not sent while held
    assert live.wire() == [(0, (20.0, 30.0), (40.0, 30.0))]  # the daemon's pair as it was
    live.track([0], [(21.0, 30.0)])
    assert live.pairs[0].handle == (25.0, 35.0)  # the artist holds it
    assert live.release((26.0, 36.0), view) is True and live.revision == 1
    assert live.wire() == [(1, (26.0, 36.0), (40.0, 30.0))]  # a new key: the feature is read where it was dropped


def test_a_handle_dropped_outside_the_selection_goes_back_with_a_message():
    live = points(movable=lambda p: p[0] < 50)
    view = ViewTransform(1.0, (0, 0))
    live.press((20.0, 30.0), view)
    assert live.release((60.0, 30.0), view) is False
    assert live.pairs[0] == LivePair(0, (20.0, 30.0), (40.0, 30.0)) and "selection" in live.message
    assert live.revision == 0


def test_a_handle_dropped_where_it_was_is_not_a_change():
    live = points()
    view = ViewTransform(1.0, (0, 0))
    live.press((20.0, 30.0), view)
    assert live.release((20.0, 30.0), view) is False and live.wire() == [(0, (20.0, 30.0), (40.0, 30.0))]


# ---- adding and removing pairs ----


def test_ctrl_press_on_an_empty_spot_adds_a_pair_whose_target_follows_the_pointer():
    live = points()
    view = ViewTransform(2.0, (0.0, 0.0))
    assert live.press((160.0, 120.0), view, add=True) is True and live.dragging == TARGET
    live.motion((180.0, 100.0), view)
    assert live.release((180.0, 100.0), view) is False  # dropped where the last move left it: nothing new
    assert live.pairs[1] == LivePair(1, (80.0, 60.0), (90.0, 50.0)) and live.revision == 2
    assert [key for key, *_ in live.wire()] == [0, 1]


def test_escape_takes_a_just_added_pair_away():
    live = points()
    view = ViewTransform(1.0, (0, 0))
    live.press((80.0, 60.0), view, add=True)
    live.key("Escape", (80.0, 60.0), view)
    assert [p.key for p in live.pairs] == [0]


def test_adding_is_refused_outside_the_selection_and_beyond_max_points():
    live = points(movable=lambda p: p[0] < 50, max_points=2)
    view = ViewTransform(1.0, (0, 0))
    assert live.press((80.0, 60.0), view, add=True) is False and "selection" in live.message
    assert live.press((10.0, 60.0), view, add=True) is True
    live.release((10.0, 60.0), view)
    assert live.press((12.0, 70.0), view, add=True) is False and "At most 2" in live.message
    assert len(live.pairs) == 2


def test_right_press_or_delete_removes_a_pair_but_never_the_last():
    live = points(LivePair(0, (20.0, 30.0), (40.0, 30.0)), LivePair(3, (60.0, 60.0), (70.0, 60.0)))
    view = ViewTransform(1.0, (0, 0))
    assert live.press((70.0, 61.0), view, button=3) is True and [p.key for p in live.pairs] == [0]
    assert live.revision == 1
    assert live.key("Delete", (40.0, 30.0), view) == (False, view) and "last point" in live.message
    assert live.press((5.0, 5.0), view, button=3) is False  # nothing there


def test_new_keys_never_reuse_a_removed_pairs_key():
    live = points(LivePair(0, (20.0, 30.0), (40.0, 30.0)), LivePair(1, (60.0, 60.0), (70.0, 60.0)))
    view = ViewTransform(1.0, (0, 0))
    live.remove(1)
    live.press((90.0, 10.0), view, add=True)
    assert [p.key for p in live.pairs] == [0, 2]


# ---- pan and zoom through the gesture ----


def test_the_middle_button_pans_and_the_wheel_and_keys_zoom_about_the_pointer():
    live = points()
    view = ViewTransform(1.0, (0.0, 0.0))
    live.press((10.0, 10.0), view, button=2)
    changed, view = live.motion((15.0, 7.0), view)
    assert not changed and view.offset == (5.0, -3.0)
    live.release((15.0, 7.0), view, button=2)
    assert live.motion((30.0, 30.0), view) == (False, view)  # the pan ended
    under = view.to_layer((50.0, 40.0))
    view = live.scroll(True, (50.0, 40.0), view)
    assert view.scale == 1.25 and view.to_layer((50.0, 40.0)) == pytest.approx(under)
    _, view = live.key("minus", (50.0, 40.0), view)
    assert view.scale == pytest.approx(1.0)
    _, view = live.key("plus", None, view)  # no pointer: about the layer's centre
    assert view.scale == pytest.approx(1.25) and view.to_layer(view.to_view((50, 40))) == pytest.approx((50, 40))


# ---- throttling ----


def test_updates_are_coalesced_while_dragging_and_the_last_always_goes_out():
    throttle = UpdateThrottle(interval=0.05)
    assert not throttle.due(0, 0.0, dragging=False)  # nothing new
    assert throttle.due(1, 0.0, dragging=True)  # the first move goes at once
    throttle.sent(1, 0.0)
    assert not throttle.due(5, 0.02, dragging=True)  # moves 2..5 wait for the interval ...
    assert throttle.due(5, 0.05, dragging=True)  # ... then only the newest goes
    throttle.sent(5, 0.05)
    assert throttle.due(6, 0.06, dragging=False)  # dropped: at once, whatever the interval
    throttle.sent(6, 0.06)
    assert not throttle.due(6, 10.0, dragging=False)  # never twice


def test_a_live_drag_needs_a_pair():
    with pytest.raises(ValueError):
        LivePoints([], 10, 10, 4)


# ---- painting ----


def test_points_are_painted_where_the_transform_puts_them_and_clipped_at_the_edges():
    from dragd.gimp_plugin.live_view import HANDLE_RGB, LINE_RGB, TARGET_RGB, paint_points

    width, height = 60, 40
    pixels = bytearray(width * height * 4)
    pairs = [LivePair(0, (5.0, 5.0), (25.0, 5.0)), LivePair(1, (-10.0, 100.0), (1000.0, -50.0))]
    paint_points(pixels, width, height, pairs, ViewTransform(2.0, (0.0, 0.0)), grabbed=Hit(0, TARGET))

    def at(x: int, y: int) -> tuple[int, ...]:
        return tuple(pixels[(y * width + x) * 4:(y * width + x) * 4 + 4])

    assert at(10, 10) == (*HANDLE_RGB, 255) and at(50, 10) == (*TARGET_RGB, 255)
    assert at(30, 10) == (*LINE_RGB, 255)  # on the line between them
    assert at(50, 18) == (*TARGET_RGB, 255) and at(10, 18) != (*HANDLE_RGB, 255)  # the grabbed one is larger
    assert at(30, 30) == (0, 0, 0, 0)  # away from everything: untouched
    assert len(pixels) == width * height * 4  # off-view points wrote nothing outside the buffer


def test_a_line_from_a_point_off_the_view_is_drawn_where_it_crosses_the_view():
    from dragd.gimp_plugin.live_view import LINE_RGB, paint_points

    width, height = 60, 40
    pixels = bytearray(width * height * 4)
    paint_points(pixels, width, height, [LivePair(0, (-5000.0, 10.0), (50.0, 10.0))], ViewTransform(1.0, (0, 0)))
    assert pixels[(10 * width + 1) * 4:(10 * width + 1) * 4 + 4] == bytes((*LINE_RGB, 255))
    assert pixels[(30 * width + 1) * 4 + 3] == 0
