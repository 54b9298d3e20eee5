"""gimp_plugin/settings.py: the plug-in's settings file (daemon address and start command) and what wins."""

from __future__ import annotations

import threading

import pytest
from dragd.gimp_plugin import drag
from dragd.gimp_plugin.options import DragSettings
from dragd.gimp_plugin.settings import DEFAULT_COMMAND, SettingsError, read_settings, where, write_settings
from dragd.protocol.errors import DragdError, ErrorCode
from dragd.protocol.texts import BAD_MODEL_ADVICE
from gimp_fakes import FakeDocument, RecordingFeedback


def test_a_missing_file_means_the_defaults(tmp_path):
    settings = read_settings(tmp_path / "dragd.ini", env={})
    assert (settings.address, settings.command, settings.source) == ("", DEFAULT_COMMAND, "defaults")


def test_the_file_then_the_environment(tmp_path):
    path = write_settings(tmp_path / "dragd.ini", "tcp://10.0.0.2:5557",
                          "'/opt/my dragd/dragd' serve --address {address}")
    settings = read_settings(path, env={})
    assert settings.address == "tcp://10.0.0.2:5557" and settings.source == str(path)
    assert settings.argv() == ["/opt/my dragd/dragd", "serve", "--address", "{address}"]
    overridden = read_settings(path, env={"DRAGD_ADDRESS": "tcp://127.0.0.1:1", "DRAGD_DAEMON_COMMAND": "/x/dragd"})
    assert overridden.address == "tcp://127.0.0.1:1" and overridden.argv()[0] == "/x/dragd"


@pytest.mark.parametrize("text", ["[daemon\naddress = x\n", "[daemon]\ncommand = 'unclosed\n"])
def test_a_broken_file_is_a_message_naming_it(tmp_path, text):
    path = tmp_path / "dragd.ini"
    path.write_text(text)
    with pytest.raises(SettingsError, match=str(path).replace("/", "/")):
        read_settings(path, env={})


def test_messages_name_the_settings_file_as_the_fix(tmp_path):
    path = write_settings(tmp_path / "dragd.ini", "garbage", None)
    outcome = drag.drag_layer(FakeDocument(path_list=[("p", True, [[(1, 1), (2, 2)]])]),
                              DragSettings(settings_file=str(path)), RecordingFeedback(), threading.Event())
    assert "'garbage' cannot be used" in outcome.error and str(path) in outcome.error
    assert "ZMQ" not in outcome.error


def test_a_model_file_that_cannot_be_used_gets_the_shared_advice():
    text = drag.describe_error(DragdError(ErrorCode.BAD_MODEL, "the model file cannot be used: damaged"))
    assert "damaged" in text and text.endswith(BAD_MODEL_ADVICE)


def test_the_unavailable_advice_names_the_settings_file():
    text = drag.describe_error(DragdError(ErrorCode.UNAVAILABLE, "no daemon"), "/p/dragd.ini")
    assert "/p/dragd.ini" in text and where("/p/dragd.ini") in text
