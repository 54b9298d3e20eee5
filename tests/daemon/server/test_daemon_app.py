"""The daemon over real sockets: sessions, concurrent clients, progress, cancel, undo/redo, errors."""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
import time
from pathlib import Path

import msgpack
import numpy as np
import pytest
import torch
from conftest import TINY, make_generator
from dragd.daemon.models.registry import ModelInfo
from dragd.daemon.server.jobs import render
from dragd.daemon.server.models import ModelCache
from dragd.daemon.server.persist import session_key
from dragd.protocol import DragOptions, DragProgress, Image, codec, messages
from dragd.protocol.errors import DragdError, ErrorCode
from server_fixtures import connect, expected_drag, raw_dealer, running_daemon


def pixels(image: Image) -> np.ndarray:
    return np.frombuffer(image.data, np.uint8).reshape(image.height, image.width, 4)


def raw_request(daemon, message: dict, timeout_ms: int = 5000) -> list[dict]:
    """Sends one message on a fresh DEALER and returns the decoded replies up to the final one."""
    socket = raw_dealer(daemon)
    try:
        socket.send(msgpack.packb(message))
        replies = []
        while socket.poll(timeout_ms):
            reply = codec.decode(socket.recv(), 1 << 30)
            replies.append(reply)
            if reply["type"] in ("result", "error"):
                return replies
        raise AssertionError(f"no final reply; got {replies}")
    finally:
        socket.close()


def test_a_portrait_model_is_listed_as_width_by_height():
    models = ModelCache(torch.device("cpu"), catalogue=lambda: [], default="portrait")
    models.register(ModelInfo("portrait", Path("portrait.safetensors")),
                    make_generator(dataclasses.replace(TINY, square=False)))  # 32 rows x 16 columns
    with running_daemon(models) as daemon, connect(daemon) as client:
        assert [(m.name, m.resolution) for m in client.list_models()] == [("portrait", (16, 32))]


def test_hello_lists_models_limits_and_capabilities():
    with running_daemon() as daemon, connect(daemon) as client:
        hello = client.hello()
        assert hello.protocol == 1 and hello.device == "cpu"
        assert [(m.name, m.resolution, m.default) for m in hello.models] == [("tiny", (32, 32), True)]
        assert hello.limits == daemon.config.limits
        assert {"generate", "drag", "undo", "previews"} <= set(hello.capabilities)
        assert client.ping().uptime_s >= 0
        assert [m.name for m in client.list_models()] == ["tiny"]


def test_generate_returns_the_seeds_image_as_rgba():
    with running_daemon() as daemon, connect(daemon) as client:
        result = client.generate(seed=3)
        generator = make_generator()
        expected = render(generator, generator.ws_for_seed(3, 0.7))
        image = pixels(result.image)
        assert (result.width, result.height, result.model) == (32, 32, "tiny")
        assert np.array_equal(image[..., :3], expected) and (image[..., 3] == 255).all()


def test_concurrent_clients_each_get_their_own_drag():
    jobs = {0: ((8.0, 8.0), (12.0, 10.0)), 1: ((20.0, 20.0), (16.0, 22.0)), 2: ((15.0, 9.0), (15.0, 14.0))}
    options = DragOptions(max_steps=40, preview_every=5)
    results, progress, errors = {}, {}, []
    with running_daemon() as daemon:
        def work(seed: int) -> None:
            try:
                with connect(daemon) as client:
                    session = client.generate(seed=seed).session
                    seen = progress.setdefault(seed, [])
                    results[seed] = (session, client.drag(session, [jobs[seed]], options=options,
                                                          on_progress=seen.append))
            except BaseException as exc:  # reported below, in the test's thread
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(seed,)) for seed in jobs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
    assert not errors
    assert len({session for session, _ in results.values()}) == 3
    for seed, (handle, target) in jobs.items():
        _, result = results[seed]
        expected = expected_drag(seed, [handle], [target], options)
        assert result.points == tuple(expected.points) and result.steps == expected.steps
        assert result.stopped == expected.stopped and np.array_equal(pixels(result.image)[..., :3], expected.image)
        steps = [p.step for p in progress[seed] if isinstance(p, DragProgress)]
        assert steps == list(range(1, result.steps + 1))
        previews = [p for p in progress[seed] if isinstance(p, DragProgress) and p.image is not None]
        assert [p.step for p in previews] == [s for s in steps if (s - 1) % 5 == 0]
        assert all(p.offset == (0, 0) and (p.image.width, p.image.height) == (32, 32) for p in previews)


