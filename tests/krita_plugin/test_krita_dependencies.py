"""What the docker says when Krita's Python lacks pyzmq or msgpack (krita_plugin/dependencies.py)."""

from __future__ import annotations

import importlib.util

import pytest
from dragd.krita_plugin import dependencies


def test_nothing_is_missing_here() -> None:
    assert dependencies.missing_dependencies() is None


@pytest.mark.parametrize(("absent", "said"), [
    ({"zmq"}, "needs pyzmq in Krita's Python (Python 3."),
    ({"zmq", "msgpack"}, "needs pyzmq and msgpack in Krita's Python (Python 3."),
])
def test_missing_packages_are_named_with_the_command_that_installs_them(monkeypatch, absent, said) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name in absent else real(name, *a))
    message = dependencies.missing_dependencies()
    assert message is not None and said in message
    assert "sudo apt install python3-zmq python3-msgpack" in message
    assert "run the dragd installer again" in message
