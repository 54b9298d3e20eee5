"""The requests that run torch, executed on the worker thread: generate, open_session, drag, undo, redo, model
preloading.

Each method does its work and sends its own final reply (and progress on the way) through `send`; an
exception it raises is turned into an error reply by `describe_failure`. Pixels cross between numpy and the
wire's `Image` here, and only here. Points, masks and images go through the session's `frame`, so a session
opened from a user's layer (`inverted.py`) works in that layer's pixels like a generated one in the model's.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch

from ...protocol import messages as m
from ...protocol.errors import DragdError, ErrorCode
from ...protocol.images import Image
from ..engine.drag import DragInputError, DragOptions, DragRun, with_model_defaults
from ..invert.lpips import LpipsVgg, LpipsWeightsError, load_lpips
from ..models.stylegan2 import Generator, to_uint8_image
from .config import InversionSteps
from .inverted import check_layer, inversion_options, invert_layer
from .logs import log, log_event
from .models import ModelCache, ModelNotFound
from .sessions import Session, SessionStore
from .worker import Job

INFO = 20
Send = Callable[[bytes, dict[str, Any]], None]


def rgba(pixels: np.ndarray) -> Image:
    """H x W x 3 (or 4) uint8 -> an RGBA wire image (opaque when there is no alpha)."""
    height, width, channels = pixels.shape
    if channels == 3:
        pixels = np.concatenate([pixels, np.full((height, width, 1), 255, np.uint8)], axis=2)
    return Image.rgba(width, height, np.ascontiguousarray(pixels).tobytes())


def mask_levels(mask: Image) -> np.ndarray:
    """An L wire mask -> H x W uint8 (for open_session: the selection, whose softness weights the edit)."""
    rows = np.frombuffer(mask.data, np.uint8, count=mask.stride * mask.height).reshape(mask.height, mask.stride)
    return rows[:, :mask.width].copy()


def movable_region(mask: Image) -> np.ndarray:
    """An L wire mask -> H x W bool, True where the image may move."""
    return mask_levels(mask) != 0


def layer_pixels(image: Image) -> np.ndarray:
    """An RGBA wire image -> H x W x 4 uint8 (a copy: the frame's bytes belong to the socket)."""
    rows = np.frombuffer(image.data, np.uint8, count=image.stride * image.height).reshape(image.height,
                                                                                         image.stride)
    return rows[:, :image.width * 4].reshape(image.height, image.width, 4).copy()


def patch(session: Session, model_rgb: np.ndarray) -> tuple[Image, tuple[int, int]]:
    """What a client gets of a model picture: its part of the session frame, and where it goes."""
    pixels, offset = session.frame.patch(model_rgb)
    return rgba(pixels), offset


def render(generator: Generator, ws: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return to_uint8_image(generator.synthesis(ws))


def engine_options(options: m.DragOptions) -> DragOptions:
    return DragOptions(
        step_size=options.step_size, latent_space=options.latent_space, feature_block=options.feature_block,
        r1=options.r1, r2=None if options.r2 is None else round(options.r2), mask_strength=options.mask_strength,
        stop_distance=options.stop_distance, max_steps=options.max_steps,
    )


def drag_run(session: Session, body: m.DragRequest) -> DragRun:
    """The engine's drag for a `drag` request on `session`, from its current state, in the model's pixels."""
    info = session.model.info
    options = with_model_defaults(engine_options(body.options), info.default_step_size, info.feature_block,
                                  info.mask_strength)
    frame = session.frame
    mask = None if body.mask is None else frame.mask_to_model(movable_region(body.mask))
    handles = frame.to_model([pair.handle for pair in body.points])
    targets = frame.to_model([pair.target for pair in body.points])
    return DragRun(frame.generator, session.ws, handles, targets, mask, options, m.pair_keys(body.points))


def describe_failure(exc: BaseException) -> tuple[str, str, bool]:
    """(error code, message for the user, whether it is a bug worth a traceback in the log)."""
    if isinstance(exc, DragdError):
        return exc.code, exc.message, False
    if isinstance(exc, DragInputError):
        return ErrorCode.BAD_REQUEST, str(exc), False
    if isinstance(exc, ModelNotFound):
        return ErrorCode.UNKNOWN_MODEL, str(exc), False
    if isinstance(exc, torch.OutOfMemoryError):
        return ErrorCode.INTERNAL, "the device ran out of memory; close sessions or use a smaller model", True
    from ..models.checkpoint import CheckpointError

    if isinstance(exc, CheckpointError):
        return ErrorCode.BAD_MODEL, f"the model file cannot be used: {exc}", False
    return ErrorCode.INTERNAL, f"unexpected error in the daemon: {type(exc).__name__}: {exc}", True


class TorchWork:
    def __init__(self, models: ModelCache, sessions: SessionStore, send: Send,
                 inversion_steps: InversionSteps | None = None) -> None:
        self.models = models
        self.sessions = sessions
        self.send = send
        self.inversion_steps = inversion_steps or InversionSteps()
        self._lpips: dict[str, LpipsVgg | None] = {}  # device -> the perceptual network, None: not installed

    @contextlib.contextmanager
    def _using(self, job: Job, session_id: str) -> Iterator[Session]:
        """The client's session, marked busy (never evicted) while the job works on it."""
        session = self.acquire(job, session_id)
        try:
            yield session
        finally:
            self.release(session)

    def acquire(self, job: Job, session_id: str) -> Session:
        """The client's session, marked busy (never evicted) until `release`."""
        with self.sessions.lock:
            session = self.sessions.get(job.user, job.client, session_id)
            session.holders += 1
        return session

    def release(self, session: Session) -> None:
        with self.sessions.lock:
            session.holders -= 1
            session.last_used = self.sessions.clock()  # idle (and orphan) time counts from the job's end
        self.sessions.enforce_budget(keep=session)

    def preload(self, name: str) -> None:
        self.models.get(name)

    def generate(self, job: Job, request: m.Request) -> None:
        body: m.GenerateRequest = request.body
        self.sessions.check_room(job.user)  # before the work, so a refused client costs nothing
        model = self.models.get(body.model)
        ws = model.generator.ws_for_seed(body.seed, body.truncation)
        image = render(model.generator, ws)
        if job.cancelled:  # SPEC: a cancelled generate opens no session and ends with `cancelled`
            raise DragdError(ErrorCode.CANCELLED, "generate was cancelled")
        session = self.sessions.create(job.user, job.client, model, ws, image)
        log_event(log, INFO, "session_opened", session=session.key, model=model.info.name, seed=body.seed,
                  peer=job.client.hex())
        height, width = image.shape[:2]
        self.send(job.client, request.result(m.GenerateResult(session.id, rgba(image), width, height,
                                                              model.info.name)))

    def lpips(self) -> LpipsVgg | None:
        key = str(self.models.device)
        if key not in self._lpips:
            try:
                self._lpips[key] = load_lpips(device=self.models.device)
            except LpipsWeightsError as exc:  # broken files: invert without, and say why in the log
                log_event(log, 30, "lpips_unusable", error=str(exc)[:500])
                self._lpips[key] = None
        return self._lpips[key]

    def open_session(self, job: Job, request: m.Request) -> None:
        body: m.OpenSessionRequest = request.body
        self.sessions.check_room(job.user)
        layer, mask = layer_pixels(body.image), None if body.mask is None else mask_levels(body.mask)
        check_layer(layer, body.region, mask)  # before the model loads (seconds, on a first use)
        model = self.models.get(body.model)

        def on_progress(stage: str, step: int, total: int) -> None:
            job.noticed_at = time.monotonic()
            self.send(job.client, request.progress(m.InversionProgress(stage, step, total)))

        started = time.monotonic()
        opened = invert_layer(model, layer, body.region, mask,
                              inversion_options(body.options, self.inversion_steps), self.lpips(), on_progress,
                              lambda: job.cancelled)
        if job.cancelled:  # cancelled after the last step: as for generate, no session
            raise DragdError(ErrorCode.CANCELLED, "open_session was cancelled")
        session = self.sessions.create(job.user, job.client, model, opened.ws, opened.reconstruction, opened.frame)
        log_event(log, INFO, "session_opened", session=session.key, model=model.info.name, inverted=True,
                  psnr=round(opened.quality.psnr, 2), seconds=round(time.monotonic() - started, 3),
                  bytes=session.estimated_bytes(), peer=job.client.hex())
        image, offset = patch(session, opened.reconstruction)
        self.send(job.client, request.result(m.OpenSessionResult(
            session.id, image, offset, opened.quality, opened.transform, opened.notes, model.info.name)))

    def drag(self, job: Job, request: m.Request) -> None:
        body: m.DragRequest = request.body
        with self._using(job, body.session) as session:
            frame, before = session.frame, session.image
            run = drag_run(session, body)
            started = time.monotonic()
            job.on_cancel(run.cancel)
            self.sessions.mark_running(session, "drag")  # until it ends: a crash before then is reported
            try:
                self._run_drag(job, request, session, run)
            except BaseException:
                self.sessions.clear_running(session)
                raise
            result = run.result
            assert result is not None
            log_event(log, INFO, "drag_done", session=session.key, steps=result.steps, stopped=result.stopped,
                      seconds=round(time.monotonic() - started, 3))
            session.push(result.ws, result.image)  # a cancelled drag keeps what it reached, as an undo step
            self.completed(session)
            image, offset = patch(session, result.image)
            points = frame.final_points(before, result.image, [pair.handle for pair in body.points], result.points)
            self.send(job.client, request.result(m.DragResult(
                result.steps, tuple(points), result.reached, result.stopped, image, offset, session.index)))

    def _run_drag(self, job: Job, request: m.Request, session: Session, run: DragRun) -> None:
        frame = session.frame
        body: m.DragRequest = request.body
        for step in run.steps(preview_every=body.options.preview_every):
            if step.done:
                break
            preview, offset = (None, None) if step.image is None else patch(session, step.image)
            job.noticed_at = time.monotonic()  # progress is a sign of life: no keepalive needed
            self.send(job.client, request.progress(m.DragProgress(
                step.step + 1, tuple(frame.to_frame(step.points)), step.loss, preview, offset)))

    def completed(self, session: Session) -> None:
        """An operation on `session` completed: saved before its reply goes out, so a crash after the reply
        cannot lose it; a restart's news (`interrupted`) is old now."""
        session.interrupted = None
        self.sessions.save(session)

    def undo(self, job: Job, request: m.Request) -> None:
        self._move_in_history(job, request, -1)

    def redo(self, job: Job, request: m.Request) -> None:
        self._move_in_history(job, request, +1)

    def _move_in_history(self, job: Job, request: m.Request, delta: int) -> None:
        with self._using(job, request.body.session) as session:
            if not 0 <= session.index + delta < len(session.history):
                raise DragdError(ErrorCode.BAD_REQUEST, f"nothing to {request.type} in this session")
            session.index += delta
            session.image = render(session.frame.generator, session.ws)
            self.completed(session)
            image, offset = patch(session, session.image)
            self.send(job.client, request.result(m.HistoryResult(
                image, offset, session.index, session.can_undo, session.can_redo)))
