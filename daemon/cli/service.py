"""`dragd serve | status | stop | keys | doctor`: the daemon's own commands; the work is in server/control.py."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from pathlib import Path

from .errors import CliError


def cmd_serve(args: argparse.Namespace) -> int:
    from ...protocol.transport import resolve_address
    from ..server.config import ServerConfig
    from ..server.control import default_state_dir, serve

    config = ServerConfig(address=resolve_address(args.address), device=args.device,
                          preload=tuple(args.model or ()),
                          curve_keys=Path(args.curve_keys) if args.curve_keys else None,
                          client_timeout_s=args.client_timeout, orphan_timeout_s=args.orphan_timeout,
                          inversion_steps=args.inversion_steps,
                          state_dir=Path(args.state_dir) if args.state_dir else default_state_dir())
    serve(config, Path(args.log_file) if args.log_file else None)
    return 0


def _connect(args: argparse.Namespace):
    """A client for the daemon at --address (else found as every tool finds it); CliError at once when nothing
    listens there or the daemon there turns our keys away (no 5 s wait)."""
    from ...protocol.transport import AddressError, parse_daemon_address, resolve_address
    from ..server.control import connect, curve_handshake, nothing_listens, refusal

    args.address = resolve_address(args.address)
    try:  # the same check as `dragd serve`'s: one address, one verdict
        parse_daemon_address(args.address)
    except AddressError as exc:
        raise CliError(str(exc)) from None
    if nothing_listens(args.address):
        raise CliError(f"no dragd daemon at {args.address}: nothing listens there (`dragd serve` starts one)")
    keys = Path(args.curve_keys) if args.curve_keys else None
    args.handshake = curve_handshake(args.address, keys, args.client, min(args.timeout, 1.0))
    refused = refusal(args.address, args.handshake, keys, args.client)
    if refused is not None:  # else a request would time out as if no daemon were there
        raise CliError(refused)
    return connect(args.address, keys, args.client, args.timeout)


@contextlib.contextmanager
def _silence_explained(args: argparse.Namespace) -> Iterator[None]:
    """A timeout here comes after `_connect` saw something listen: not "is it running?" (then `dragd serve` would
    only find the address in use) but a daemon still starting or stuck (it completed the CurveZMQ handshake), or
    another program on the port (nothing did)."""
    from ...protocol.errors import DragdTimeout

    try:
        yield
    except DragdTimeout:
        if args.handshake != "ok":  # no ZMTP peer completed a handshake: something else has the port
            raise CliError(f"something listens at {args.address} but does not answer as a dragd daemon (another "
                           "program on that port?); check the address") from None
        raise CliError(f"the daemon at {args.address} gave no answer within {args.timeout:g} s: it may still be "
                       "starting (loading torch and its models takes seconds) or be stuck; try again in a moment, "
                       "or give it longer with --timeout") from None


def cmd_status(args: argparse.Namespace) -> int:
    from ..server.control import status_lines

    with _connect(args) as client, _silence_explained(args):
        print("\n".join(status_lines(client)))
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    from ..server.control import stop

    with _connect(args) as client, _silence_explained(args):
        stop(client)
    print(f"dragd at {args.address} is stopping")
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    from ..server.control import keys

    if not args.folder.strip():  # Path("") is the current folder: its files would sit among the secrets
        raise CliError("the keys folder name is empty; name a folder of its own, e.g. `dragd keys ~/dragd-keys`")
    print("\n".join(keys(Path(args.folder), args.client)))
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from ..doctor import Setup, exit_status, run_checks, summary

    optional = {name: Path(getattr(args, name)) if getattr(args, name) else None
                for name in ("curve_keys", "krita_dir", "gimp_dir", "krita_python", "gimp_python")}
    results = run_checks(Setup(address=args.address, client_name=args.client, timeout_s=args.timeout, **optional))
    for result in results:
        print(result.line(), flush=True)
    print(summary(results))
    return exit_status(results)