def test_cancel_mid_drag_ends_with_the_result_so_far_and_keeps_it():
    with running_daemon() as daemon, connect(daemon) as client:
        session = client.generate(seed=0).session
        steps: list[int] = []

        def on_progress(update) -> None:
            if isinstance(update, DragProgress):
                steps.append(update.step)
                if update.step == 3:
                    threading.Thread(target=client.cancel).start()  # from another thread, as a plugin would

        result = client.drag(session, [((5.0, 5.0), (28.0, 28.0))], options=DragOptions(
            max_steps=2000, stop_distance=0.0), on_progress=on_progress)
        assert result.stopped == "cancelled" and not result.reached
        assert 3 <= result.steps <= 6, "cancel must take effect within about one step"
        assert result.history_index == 1
        undone = client.undo(session)
        assert undone.history_index == 0 and undone.can_redo


def test_ping_and_status_answer_while_a_drag_runs():
    with running_daemon() as daemon, connect(daemon) as dragger, connect(daemon, timeout=2) as watcher:
        session = dragger.generate(seed=0).session
        started = threading.Event()
        thread = threading.Thread(target=lambda: dragger.drag(
            session, [((5.0, 5.0), (28.0, 28.0))], options=DragOptions(max_steps=2000, stop_distance=0.0),
            on_progress=lambda update: isinstance(update, DragProgress) and started.set()))
        thread.start()
        assert started.wait(20)  # a step ran (a `waiting` notice may come first, while generate winds up)
        before = time.perf_counter()
        watcher.ping()
        assert watcher.status().running == "drag"
        assert time.perf_counter() - before < 1.0
        assert dragger.cancel()
        thread.join(20)


def test_cancel_of_a_waiting_request_fails_it_with_cancelled():
    with running_daemon() as daemon, connect(daemon) as first, connect(daemon) as second:
        session = first.generate(seed=0).session
        started = threading.Event()
        drag = threading.Thread(target=lambda: first.drag(
            session, [((5.0, 5.0), (28.0, 28.0))], options=DragOptions(max_steps=2000, stop_distance=0.0),
            on_progress=lambda update: started.set()))
        drag.start()
        assert started.wait(20)
        waiting: list = []
        outcome: list = []

        def generate() -> None:
            try:
                second.generate(seed=1)
            except DragdError as exc:
                outcome.append(exc.code)

        thread = threading.Thread(target=generate)
        thread.start()
        deadline = time.monotonic() + 10
        while not waiting and time.monotonic() < deadline:
            waiting = list(second.in_flight())
            time.sleep(0.01)
        time.sleep(0.2)  # let the generate reach the daemon's queue
        assert second.cancel(waiting[0])
        thread.join(10)
        assert outcome == [ErrorCode.CANCELLED]
        first.cancel()
        drag.join(20)


def test_undo_redo_walk_the_history_and_a_new_drag_drops_the_redo_tail():
    options = DragOptions(max_steps=15)
    with running_daemon() as daemon, connect(daemon) as client:
        start = client.generate(seed=2)
        first = client.drag(start.session, [((10.0, 10.0), (14.0, 10.0))], options=options)
        second = client.drag(start.session, [((20.0, 20.0), (20.0, 16.0))], options=options)
        assert (first.history_index, second.history_index) == (1, 2)
        back = client.undo(start.session)
        assert back.history_index == 1 and back.can_undo and back.can_redo
        assert np.array_equal(pixels(back.image), pixels(first.image))
        back = client.undo(start.session)
        assert back.history_index == 0 and not back.can_undo
        assert np.array_equal(pixels(back.image), pixels(start.image))
        with pytest.raises(DragdError) as caught:
            client.undo(start.session)
        assert caught.value.code == ErrorCode.BAD_REQUEST
        forward = client.redo(start.session)
        assert forward.history_index == 1 and np.array_equal(pixels(forward.image), pixels(first.image))
        again = client.drag(start.session, [((8.0, 20.0), (8.0, 24.0))], options=options)
        assert again.history_index == 2
        with pytest.raises(DragdError) as caught:
            client.redo(start.session)
        assert caught.value.code == ErrorCode.BAD_REQUEST


