"""`dragd doctor`: checks an installation and explains it, one line per finding, each OK, WARN or FAIL.

    dragd doctor [--address ADDR] [--curve-keys DIR] [--krita-dir D] [--gimp-dir D]
                 [--krita-python PY] [--gimp-python PY]

Each check is a small function returning `Result`s; `run_checks` runs them in order and `exit_status` is 1
when any FAILed (something needed is broken), else 0. A WARN is worth knowing but does not stop a drag (no
GPU, an editor not installed, a daemon not running yet: the editors start it when needed).

Editor and Python discovery is the installer's (`dragd.install.editors`), so both agree on where things are.
"""

from __future__ import annotations

import os
import platform
import shlex
import shutil
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..install import editors, pip_steps
from ..install import install as installer
from ..install import krita as krita_step
from .transfer import sha256_of

if TYPE_CHECKING:
    from .models.registry import ModelInfo

OK, WARN, FAIL = "OK", "WARN", "FAIL"
MIN_PYTHON = installer.MIN_PYTHON


@dataclass(frozen=True)
class Result:
    status: str  # OK, WARN or FAIL
    topic: str
    text: str

    def line(self) -> str:
        return f"{self.status:<4}  {self.topic}: {self.text}"


@dataclass(frozen=True)
class Setup:
    """What to check: where the daemon is and where the editors are (None: found as the installer finds them)."""

    address: str | None = None  # None: $DRAGD_ADDRESS, else Krita's setting, else the protocol's default
    curve_keys: Path | None = None
    client_name: str = "client"
    krita_dir: Path | None = None
    gimp_dir: Path | None = None
    krita_python: Path | None = None
    gimp_python: Path | None = None
    timeout_s: float = 2.0


# ---- Python, torch, device --------------------------------------------------------------------------------------


def check_python() -> Result:
    version = sys.version.split()[0]
    if sys.version_info < MIN_PYTHON:
        return Result(FAIL, "Python", f"{version} at {sys.executable}; dragd needs {'.'.join(map(str, MIN_PYTHON))}+")
    return Result(OK, "Python", f"{version} at {sys.executable}")


def _required_torch() -> str | None:
    """The torch requirement dragd was installed with, from its metadata ("torch==2.13.0")."""
    import importlib.metadata

    try:
        requirements = importlib.metadata.requires("dragd") or []
    except importlib.metadata.PackageNotFoundError:
        return None
    return next((r for r in requirements if pip_steps.requirement_name(r) == "torch"), None)


def check_torch() -> Result:
    try:
        import torch
    except ImportError as exc:
        return Result(FAIL, "torch", f"cannot be imported ({exc}); run the installer again")
    build = f"CUDA {torch.version.cuda} build" if torch.version.cuda else "build without CUDA"
    wanted = _required_torch()
    pinned = wanted.split("==", 1)[1].strip() if wanted and "==" in wanted else None
    if pinned and torch.__version__.split("+")[0] != pinned:
        return Result(WARN, "torch", f"{torch.__version__}, {build}; dragd was tested with {pinned}")
    return Result(OK, "torch", f"{torch.__version__}, {build}")


def why_no_gpu(torch_cuda_version: str | None, gpus: Sequence[str], system: str, machine: str,
               mps_built: bool) -> str:
    """In words, why torch runs on the CPU here."""
    if system == "Darwin":
        if machine != "arm64":
            return "an Intel Mac has no GPU torch can use"
        return "MPS is unavailable (macOS 12.3 or newer is needed)" if mps_built else \
            "this torch build has no MPS support"
    if not gpus:
        return "no NVIDIA GPU or driver found (nvidia-smi is missing or lists none)"
    if torch_cuda_version is None:
        return (f"this is a CPU-only torch build, but {gpus[0]}: run the installer again with --torch cuda")
    return (f"torch is a CUDA {torch_cuda_version} build and {gpus[0]}, yet CUDA is unavailable: the driver may be "
            "too old for this build (nvidia-smi shows the CUDA version it supports)")


