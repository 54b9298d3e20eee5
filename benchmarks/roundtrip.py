"""What the daemon's wire costs next to the work it carries: a 512x512 RGBA image over loopback vs a drag step.

A daemon runs on a thread of this process, serving a random-weight 512 px generator (NVIDIA's channel
counts), and a `DragdClient` talks to it over tcp://127.0.0.1 like a plugin does. Printed as JSON:

- upload_s: a 512x512 RGBA image client -> daemon: an `open_session` naming a model the daemon does not have,
  answered `unknown_model` by the worker after the daemon decoded and validated the whole image, queued the
  request and checked the layer (no inversion runs), request to final reply;
- download_s: a 512x512 RGBA image daemon -> client: `generate` on a stand-in model whose synthesis returns
  a stored image at once, so what is timed is the daemon's real path (queue, worker, session, tensor -> RGBA,
  encode, socket) and the client's (decode, validate), without the network's forward pass; it includes the
  `close_session` that follows each one (about one ping_s);
- ping_s: a request with no payload, the fixed cost of one request -> reply;
- roundtrip_s: upload_s + download_s, one 512x512 RGBA image client -> daemon -> client;
- codec_s: msgpack encode + decode + validate of a drag result carrying the image (pure CPU, no socket);
- drag_step_s: one optimisation step of a drag on the same generator, measured in the daemon as the time
  between progress messages (no previews), and drag_step_in_process_s with `DragRun` directly.

    .venv/bin/python benchmarks/roundtrip.py [--device cpu|cuda] [--repeats 20] [--steps 5] [--threads N]

Torch runs as `dragd serve` runs it: dragd's thread policy (one thread per core, passive OpenMP wait) is applied
before torch loads; `--threads` sets the count. Both are printed.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

from dragd.daemon.device import apply_thread_policy

POLICY = apply_thread_policy()  # before torch loads, as `dragd serve` does

import numpy as np  # noqa: E402
import torch  # noqa: E402
from dragd.daemon.device import describe_device, pick_device  # noqa: E402
from dragd.daemon.engine.drag import DragOptions as EngineOptions  # noqa: E402
from dragd.daemon.engine.drag import DragRun  # noqa: E402
from dragd.daemon.models.registry import ModelInfo  # noqa: E402
from dragd.daemon.models.stylegan2 import Generator, GeneratorConfig  # noqa: E402
from dragd.daemon.server.app import Daemon  # noqa: E402
from dragd.daemon.server.config import ServerConfig  # noqa: E402
from dragd.daemon.server.jobs import rgba  # noqa: E402
from dragd.daemon.server.models import ModelCache  # noqa: E402
from dragd.protocol import DragdClient, DragdError, DragOptions, DragProgress, Image, codec, messages  # noqa: E402

SIZE = 512
HANDLE, TARGET = (SIZE * 0.4, SIZE * 0.5), (SIZE * 0.6, SIZE * 0.5)


class StoredImage(torch.nn.Module):
    """Quacks like a Generator for `generate`: the same latent and image for every seed, instantly."""

    def __init__(self, image: torch.Tensor, ws: torch.Tensor) -> None:
        super().__init__()
        self.image, self.ws = image, ws
        self.img_resolution = image.shape[-1]
        self.img_shape = (image.shape[-2], image.shape[-1])  # (height, width), as Generator.img_shape

    def ws_for_seed(self, seed: int, truncation_psi: float = 0.7) -> torch.Tensor:
        return self.ws

    def synthesis(self, ws: torch.Tensor) -> torch.Tensor:
        return self.image


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_time(call, repeats: int, device: torch.device | None = None) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        if device is not None:
            sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


NO_MODEL = "not-a-model"  # upload: the daemon takes the whole image, then refuses before any inversion


def upload(client: DragdClient, image: Image) -> None:
    try:
        client.open_session(image, model=NO_MODEL)
    except DragdError as exc:
        assert exc.code == "unknown_model", exc
    else:
        raise AssertionError(f"open_session on {NO_MODEL!r} opened a session")


def codec_round(image: Image) -> None:
    result = messages.DragResult(10, ((1.0, 2.0),), True, "reached", image, (0, 0), 1)
    message = messages.result_message(1, "drag", result)
    messages.validate_reply(codec.decode(codec.encode(message), 1 << 30))


def download(client: DragdClient) -> None:
    result = client.generate(seed=0, model="stored-512")
    assert result.image.nbytes == SIZE * SIZE * 4
    client.close_session(result.session)


def daemon_step_time(client: DragdClient, session: str, steps: int) -> float:
    stamps: list[float] = []

    def on_progress(update: object) -> None:
        if isinstance(update, DragProgress):
            stamps.append(time.perf_counter())

    client.drag(session, [(HANDLE, TARGET)], options=DragOptions(max_steps=steps + 2, stop_distance=0.0),
                on_progress=on_progress)
    return statistics.median(np.diff(stamps[1:]))  # the first step also builds the tracking references


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: one per core)")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)

    torch.manual_seed(0)
    generator = Generator(GeneratorConfig(img_resolution=SIZE)).to(device).eval().requires_grad_(False)
    models = ModelCache(device, catalogue=lambda: [], default="random-512")
    models.register(ModelInfo("random-512", Path("random-512"), default_step_size=2e-3), generator)
    with torch.no_grad():
        ws = generator.ws_for_seed(0, 0.7)
        stored = StoredImage(generator.synthesis(ws), ws)
    models.register(ModelInfo("stored-512", Path("stored-512")), stored)
    daemon = Daemon(ServerConfig(address="tcp://127.0.0.1:*"), models)
    thread = daemon.start_in_thread()
    pixels = np.random.default_rng(0).integers(0, 256, (SIZE, SIZE, 4), dtype=np.uint8)
    image = rgba(pixels)
    try:
        with DragdClient(daemon.endpoint, 120) as client:
            client.hello()
            ping_s = median_time(client.ping, args.repeats)
            upload(client, image)  # warm-up
            upload_s = median_time(lambda: upload(client, image), args.repeats)
            download_s = median_time(lambda: download(client), args.repeats)
            session = client.generate(seed=0, model="random-512").session
            daemon_step_s = daemon_step_time(client, session, args.steps)
            codec_s = median_time(lambda: codec_round(image), args.repeats)
    finally:
        daemon.request_stop()
        thread.join(30)

    run = DragRun(generator, generator.ws_for_seed(0, 0.7), [HANDLE], [TARGET], None,
                  EngineOptions(step_size=2e-3, max_steps=args.steps + 2, stop_distance=0.0))
    steps = run.steps()
    next(steps), next(steps)  # warm-up, as benchmarks/drag_step.py does
    in_process_step_s = median_time(lambda: next(steps), args.steps, device)
    print(json.dumps({
        "image": f"{SIZE}x{SIZE} RGBA ({SIZE * SIZE * 4} bytes)", "transport": "tcp://127.0.0.1",
        "device": describe_device(device), "cpu": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(), "wait_policy": POLICY.wait_policy,
        "ping_s": round(ping_s, 5), "upload_s": round(upload_s, 5), "download_s": round(download_s, 5),
        "roundtrip_s": round(upload_s + download_s, 5), "codec_s": round(codec_s, 5),
        "drag_step_s": round(daemon_step_s, 5), "drag_step_in_process_s": round(in_process_step_s, 5),
        "roundtrip_over_step": round((upload_s + download_s) / daemon_step_s, 4),
    }, indent=1))


if __name__ == "__main__":
    main()
