"""krita_plugin/gate.py: the plugin's UI-thread work never starts inside other work (Krita's busy waits run a
nested event loop that delivers queued callbacks and timers)."""

from __future__ import annotations

from dragd.krita_plugin.gate import OneAtATime


def test_work_arriving_inside_other_work_runs_after_it_in_order() -> None:
    gate, seen = OneAtATime(), []

    def outer() -> None:
        seen.append("outer starts")
        gate.run(lambda: seen.append("first inside"))  # as from Krita's nested event loop
        gate.run(lambda: seen.append("second inside"))
        seen.append("outer ends")

    gate.run(outer)
    assert seen == ["outer starts", "outer ends", "first inside", "second inside"]
    assert not gate.busy


def test_a_failing_piece_does_not_drop_the_queue(capsys) -> None:
    gate, seen = OneAtATime(), []

    def outer() -> None:
        gate.run(lambda: 1 / 0)
        gate.run(lambda: seen.append("after the failure"))
        raise RuntimeError("outer failed")

    gate.run(outer)
    assert seen == ["after the failure"] and not gate.busy
    err = capsys.readouterr().err
    assert "ZeroDivisionError" in err and "outer failed" in err


def test_a_timer_tick_inside_other_work_is_skipped() -> None:
    gate, seen = OneAtATime(), []

    def outer() -> None:
        assert gate.busy
        gate.run_unless_busy(lambda: seen.append("tick"))

    gate.run(outer)
    assert seen == []
    gate.run_unless_busy(lambda: seen.append("tick"))
    assert seen == ["tick"]
