"""What CurveZMQ (on every dragd connection) costs a 512x512 RGBA image round trip over loopback.

A ROUTER echoes each frame back to a DEALER, both set up by `protocol.transport` exactly as the daemon and
`DragdClient` are, over tcp://127.0.0.1 (and ipc:// where it exists); once with CurveZMQ, once in plaintext (the
socket options without keys, which dragd no longer uses), interleaved so both see the same machine load. The
frame is a msgpack-encoded drag result carrying the image (1 MiB of pixels), as the daemon sends it. Printed as
JSON: median seconds per round trip (client -> daemon -> client: the image crosses the socket twice) and the
difference.

    .venv/bin/python benchmarks/curve_cost.py [--repeats 200]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time

import numpy as np
import zmq
from dragd.protocol import Image, codec, messages
from dragd.protocol.limits import DEFAULT_LIMITS
from dragd.protocol.transport import ClientKeys, dealer_socket, router_socket

SIZE = 512


def frame() -> bytes:
    pixels = np.random.default_rng(0).integers(0, 256, SIZE * SIZE * 4, dtype=np.uint8).tobytes()
    result = messages.DragResult(10, ((1.0, 2.0),), True, "reached", Image.rgba(SIZE, SIZE, pixels), (0, 0), 1)
    return codec.encode(messages.result_message(1, "drag", result))


def echo_pair(context: zmq.Context, address: str, curve: bool) -> tuple[zmq.Socket, zmq.Socket, threading.Thread]:
    server_public, server_secret = zmq.curve_keypair()
    router = router_socket(context, address, DEFAULT_LIMITS, curve_secret_key=server_secret if curve else None)
    endpoint = router.getsockopt_string(zmq.LAST_ENDPOINT)
    if curve:
        dealer = dealer_socket(context, endpoint, ClientKeys(server_public, *zmq.curve_keypair()),
                               max_reply_bytes=1 << 30)
    else:
        dealer = context.socket(zmq.DEALER)
        dealer.setsockopt(zmq.LINGER, 0)
        dealer.connect(endpoint)

    def serve() -> None:
        while True:
            try:
                parts = router.recv_multipart(copy=False)
            except zmq.ContextTerminated:
                return
            if parts[1].bytes == b"stop":
                router.close(linger=0)
                return
            router.send_multipart(parts, copy=False)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return router, dealer, thread


def round_trip(dealer: zmq.Socket, payload: bytes) -> float:
    started = time.perf_counter()
    dealer.send(payload, copy=False)
    reply = dealer.recv(copy=False)
    elapsed = time.perf_counter() - started
    assert len(reply) == len(payload)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    payload = frame()
    context = zmq.Context()
    report: dict[str, object] = {"frame_bytes": len(payload), "repeats": args.repeats}
    addresses = {"tcp": "tcp://127.0.0.1:*"}
    if zmq.has("ipc"):
        addresses["ipc"] = f"ipc://{tempfile.mkdtemp(prefix='dragd-curve-')}/echo"
    for name, address in addresses.items():
        pairs = {curve: echo_pair(context, address.replace("echo", f"echo{int(curve)}"), curve)
                 for curve in (True, False)}
        times: dict[bool, list[float]] = {True: [], False: []}
        for curve in (True, False):  # warm-up: the CurveZMQ handshake, first buffers
            round_trip(pairs[curve][1], payload)
        for _ in range(args.repeats):
            for curve in (True, False):
                times[curve].append(round_trip(pairs[curve][1], payload))
        for _router, dealer, thread in pairs.values():
            dealer.send(b"stop")
            thread.join(5)
            dealer.close(linger=0)
        curve_s, plain_s = statistics.median(times[True]), statistics.median(times[False])
        report[name] = {"curve_s": round(curve_s, 5), "plaintext_s": round(plain_s, 5),
                        "curve_extra_s": round(curve_s - plain_s, 5)}
    context.term()
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
