"""The `dragd` argument parser: every command and option, with its help text and default.

Imports no command's dependencies (the command modules import torch and friends inside their functions), so
`dragd --help` and a mistyped option answer at once.
"""

from __future__ import annotations

import argparse

from ...protocol.limits import DEFAULT_ADDRESS, DEFAULT_TRUNCATION
from ..server.config import InversionSteps
from .drag import cmd_drag, cmd_generate
from .inputs import device, non_negative_float, non_negative_int, positive_float, positive_int, seed, truncation
from .models import cmd_convert, cmd_models, cmd_models_add, cmd_models_download
from .service import cmd_doctor, cmd_keys, cmd_serve, cmd_status, cmd_stop


def parse_inversion_steps(text: str) -> InversionSteps:
    """'W,WPLUS,TUNING' -> the inversion's step counts; argparse reports a malformed value."""
    try:
        w, wplus, tuning = (int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected W,WPLUS,TUNING step counts, got {text!r}") from None
    if min(w, wplus, tuning) < 0 or max(w, wplus, tuning) > 100_000:
        raise argparse.ArgumentTypeError("step counts must be in [0, 100000]")
    return InversionSteps(w, wplus, tuning)


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose mistakes are one line (argparse prints its whole usage first), exit status 2."""

    def error(self, message: str):  # type: ignore[override]  # argparse's own signature, which never returns
        self.exit(2, f"{self.prog}: error: {message} (`{self.prog} --help` lists the options)\n")


def add_cpu_args(p: argparse.ArgumentParser) -> None:
    """How torch uses the CPU (daemon/device.py, apply_thread_policy): main() applies it before torch loads."""
    p.add_argument("--threads", type=positive_int,
                   help="torch's CPU threads (default: $OMP_NUM_THREADS, else one per core)")
    p.add_argument("--wait-policy", choices=("passive", "active"),
                   help="OpenMP threads sleep (passive, the default unless $OMP_WAIT_POLICY says otherwise) or "
                        "spin between tasks (active: a little faster on an idle machine, much slower on a busy one)")


def add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", help="model name (see `dragd models`) or checkpoint path; default: the embedded one")
    p.add_argument("--device", type=device, default="auto", help="auto (default), cpu, cuda, cuda:N or mps")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="dragd", description="DragGAN for Krita and GIMP: engine, daemon, tools")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("generate", help="render a seed to a PNG (and its latent to .npy)")
    add_model_args(p)
    add_cpu_args(p)
    p.add_argument("--seed", type=seed, required=True, help="0 to 4294967295, as NVIDIA's tools read it")
    p.add_argument("--trunc", type=truncation, default=DEFAULT_TRUNCATION,
                   help=f"truncation psi (default {DEFAULT_TRUNCATION}, as DragGAN)")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("drag", help="drag handle points to targets on a generated image, headless")
    add_model_args(p)
    add_cpu_args(p)
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--seed", type=seed, help="a generated image: 0 to 4294967295")
    source.add_argument("--latent", help="W or W+ latent: .npy (from `dragd generate` or an earlier drag), .npz, "
                        "or a torch tensor file such as PTI's w_pivot.pt")
    source.add_argument("--image", help="a photo: invert it, drag there (points in photo pixels), paste back")
    p.add_argument("--latent-key", help="which array of a .npz (or dict torch file) --latent holding several is")
    p.add_argument("--trunc", type=truncation, help=f"truncation psi with --seed (default {DEFAULT_TRUNCATION})")
    p.add_argument("--points", required=True, help="'hx,hy:tx,ty;...' in pixels (centre of top-left pixel = 0,0)")
    p.add_argument("--mask", help="PNG of the image's size: light (>= 128) may move, dark stays; "
                   "transparent pixels stay too (alpha < 128)")
    p.add_argument("--steps", type=non_negative_int, default=300, help="maximum optimisation steps (default 300)")
    p.add_argument("--step-size", type=positive_float, help="Adam step size (default: the model's, 2e-3 for faces)")
    p.add_argument("--latent-space", choices=("w+", "w"), default="w+")
    p.add_argument("--trainable-layers", type=positive_int, default=6, help="latents optimised (default 6)")
    p.add_argument("--feature-block", type=non_negative_int,
                   help="synthesis block for features (0 = 4 px); default: model's")
    p.add_argument("--r1", type=positive_float, help="motion supervision radius (default round(3/512*size))")
    p.add_argument("--r2", type=positive_int, help="tracking search half-size (default round(12/512*size))")
    p.add_argument("--mask-strength", type=non_negative_float,
                   help="lambda of the fixed-region term (default: model's, else 20)")
    p.add_argument("--stop-distance", type=non_negative_float, help="px; default 1 for up to 5 handles, else 2")
    p.add_argument("--tracking-norm", choices=("l2", "l1"), default="l2")
    p.add_argument("--motion-supervision", choices=("paper", "reference"), default="paper",
                   help="the paper's sg(F(q)) vs F(q+d) (default) or DragGAN's code: F(q) vs sg(F(q-d))")
    p.add_argument("--compute", choices=("windowed", "full"), default="windowed",
                   help="windowed: the last blocks only around the handles (default); full: whole feature maps "
                        "(same result, slower; for comparison)")
    p.add_argument("--gif", action="store_true", help="also write an animation of the drag")
    p.add_argument("--preview-every", type=non_negative_int, default=0,
                   help="GIF frame every N steps (default: ~40 frames)")
    p.add_argument("--out", required=True, help="result PNG; .json, _before_after.png, .gif (with --gif) beside "
                                                "it, and the latent .npy for a generated image")
    photo = p.add_argument_group("only with --image (GAN inversion and paste-back)")
    photo_only = [  # each defaults to None, so that giving one without --image is refused, not ignored
        photo.add_argument("--region", help="X,Y,W,H in photo pixels to edit (default: the whole photo)"),
        photo.add_argument("--w-steps", type=non_negative_int, help="projection steps in W (default 200)"),
        photo.add_argument("--wplus-steps", type=non_negative_int, help="projection steps in W+ (default 100)"),
        photo.add_argument("--tuning-steps", type=non_negative_int, help="pivotal tuning steps (default 100)"),
        photo.add_argument("--align", choices=("auto", "plain"),
                           help="auto (default): align faces for face models; plain: never"),
        photo.add_argument("--feather", type=non_negative_int,
                           help="paste-back feather width in photo pixels (default: 4%% of the region)"),
        photo.add_argument("--paste", choices=("carry", "reconstruction"),
                           help="carry (default): move the photo's own pixels along the edit, keeping its detail; "
                                "reconstruction: paste the generator's picture instead (for comparison)"),
    ]
    p.set_defaults(func=cmd_drag, photo_only=tuple((a.dest, a.option_strings[0]) for a in photo_only))

    p = sub.add_parser("convert", help="convert any supported checkpoint to dragd's safetensors format")
    p.add_argument("src")
    p.add_argument("dst")
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("models", help="list, download and add models (plain `dragd models` lists them)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--fetch-lpips", action="store_true",
                   help="download the LPIPS/VGG16 weights photo inversion uses (about 530 MB, checksummed)")
    p.set_defaults(func=cmd_models)
    models_sub = p.add_subparsers(dest="models_command", metavar="{list,download,add}")
    m = models_sub.add_parser("list", help="installed models: name, domain, resolution, step size, file")
    m.add_argument("--json", action="store_true", default=argparse.SUPPRESS)
    m.add_argument("--catalogue", action="store_true", help="also describe every model that can be downloaded")
    m.set_defaults(func=cmd_models, fetch_lpips=False)
    m = models_sub.add_parser("download", help="download a catalogue model, check it, convert it, install it")
    m.add_argument("name", help="a name from `dragd models list --catalogue`")
    m.add_argument("--force", action="store_true", help="replace the model if it is installed")
    m.set_defaults(func=cmd_models_download)
    m = models_sub.add_parser("add", help="install a checkpoint of your own (NVIDIA/TF .pkl, rosinality .pt, "
                                          "safetensors)")
    m.add_argument("file")
    m.add_argument("--name", required=True, help="the model's name (letters, digits, '.', '_', '-')")
    m.add_argument("--domain", default="unknown", help="what it makes, e.g. faces, cars, cats (sets the step size)")
    m.add_argument("--step-size", type=positive_float,
                   help="default drag step size (default: 2e-3 for faces, cats, cars; else 1e-3)")
    m.add_argument("--licence", default="unknown")
    m.add_argument("--description")
    m.add_argument("--force", action="store_true", help="replace a model of that name")
    m.set_defaults(func=cmd_models_add)
    address_help = f"tcp://HOST:PORT or ipc://PATH (default: $DRAGD_ADDRESS, else {DEFAULT_ADDRESS})"
    p = sub.add_parser("serve", help="run the daemon the editor plugins talk to")
    p.add_argument("--address", help=address_help)
    p.add_argument("--device", type=device, default="auto", help="auto (default), cpu, cuda, cuda:N or mps")
    add_cpu_args(p)
    p.add_argument("--model", action="append", help="load this model at start (repeatable)")
    p.add_argument("--curve-keys", help="folder from `dragd keys`: admit only its clients (default: the user's "
                                        "own keys, made on first run); required for a non-loopback address")
    p.add_argument("--state-dir", help="where sessions are saved across restarts (default: $DRAGD_STATE_DIR, "
                                       "else the user's state folder)")
    p.add_argument("--log-file", help="JSON-lines log (default: the user log folder, or $DRAGD_LOG_DIR)")
    p.add_argument("--client-timeout", type=positive_float, default=60.0,
                   help="seconds without a message after which an idle client counts as gone (default 60)")
    p.add_argument("--orphan-timeout", type=positive_float, default=600.0,
                   help="seconds a gone client's sessions are kept after their last use, for a new connection to "
                        "resume them with their ids (default 600)")
    p.add_argument("--inversion-steps", type=parse_inversion_steps, default="200,100,100",
                   help="open_session's default steps: W,WPLUS,TUNING (projection in W, in W+, pivotal tuning; "
                        "default 200,100,100); a request may set its own")
    p.set_defaults(func=cmd_serve)

    for name, func, text in (("status", cmd_status, "show what a running daemon is doing"),
                             ("stop", cmd_stop, "ask a running daemon to shut down")):
        p = sub.add_parser(name, help=text)
        p.add_argument("--address", help=address_help)
        p.add_argument("--curve-keys", help="keys folder, for a daemon served with --curve-keys")
        p.add_argument("--client", default="client", help="client key name in that folder (default 'client')")
        p.add_argument("--timeout", type=positive_float, default=5.0, help="seconds to wait for an answer (default 5)")
        p.set_defaults(func=func)

    p = sub.add_parser("keys", help="create CurveZMQ keys: the daemon's pair and an authorised client's pair")
    p.add_argument("folder")
    p.add_argument("--client", default="client", help="name of the client key pair (default 'client')")
    p.set_defaults(func=cmd_keys)

    p = sub.add_parser("doctor", help="check the installation line by line: Python, torch, device, models, "
                                      "editors, daemon; exit status 1 when something needed is broken")
    p.add_argument("--address", help="the daemon's address (default: $DRAGD_ADDRESS, Krita's setting, or "
                                     f"{DEFAULT_ADDRESS})")
    p.add_argument("--curve-keys", help="keys folder from `dragd keys`, for a daemon served with --curve-keys")
    p.add_argument("--client", default="client", help="client key name in that folder (default 'client')")
    p.add_argument("--timeout", type=positive_float, default=2.0, help="seconds to wait for the daemon (default 2)")
    p.add_argument("--krita-dir", help="Krita's resource folder, if not the usual one")
    p.add_argument("--gimp-dir", help="GIMP 3's profile folder, if not the usual one")
    p.add_argument("--krita-python", help="the Python Krita runs plugins with, if not the one found")
    p.add_argument("--gimp-python", help="the Python GIMP runs plug-ins with, if not the one found")
    p.set_defaults(func=cmd_doctor)
    return parser