def test_a_client_that_vanishes_mid_drag_is_forgotten_and_its_session_freed_after_the_orphan_timeout(caplog):
    caplog.set_level(logging.INFO, "dragd.server")
    with running_daemon(orphan_timeout_s=2.0) as daemon, connect(daemon, timeout=5) as observer:
        leaver = connect(daemon)
        session = leaver.generate(seed=0).session
        steps: list[int] = []

        def on_progress(update) -> None:
            if not isinstance(update, DragProgress):  # a `waiting` keepalive may come first (SPEC: Liveness)
                return
            steps.append(update.step)
            if len(steps) == 3:
                raise KeyboardInterrupt  # the plugin dies: no cancel gets through, the socket closes

        leaver._cancel_quietly = lambda rid: None  # a crash sends nothing more
        with pytest.raises(KeyboardInterrupt):
            leaver.drag(session, [((5.0, 5.0), (28.0, 28.0))], options=DragOptions(
                max_steps=2000, stop_distance=0.0), on_progress=on_progress)
        leaver.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # the drag is cancelled; the session stays, orphaned, for now
            status = observer.status()
            if status.running is None and any(r.getMessage() == "client_gone" for r in caplog.records):
                break
            time.sleep(0.05)
        assert (status.sessions, status.running) == (1, None)
        while time.monotonic() < deadline:  # ... until it went 2 s without use
            status = observer.status()
            if status.sessions == 0:
                break
            time.sleep(0.05)
        assert status.sessions == 0
        with pytest.raises(DragdError) as caught:
            observer.undo(session)
        assert caught.value.code == ErrorCode.UNKNOWN_SESSION and "after its client left" in caught.value.message
    gone = [r for r in caplog.records if r.getMessage() == "client_gone"]
    assert [(r.fields["why"], r.fields["sessions"]) for r in gone] == [("its client disconnected", 1)]
    # logged by its key, never by its id (a capability)
    evicted = [r.fields["session"] for r in caplog.records if r.getMessage() == "session_evicted"]
    assert evicted == [session_key(session)]
    assert not any(session in str(getattr(r, "fields", "")) for r in caplog.records)


def test_a_session_id_is_a_capability_another_connection_resumes_it():
    options = DragOptions(max_steps=5)
    with running_daemon() as daemon:
        with connect(daemon) as first:
            start = first.generate(seed=2)
            dragged = first.drag(start.session, [((10.0, 10.0), (14.0, 10.0))], options=options)
        with connect(daemon) as second:  # a new connection (GIMP: the next plug-in process) with the id
            back = second.undo(start.session)
            assert back.history_index == 0 and np.array_equal(pixels(back.image), pixels(start.image))
            again = second.redo(start.session)
            assert np.array_equal(pixels(again.image), pixels(dragged.image))
            assert second.heartbeat([start.session, "no-such-session"]) == (start.session,)
            second.close_session(start.session)
            assert second.status().sessions == 0


def test_errors_for_bad_requests_leave_the_daemon_serving():
    with running_daemon() as daemon, connect(daemon) as client:
        session = client.generate(seed=0).session
        cases = [
            (lambda: client.generate(seed=0, model="nope"), ErrorCode.UNKNOWN_MODEL),
            (lambda: client.drag("no-such-session", [((1, 1), (2, 2))]), ErrorCode.UNKNOWN_SESSION),
            (lambda: client.drag(session, [((1, 1), (200, 2))]), ErrorCode.BAD_REQUEST),  # outside the image
            (lambda: client.drag(session, [((1, 1), (2, 2))], mask=Image.filled("L", 8, 8, 255)),
             ErrorCode.BAD_REQUEST),  # mask of the wrong size
            (lambda: client.open_session(Image.filled("RGBA", 4, 4, (1, 2, 3, 255))), ErrorCode.BAD_REQUEST),
            (lambda: client.close_session("no-such-session"), ErrorCode.UNKNOWN_SESSION),
        ]
        for call, code in cases:
            with pytest.raises(DragdError) as caught:
                call()
            assert caught.value.code == code, caught.value
        client.close_session(session)
        with pytest.raises(DragdError) as caught:
            client.undo(session)
        assert caught.value.code == ErrorCode.UNKNOWN_SESSION and "closed by its client" in caught.value.message
        assert client.generate(seed=1).width == 32


