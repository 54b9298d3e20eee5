"""daemon/server/restore.py: `state` hands out a session's latent; `restore` continues from one."""

from __future__ import annotations

import numpy as np
import pytest
from dragd.protocol import DragOptions, Image
from dragd.protocol.errors import DragdError, ErrorCode
from dragd.protocol.messages import Capability
from server_fixtures import connect, running_daemon

OPTIONS = DragOptions(max_steps=4)


def pixels(image: Image) -> np.ndarray:
    return np.frombuffer(image.tight().data, np.uint8).reshape(image.height, image.width, 4)


def test_a_state_restored_into_its_session_shows_that_state_and_drags_from_it() -> None:
    with running_daemon() as daemon, connect(daemon) as client:
        assert Capability.RESTORE in client.hello().capabilities
        start = client.generate(seed=4)
        saved = client.state(start.session)
        assert (saved.model, saved.history_index, saved.opened) == ("tiny", 0, False)
        assert len(saved.latent) == 4 * saved.shape[0] * saved.shape[1]
        first = client.drag(start.session, [((10.0, 10.0), (14.0, 10.0))], options=OPTIONS)
        assert client.state(start.session).latent != saved.latent
        # The editor's own undo brought the generated layer back: the session continues from its latent.
        back = client.restore(saved.latent, saved.shape, session=start.session)
        assert back.session == start.session and back.history_index == first.history_index + 1
        assert np.array_equal(pixels(back.image), pixels(start.image))
        assert client.state(start.session).latent == saved.latent
        again = client.drag(start.session, [((10.0, 10.0), (14.0, 10.0))], options=OPTIONS)
        assert np.array_equal(pixels(again.image), pixels(first.image)), "the drag ignored the restored state"


def test_a_restarted_daemon_rebuilds_a_generated_session_from_its_latent() -> None:
    with running_daemon() as daemon, connect(daemon) as client:
        start = client.generate(seed=5)
        client.drag(start.session, [((8.0, 8.0), (12.0, 8.0))], options=OPTIONS)
        saved = client.state(start.session)
        shown = client.undo(start.session)  # any state: the one after the drag is current again below
        client.redo(start.session)
        dragged = client.state(start.session)
        assert dragged.latent == saved.latent and shown.history_index == 0
    with running_daemon() as daemon, connect(daemon) as client:  # a new daemon: the session is gone
        with pytest.raises(DragdError) as caught:
            client.state(start.session)
        assert caught.value.code == ErrorCode.UNKNOWN_SESSION
        rebuilt = client.restore(saved.latent, saved.shape, model="tiny")
        assert rebuilt.session != start.session and rebuilt.offset == (0, 0) and rebuilt.history_index == 0
        assert client.state(rebuilt.session).latent == saved.latent
        undone = client.drag(rebuilt.session, [((12.0, 8.0), (12.0, 8.0))], options=DragOptions(max_steps=1))
        assert undone.history_index == 1


def test_a_latent_that_does_not_fit_the_model_is_refused_and_the_daemon_keeps_serving() -> None:
    with running_daemon() as daemon, connect(daemon) as client:
        start = client.generate(seed=1)
        saved = client.state(start.session)
        rows, w_dim = saved.shape
        for latent, shape in ((bytes(4 * (rows - 1) * w_dim), (rows - 1, w_dim)),
                              (b"\xff\xff\xff\x7f" * rows * w_dim, (rows, w_dim))):  # wrong shape; NaN
            for session in (start.session, None):
                with pytest.raises(DragdError) as caught:
                    client.restore(latent, shape, session=session)
                assert caught.value.code == ErrorCode.BAD_REQUEST
        with pytest.raises(DragdError) as caught:
            client.restore(saved.latent, saved.shape, session="no-such-session")
        assert caught.value.code == ErrorCode.UNKNOWN_SESSION
        with pytest.raises(DragdError) as caught:
            client.restore(saved.latent, saved.shape, model="no-such-model")
        assert caught.value.code == ErrorCode.UNKNOWN_MODEL
        assert client.state(start.session).history_index == 0