def check_device() -> Result:
    try:
        import torch

        from .device import describe_device, pick_device
    except ImportError:
        return Result(FAIL, "device", "unknown: torch cannot be imported")
    device = pick_device("auto")
    if device.type != "cpu":
        return Result(OK, "device", describe_device(device))
    reason = why_no_gpu(torch.version.cuda, pip_steps.nvidia_gpus(), platform.system(), platform.machine(),
                        torch.backends.mps.is_built())
    return Result(WARN, "device", f"CPU: drags run, but slowly; {reason}")


# ---- models -------------------------------------------------------------------------------------------------


def check_model(info: ModelInfo) -> Result:
    """One model: present, a safetensors file dragd can read (header only, nothing executed), and its checksum
    against the one recorded when it was installed (`dragd models download` / `add` write it to its sidecar)."""
    from safetensors import SafetensorError, safe_open

    topic = f"model {info.name}"
    if not Path(info.path).is_file():
        return Result(FAIL, topic, f"its file {info.path} is missing")
    try:
        with safe_open(str(info.path), framework="numpy") as weights:
            tensors = len(list(weights.keys()))
            has_config = "config" in (weights.metadata() or {})
    except (OSError, SafetensorError, ValueError) as exc:
        return Result(FAIL, topic, f"{info.path} is not a readable safetensors file ({exc})")
    if not has_config:
        return Result(FAIL, topic, f"{info.path} lacks its generator config (re-convert it with `dragd convert`)")
    digest = sha256_of(Path(info.path))
    if info.sha256 and info.sha256.lower() != digest:
        return Result(FAIL, topic, f"checksum mismatch: {info.path} has sha256 {digest[:16]}..., its record says "
                                   f"{info.sha256[:16]}...: the file changed or is damaged; download or add it again")
    checked = "matches its record" if info.sha256 else "no recorded checksum to compare"
    size = f"{info.resolution[1]}x{info.resolution[0]} px, " if info.resolution else ""
    return Result(OK, topic, f"{info.domain}, {size}{tensors} tensors, sha256 {digest[:16]}... ({checked})")


def check_faces() -> Result:
    """Face alignment for photos: dlib and its 68-point landmark model (the `faces` extra) load."""
    from .invert.align import _predictor_path, landmarks_available

    if landmarks_available():
        return Result(OK, "face alignment", f"dlib and its landmark model {_predictor_path()}")
    return Result(WARN, "face alignment", "not installed: photos of faces are edited without alignment, which "
                                          "fits them worse; run the dragd installer again (it adds it unless "
                                          "--no-faces), or `pip install dragd[faces]` in a developer checkout")


def check_catalogue(installed: Iterable[str]) -> Result:
    """Which of the catalogue's models could still be downloaded."""
    from .models.catalogue import CatalogueError, load_catalogue

    try:
        names = [name for name in load_catalogue() if name not in set(installed)]
    except CatalogueError as exc:
        return Result(WARN, "catalogue", str(exc))
    if not names:
        return Result(OK, "catalogue", "every model of the catalogue is installed")
    return Result(OK, "catalogue", f"{len(names)} more to download with `dragd models download NAME`: "
                                   f"{', '.join(names)}")


def check_models(list_models: Callable[[], Iterable[ModelInfo]] | None = None) -> list[Result]:
    from .models.registry import DEFAULT_MODEL, unusable_models, user_models_dir
    from .models.registry import list_models as registry_models

    models = list((list_models or registry_models)())
    # Files the registry leaves out (their header cannot be read) are named here too, as FAIL: the user put them
    # there to be used. Only the registry's own listing is asked for them, not a stand-in `list_models`.
    broken = unusable_models() if list_models is None else []
    results = [check_model(info) for info in [*models, *broken]]
    if not any(info.name == DEFAULT_MODEL for info in models):
        results.append(Result(FAIL, "models", f"the default model {DEFAULT_MODEL} is missing: reinstall dragd"))
    results.append(Result(OK, "models", f"{len(models)} installed; downloaded and added ones go to "
                                        f"{user_models_dir()}"))
    results.append(check_catalogue(info.name for info in models))
    return results