def test_nan_coordinates_and_wrong_types_get_bad_request_replies():
    with running_daemon() as daemon:
        base = {"v": 1, "id": 7, "type": "drag", "session": "x"}
        nan = raw_request(daemon, base | {"points": [{"handle": [float("nan"), 1.0], "target": [1.0, 1.0]}]})
        wrong = raw_request(daemon, base | {"points": "everywhere"})
        missing = raw_request(daemon, {"v": 1, "id": 8, "type": "generate"})
        unknown = raw_request(daemon, {"v": 1, "id": 9, "type": "teleport"})
        for replies, code in ((nan, "bad_request"), (wrong, "bad_request"), (missing, "bad_request"),
                              (unknown, "unsupported")):
            assert replies[-1]["type"] == "error" and replies[-1]["code"] == code, replies
            messages.validate_reply(replies[-1])
        assert nan[-1]["id"] == 7 and "points[0].handle[0]" in nan[-1]["message"]


def test_an_unexpected_exception_in_a_job_is_an_internal_error_and_the_worker_goes_on():
    with running_daemon() as daemon, connect(daemon) as client:
        def broken(job, request):
            raise RuntimeError("simulated bug")

        original, daemon.work.generate = daemon.work.generate, broken
        with pytest.raises(DragdError) as caught:
            client.generate(seed=0)
        assert caught.value.code == ErrorCode.INTERNAL and "simulated bug" in caught.value.message
        daemon.work.generate = original
        assert client.generate(seed=0).width == 32


def test_version_mismatch_is_a_clear_error():
    with running_daemon() as daemon:
        hello = raw_request(daemon, {"v": 1, "id": 1, "type": "hello", "client": "old plugin", "protocol": 99})
        envelope = raw_request(daemon, {"v": 2, "id": 2, "type": "ping"})
        for replies in (hello, envelope):
            error = messages.validate_reply(replies[-1])
            assert error.kind == "error" and error.body.code == ErrorCode.VERSION_MISMATCH
            assert "not supported" in error.body.message and error.body.details["daemon"] == 1


def test_embedded_model_generates_and_drags_through_the_daemon():
    with running_daemon(models=ModelCache(torch.device("cpu"))) as daemon, connect(daemon, timeout=60) as client:
        default = [m for m in client.hello().models if m.default]
        assert [(m.name, m.resolution) for m in default] == [("faces-128-cpu", (128, 128))]
        start = client.generate(seed=0)
        assert (start.width, start.model) == (128, "faces-128-cpu")
        result = client.drag(start.session, [((76.0, 89.0), (80.0, 87.0))], options=DragOptions(max_steps=30))
        assert result.steps >= 1 and math.dist(result.points[0], (80, 87)) < math.dist((76, 89), (80, 87))
        assert not np.array_equal(pixels(result.image), pixels(start.image))


def test_a_cancelled_running_generate_opens_no_session():
    loading = threading.Event()

    def slow_loader(info, device):
        loading.set()
        time.sleep(1.0)  # a model loading from disk
        return make_generator()

    slow = ModelInfo("slow", Path("slow.safetensors"))
    models = ModelCache(torch.device("cpu"), loader=slow_loader, catalogue=lambda: [slow], default="slow")
    with running_daemon(models=models) as daemon, connect(daemon) as client:
        outcome = []

        def generate() -> None:
            try:
                client.generate(seed=0)
            except DragdError as exc:
                outcome.append(exc.code)

        thread = threading.Thread(target=generate)
        thread.start()
        assert loading.wait(10)
        [request_id] = client.in_flight()
        assert client.cancel(request_id)
        thread.join(10)
        assert outcome == [ErrorCode.CANCELLED] and client.status().sessions == 0
        assert client.generate(seed=0).model == "slow"  # loaded once; works after the cancelled one


