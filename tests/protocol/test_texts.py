"""protocol/texts.py: the shared user-facing sentences (addresses, waiting, options), and find_or_start_daemon
turning a garbage address into one of them instead of pyzmq's error."""

from __future__ import annotations

import pytest
from dragd.protocol import messages, texts
from dragd.protocol.editor import find_or_start_daemon
from dragd.protocol.errors import DragdError, ErrorCode
from dragd.protocol.limits import DEFAULT_LIMITS, Limits


@pytest.mark.parametrize("address", ["tcp://127.0.0.1:5557", "tcp://localhost:1", "tcp://[::1]:80", "tcp://eth0:1",
                                     "ipc:///tmp/dragd.sock", "inproc://x"])
def test_usable_addresses_have_no_problem(address):
    assert texts.address_problem(address) is None


@pytest.mark.parametrize(("address", "problem"), [
    ("", "empty"), ("   ", "empty"), ("garbage", "no transport"), ("tcp://127.0.0.1", "host and a port"),
    ("tcp://h:99999", "not a number from 1 to 65535"), ("tcp://h:x", "not a number"),
    ("http://h:1", "'http' is not one dragd speaks"), (" tcp://h:1", "spaces"), ("ipc://", "needs a path"),
    ("tcp://999.1.1.1:5557", "'999.1.1.1' is not an IPv4 address"), ("tcp://[::zz]:1", "not an IPv6 address"),
    ("tcp://a b:1", "not a host name"),
])
def test_unusable_addresses_say_what_is_wrong(address, problem):
    assert problem in texts.address_problem(address)


@pytest.mark.parametrize("address", ["garbage", "tcp://127.0.0.1:notaport", "tcp://:5"])
def test_a_garbage_address_is_a_sentence_naming_the_setting_not_a_zmq_error(address):
    with pytest.raises(DragdError) as caught:
        find_or_start_daemon(address, ["/nonexistent/dragd"], timeout=1, where="the settings file /x/dragd.ini")
    assert caught.value.code == ErrorCode.BAD_REQUEST
    assert "cannot be used" in caught.value.message and "/x/dragd.ini" in caught.value.message
    assert "ZMQ" not in caught.value.message and "tcp://127.0.0.1:5557" in caught.value.message


def test_pyzmqs_own_refusal_becomes_the_same_sentence():
    def factory(address, timeout, **options):
        import zmq

        raise zmq.ZMQError(22, "Invalid argument")

    with pytest.raises(DragdError) as caught:
        find_or_start_daemon("tcp://no-such-host.invalid:5", client_factory=factory, where="X")
    assert "cannot be used: Invalid argument" in caught.value.message and "Set it in X" in caught.value.message


def test_waiting_says_nothing_once_the_request_runs():
    assert texts.waiting(0) is None
    assert texts.waiting(1) == "Waiting for the daemon (1 request ahead)..."
    assert texts.waiting(3) == "Waiting for the daemon (3 requests ahead)..."


def test_option_problems_name_the_editors_label_and_the_range_from_the_one_set_of_limits():
    assert texts.option_problem(messages.DragOptions(), DEFAULT_LIMITS) is None
    too_many = messages.DragOptions(max_steps=DEFAULT_LIMITS.max_steps + 1)
    assert texts.option_problem(too_many, DEFAULT_LIMITS, {"max_steps": "Max steps"}) == (
        f"The option Max steps is out of range: {DEFAULT_LIMITS.max_steps + 1} is above the maximum "
        f"{DEFAULT_LIMITS.max_steps}. Nothing was changed.")
    assert "above the maximum 10" in texts.option_problem(messages.DragOptions(max_steps=11), Limits(max_steps=10))
    assert "truncation" in texts.option_problem(messages.GenerateRequest(seed=1, truncation=9.0), DEFAULT_LIMITS)


def test_result_names_take_the_first_free_number():
    assert texts.next_result_name([]) == "DragGAN result 1"
    assert texts.next_result_name(["DragGAN result 1", "DragGAN result 3", "Background"]) == "DragGAN result 2"


def test_the_address_sentences_need_no_pyzmq():
    """The GIMP plug-in checks addresses and options where pyzmq may be missing (gimp_plugin/options.py)."""
    import subprocess
    import sys

    code = "import sys; import dragd.protocol.texts; print('zmq' in sys.modules, 'msgpack' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["False", "False"], done.stderr


def test_live_ended_names_the_drags_own_time_out_or_the_default():
    from dragd.protocol.limits import DEFAULT_LIVE_TIMEOUT_S
    from dragd.protocol.texts import live_ended

    assert live_ended(90) == "Live ended after 1.5 minutes without changes"
    default = f"Live ended after {DEFAULT_LIVE_TIMEOUT_S / 60:g} minutes without changes"
    assert live_ended() == live_ended(None) == default