# ---- editors ------------------------------------------------------------------------------------------------


def _kritarc_value(kritarc: Path, group: str, key: str) -> str | None:
    """A value from kritarc (an INI file Krita writes); None when absent or unreadable."""
    try:
        lines = kritarc.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    current = None
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            current = stripped[1:-1]
        elif current == group and "=" in stripped:
            name, value = stripped.split("=", 1)
            if name.strip() == key:
                return value.strip()
    return None


def _command_found(command: str) -> bool:
    try:
        program = shlex.split(command)[0]
    except (ValueError, IndexError):
        return False
    return Path(program).is_file() if os.sep in program else shutil.which(program) is not None


def check_editor_python(editor: editors.Editor, override: Path | None) -> Result:
    """Whether the Python the editor runs plugins with imports pyzmq and msgpack (with the plugin's lib/ added)."""
    topic = f"{editor.name}'s Python"
    python = editors.editor_python(editor, override)
    if python.executable is None or python.version is None:
        return Result(WARN, topic, f"cannot be checked from here ({python.note or 'not found'}); if the plugin "
                                   "reports missing pyzmq or msgpack, run the installer again")
    missing = editors.missing_modules(python.executable, extra_paths=[editor.lib])
    if isinstance(missing, str):
        return Result(FAIL, topic, missing)
    if missing:
        what = ", ".join(f"{module} ({why})" for module, why in missing.items())
        return Result(FAIL, topic, f"{python.executable} (Python {python.version}) cannot import {what}; the plugin "
                                   "will not load. Fix: sudo apt install python3-zmq python3-msgpack (Debian/Ubuntu), "
                                   "or run the installer again to put wheels next to the plugin")
    return Result(OK, topic, f"{python.executable} (Python {python.version}) imports pyzmq and msgpack")


def check_krita(setup: Setup) -> list[Result]:
    editor = editors.find_krita(setup.krita_dir)
    if not editor.found:
        return [Result(WARN, "Krita", f"not found (no {editor.location}; start Krita once, then run the installer)")]
    kritarc = editor.settings or krita_step.default_kritarc()
    installed = (editor.plugin / "__init__.py").is_file()
    enabled = _kritarc_value(kritarc, "python", f"enable_{krita_step.PLUGIN_NAME}") == "true"
    results = []
    if not installed:
        results.append(Result(WARN, "Krita", f"found at {editor.location}, but the dragd plugin is not installed "
                                             "there: run the installer"))
    elif not enabled:
        results.append(Result(WARN, "Krita", f"plugin installed in {editor.plugin} but not enabled in {kritarc}: "
                                             "Settings > Configure Krita > Python Plugin Manager > DragGAN"))
    else:
        command = _kritarc_value(kritarc, "dragd", "daemon_command") or "dragd serve"
        results.append(Result(OK, "Krita", f"plugin installed in {editor.plugin} and enabled"))
        if not _command_found(command):
            results.append(Result(FAIL, "Krita", f"the command it starts the daemon with is missing: {command}; "
                                                 "run the installer again"))
    results.append(check_editor_python(editor, setup.krita_python))
    return results


def check_gimp(setup: Setup) -> list[Result]:
    editor = editors.find_gimp(setup.gimp_dir)
    if not editor.found:
        return [Result(WARN, "GIMP", f"not found (no {editor.location}; start GIMP 3 once, then run the installer)")]
    if not (editor.plugin / f"{editor.plugin.name}.py").is_file():
        results = [Result(WARN, "GIMP", f"found at {editor.location}, but the dragd plug-in is not installed there: "
                                        "run the installer")]
    else:
        results = [Result(OK, "GIMP", f"plug-in installed in {editor.plugin}")]
        command = os.environ.get("DRAGD_DAEMON_COMMAND") or "dragd"
        if not _command_found(command):
            results.append(Result(WARN, "GIMP", f"the plug-in cannot start the daemon by itself: `{command}` is not "
                                                "on PATH (log in again after installing, or start `dragd serve` "
                                                "before dragging)"))
    results.append(check_editor_python(editor, setup.gimp_python))
    return results