@pytest.mark.parametrize("stop_by", ["shutdown", "signal SIGTERM"])
def test_shutdown_cancels_running_and_waiting_requests_and_answers_everyone(caplog, stop_by):
    caplog.set_level(logging.INFO, "dragd.server")
    with running_daemon() as daemon, connect(daemon) as dragger, connect(daemon) as other:
        session = dragger.generate(seed=0).session
        started, results = threading.Event(), {}

        def drag() -> None:
            results["drag"] = dragger.drag(session, [((5.0, 5.0), (28.0, 28.0))], options=DragOptions(
                max_steps=2000, stop_distance=0.0), on_progress=lambda update: started.set())

        def generate() -> None:
            try:
                other.generate(seed=1)
            except DragdError as exc:
                results["generate"] = exc.code

        threads = [threading.Thread(target=drag)]
        threads[0].start()
        assert started.wait(20)
        threads.append(threading.Thread(target=generate))
        threads[1].start()
        time.sleep(0.3)  # the generate is now waiting behind the drag
        if stop_by == "shutdown":
            with connect(daemon) as admin:
                admin.shutdown()
        else:
            daemon.request_stop(stop_by)  # what `dragd serve`'s signal handler does
        for thread in threads:
            thread.join(20)
        assert results["drag"].stopped == "cancelled" and results["generate"] == ErrorCode.CANCELLED
    cancels = {r.fields["type"]: r.fields for r in caplog.records if r.getMessage() == "job_cancelled"}
    assert cancels.keys() == {"drag", "generate"}  # the running one too, and why
    assert cancels["drag"]["state"] == "running" and cancels["generate"]["state"] == "waiting"
    assert all("shutting down" in c["why"] and (stop_by in c["why"] or stop_by == "shutdown")
               for c in cancels.values())


def test_a_bad_model_file_and_an_empty_model_name_get_their_own_codes(tmp_path):
    """A listed model whose file cannot be used is `bad_model` (not `internal`); "" is no model name."""
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{damaged header")
    catalogue = [ModelInfo("broken", broken, resolution=(32, 32))]
    models = ModelCache(torch.device("cpu"), catalogue=lambda: catalogue, default="tiny")
    models.register(ModelInfo("tiny", Path("tiny.safetensors"), resolution=(32, 32)), make_generator())
    with running_daemon(models) as daemon, connect(daemon) as client:
        with pytest.raises(DragdError) as caught:
            client.generate(seed=0, model="broken")
        assert caught.value.code == ErrorCode.BAD_MODEL and "cannot be used" in caught.value.message
        with pytest.raises(DragdError) as caught:
            client.generate(seed=0, model="")
        assert caught.value.code == ErrorCode.UNKNOWN_MODEL and "empty" in caught.value.message
        assert client.generate(seed=0).width == 32  # still serving


def test_a_stylegan3_model_generates_and_drags_through_the_daemon():
    from conftest import make_stylegan3_generator

    generator = make_stylegan3_generator()
    models = ModelCache(torch.device("cpu"), catalogue=lambda: [], default="sg3")
    models.register(ModelInfo("sg3", Path("sg3.safetensors"), default_step_size=0.02, resolution=(16, 16)), generator)
    with running_daemon(models) as daemon, connect(daemon) as client:
        assert [m.name for m in client.hello().models] == ["sg3"]
        start = client.generate(seed=0)
        assert (start.width, start.height) == (16, 16)
        dragged = client.drag(start.session, [((5.0, 8.0), (10.0, 8.0))], options=DragOptions(max_steps=40))
        assert dragged.stopped == "reached" and not np.array_equal(pixels(dragged.image), pixels(start.image))


def test_a_model_with_nan_weights_is_bad_model_and_the_daemon_keeps_serving(tmp_path):
    from dragd.daemon.models.canonical import write_canonical
    from dragd.daemon.models.checkpoint import Checkpoint

    generator = make_generator()
    state = {key: value.detach().clone() for key, value in generator.state_dict().items()}
    state["mapping.fc0.weight"][0, 0] = float("nan")
    path = tmp_path / "nan.safetensors"
    write_canonical(Checkpoint(generator.cfg, state, "test"), path)
    catalogue = [ModelInfo("nan", path, resolution=(32, 32))]
    models = ModelCache(torch.device("cpu"), catalogue=lambda: catalogue, default="tiny")
    models.register(ModelInfo("tiny", Path("tiny.safetensors"), resolution=(32, 32)), generator)
    with running_daemon(models) as daemon, connect(daemon) as client:
        with pytest.raises(DragdError) as caught:
            client.generate(seed=0, model="nan")
        assert caught.value.code == ErrorCode.BAD_MODEL and "NaN or infinite" in caught.value.message
        assert client.generate(seed=0).width == 32  # still serving
