"""`state` and `restore`: the daemon's side of the editors' state bindings (protocol/binding.py).

An editor stores, beside each layer dragd made, the latent of the state that layer shows. `state` hands a
session's current latent out; `restore` takes one back: as a new state of a live session (the editor's own
undo brought an older layer back: no inversion, the session's generator is kept), or, after a daemon restart,
as a new generated session of the named model (a generated picture is its latent and its model, so nothing is
lost). Sessions opened from a layer keep a tuned generator the latent does not hold; the editor re-inverts those.

Both run on the worker thread (they touch the session's tensors) through `Handlers.enqueue`; see SPEC.md.
"""

from __future__ import annotations

import numpy as np
import torch

from ...protocol import messages as m
from ...protocol.errors import DragdError, ErrorCode
from .jobs import INFO, TorchWork, patch, render
from .logs import log, log_event
from .sessions import ModelFrame
from .worker import Job

REQUESTS = ("state", "restore")


def latent_bytes(ws: torch.Tensor) -> bytes:
    """[1, num_ws, w_dim] -> float32 little-endian bytes, row-major."""
    return np.ascontiguousarray(ws.detach()[0].to("cpu", torch.float32).numpy(), dtype="<f4").tobytes()


def latent_tensor(data: bytes, shape: tuple[int, int], expected: tuple[int, int],
                  device: torch.device) -> torch.Tensor:
    """The request's latent as [1, num_ws, w_dim] on `device`; bad_request when it does not fit the model."""
    if tuple(shape) != expected:
        raise DragdError(ErrorCode.BAD_REQUEST, f"the latent is {shape[0]}x{shape[1]}, but this model takes "
                                                f"{expected[0]}x{expected[1]} (num_ws x w_dim)")
    values = np.frombuffer(data, dtype="<f4").reshape(shape)
    if not np.isfinite(values).all():
        raise DragdError(ErrorCode.BAD_REQUEST, "the latent holds values that are not finite")
    return torch.from_numpy(values.astype(np.float32)).to(device).unsqueeze(0)


def state(work: TorchWork, job: Job, request: m.Request) -> None:
    body: m.StateRequest = request.body
    with work._using(job, body.session) as session:
        ws = session.ws
        work.send(job.client, request.result(m.StateResult(
            session.model.info.name, session.index, latent_bytes(ws), (ws.shape[1], ws.shape[2]),
            not isinstance(session.frame, ModelFrame))))


def restore(work: TorchWork, job: Job, request: m.Request) -> None:
    body: m.RestoreRequest = request.body
    if body.session is not None:
        with work._using(job, body.session) as session:
            generator = session.frame.generator
            ws = latent_tensor(body.latent, body.shape, (session.ws.shape[1], session.ws.shape[2]),
                               session.ws.device)
            image = render(generator, ws)
            session.push(ws, image)
            work.completed(session)  # saved, like a drag's result
            pixels, offset = patch(session, image)
            log_event(log, INFO, "state_restored", session=session.key, index=session.index)
            work.send(job.client, request.result(m.RestoreResult(
                session.id, pixels, offset, session.index, session.model.info.name)))
        return
    work.sessions.check_room(job.user)
    model = work.models.get(body.model)
    generator = model.generator
    ws = latent_tensor(body.latent, body.shape, (generator.cfg.num_ws, generator.cfg.w_dim),
                       work.models.device)
    image = render(generator, ws)
    session = work.sessions.create(job.user, job.client, model, ws, image)
    log_event(log, INFO, "session_opened", session=session.key, model=model.info.name, restored=True,
              peer=job.client.hex())
    pixels, offset = patch(session, image)
    work.send(job.client, request.result(m.RestoreResult(session.id, pixels, offset, 0, model.info.name)))