# ---- the daemon ---------------------------------------------------------------------------------------------


def daemon_address(setup: Setup) -> str:
    """As every dragd tool finds it (`protocol.transport.resolve_address`), Krita's setting as the configured one."""
    from ..protocol.transport import resolve_address

    return resolve_address(setup.address, _kritarc_value(krita_step.default_kritarc(), "dragd", "address"))


def check_address(address: str) -> Result:
    from .server.security import SecurityError, is_local_address

    try:
        where = "this computer only" if is_local_address(address) else "reachable from other computers"
    except SecurityError as exc:
        return Result(FAIL, "address", str(exc))
    return Result(OK, "address", f"{address} ({where})")


def check_security(address: str, curve_keys: Path | None, client_name: str = "client") -> Result:
    """Run after check_address passed: the address is well formed."""
    from .server.security import SecurityError, client_keys, is_local_address

    topic = "security"
    local = is_local_address(address)
    if curve_keys is not None:
        try:
            client_keys(curve_keys, client_name)
        except SecurityError as exc:
            return Result(FAIL, topic, str(exc))
        return Result(OK, topic, f"CurveZMQ: encrypted, and only clients authorised in {curve_keys} may connect")
    if local:
        from ..protocol.transport import keys_folder

        return Result(OK, topic, f"{address} is on this computer only; CurveZMQ with your own keys in "
                                 f"{keys_folder()} (made on first use, readable by you only): other users of this "
                                 "computer cannot connect")
    return Result(FAIL, topic, f"{address} may be reachable from other computers, but no CurveZMQ keys are "
                               "configured: create them with `dragd keys DIR`, serve with --curve-keys DIR and "
                               "check with --curve-keys DIR")


def check_daemon(address: str, curve_keys: Path | None, client_name: str = "client",
                 timeout_s: float = 2.0) -> Result:
    from ..protocol.errors import DragdError, DragdTimeout
    from .server.control import connect
    from .server.security import SecurityError

    topic = "daemon"
    try:
        client = connect(address, curve_keys, client_name, timeout_s)
    except (SecurityError, DragdError, OSError, ValueError) as exc:
        return Result(FAIL, topic, f"cannot connect to {address}: {exc}")
    try:
        hello = client.hello(timeout=timeout_s)
    except DragdTimeout:
        from .server.control import key_refusal
        from .server.security import is_local_address

        refusal = key_refusal(address, curve_keys, client_name, timeout_s)
        if refusal is not None:
            return Result(FAIL, topic, refusal)
        start = "the editors start one when they need it, or run `dragd serve`" if is_local_address(address) \
            else "start it on that computer with `dragd serve`"
        return Result(WARN, topic, f"no daemon answers at {address}: {start}")
    except DragdError as exc:
        return Result(FAIL, topic, f"the daemon at {address} answered with an error: {exc.message}")
    finally:
        client.close()
    models = ", ".join(model.name for model in hello.models) or "none"
    return Result(OK, topic, f"dragd {hello.daemon_version} answers at {address} (protocol {hello.protocol}, "
                             f"device {hello.device}, models: {models})")


# ---- all of it ----------------------------------------------------------------------------------------------


def run_checks(setup: Setup) -> list[Result]:
    address = daemon_address(setup)
    results = [check_python(), check_torch(), check_device(), *check_models(), check_faces(), *check_krita(setup),
               *check_gimp(setup), check_address(address)]
    if results[-1].status == FAIL:
        return results
    results.append(check_security(address, setup.curve_keys, setup.client_name))
    if results[-1].status != FAIL:
        results.append(check_daemon(address, setup.curve_keys, setup.client_name, setup.timeout_s))
    return results


def exit_status(results: Iterable[Result]) -> int:
    return 1 if any(result.status == FAIL for result in results) else 0


def summary(results: Sequence[Result]) -> str:
    failed = sum(r.status == FAIL for r in results)
    warned = sum(r.status == WARN for r in results)
    if failed:
        return f"{failed} problem(s) to fix (FAIL above), {warned} warning(s)"
    return f"everything needed works ({warned} warning(s))"
