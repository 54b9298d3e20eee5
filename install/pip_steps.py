"""Running pip for the installer (in the daemon's environment, logged, with a temporary HOME) and choosing the
torch build for this machine.

Standard library only, like install.py. Never name this `pip`: install.py runs as a file with this folder on
sys.path, where it would hide the real one.
"""

from __future__ import annotations

import json
import os
import platform as platform_module
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .common import InstallError

TORCH_CHOICES = ("auto", "cpu", "cuda", "mps", "skip")
# The CUDA wheels of torch live on PyTorch's own index (PyPI's Linux wheel bundles CUDA too, its Windows one
# does not); used only on a machine where nvidia-smi shows a GPU. --torch-index-url overrides it.
CUDA_INDEX_URL = "https://download.pytorch.org/whl/cu128"
FALLBACK_TORCH_REQUIREMENT = "torch==2.13.0"  # when the package's metadata cannot be read
PIP_TIMEOUT_S = 3600  # torch with CUDA is a few GB
SUBPROCESS_TIMEOUT_S = 60
# pip's lines worth showing while it works (all of its output goes to the log): what it fetches and installs.
PROGRESS_PREFIXES = ("Collecting ", "Downloading ", "Installing collected packages", "Successfully installed",
                     "Saved ", "Building wheel")


def user_pip_config(env: dict[str, str], home: Path) -> Path | None:
    """The user's own pip configuration file, if any (pip's per-user locations), so a temporary HOME keeps it."""
    if env.get("PIP_CONFIG_FILE"):
        return Path(env["PIP_CONFIG_FILE"])
    candidates = [Path(env.get("XDG_CONFIG_HOME") or home / ".config") / "pip" / "pip.conf", home / ".pip" / "pip.conf",
                  home / "Library" / "Application Support" / "pip" / "pip.conf"]
    if env.get("APPDATA"):
        candidates.append(Path(env["APPDATA"]) / "pip" / "pip.ini")
    return next((path for path in candidates if path.is_file()), None)


def pip_environment(temporary_home: Path, env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a pip run whose HOME is `temporary_home`, so that nothing pip starts writes into the
    user's home: a build backend, or a tool pip asks (it runs `rustc --version` for its user agent, and rustup's
    rustc creates ~/.rustup/settings.toml). The user's pip configuration and .netrc still apply."""
    env = dict(os.environ if env is None else env)
    home = Path(env.get("HOME") or env.get("USERPROFILE") or Path.home())
    config = user_pip_config(env, home)
    for key in ("XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "RUSTUP_HOME", "CARGO_HOME"):
        env.pop(key, None)
    env["HOME"] = str(temporary_home)
    if sys.platform == "win32":
        env["USERPROFILE"] = str(temporary_home)
    if config is not None:
        env["PIP_CONFIG_FILE"] = str(config)
    if "NETRC" not in env and (home / ".netrc").is_file():
        env["NETRC"] = str(home / ".netrc")  # credentials for a private index
    return env


@dataclass
class Pip:
    python: Path
    log: Path
    build_isolation: bool = True

    def run(self, args: Sequence[str], what: str) -> None:
        """Runs pip, its whole output into the log and what it fetches and installs onto the terminal."""
        print(f"  {what} ...", flush=True)
        argv = [str(self.python), "-m", "pip", *args]
        with self.log.open("a", encoding="utf-8") as log, \
                tempfile.TemporaryDirectory(prefix="dragd-pip-home-") as temporary_home:
            log.write(f"\n$ {' '.join(argv)}\n")
            log.flush()
            try:
                status = self._stream(argv, log, pip_environment(Path(temporary_home)))
            except (OSError, subprocess.SubprocessError) as exc:
                raise InstallError(f"{what} failed: {exc}") from None
        if status != 0:
            tail = "\n".join(self.log.read_text(encoding="utf-8", errors="replace").splitlines()[-25:])
            raise InstallError(f"{what} failed (pip exit status {status}); the end of {self.log}:\n{tail}")

    @staticmethod
    def _stream(argv: list[str], log, env: dict[str, str]) -> int:
        with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True,
                              encoding="utf-8", errors="replace") as process:
            watchdog = threading.Timer(PIP_TIMEOUT_S, process.kill)  # a pip that hangs without a word ends too
            watchdog.start()
            try:
                assert process.stdout is not None
                for line in process.stdout:
                    log.write(line)
                    if line.lstrip().startswith(PROGRESS_PREFIXES):
                        print(f"    {line.strip()[:110]}", flush=True)
                return process.wait()
            finally:
                watchdog.cancel()

    def install(self, args: Sequence[str], what: str) -> None:
        # --no-cache-dir: no copy of a multi-GB torch wheel left in the user's cache, nothing outside our folders
        isolation = [] if self.build_isolation else ["--no-build-isolation"]
        self.run(["install", "--no-cache-dir", "--disable-pip-version-check", "--progress-bar", "off", *isolation,
                  *args], what)


def package_requirements(python: Path, extra: str | None = None) -> list[str]:
    """The installed dragd's own requirements, or those of one of its extras (e.g. "faces"), without markers.

    Read from its metadata, so pyproject.toml stays the one source. Raises InstallError when unreadable.
    """
    code = ("import importlib.metadata as m, json; print(json.dumps(m.requires('dragd') or []))")
    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT_S)
    try:
        requirements = [str(r) for r in json.loads(done.stdout)]
    except ValueError:
        raise InstallError(f"cannot read dragd's requirements: {done.stderr.strip()[-300:]}") from None
    if extra is None:
        return [r for r in requirements if "extra ==" not in r]
    marker = f'extra == "{extra}"'
    return [r.split(";", 1)[0].strip() for r in requirements if r.replace("'", '"').endswith(marker)]


def installed_torch_build(python: Path) -> str | None:
    """"cuda" or "cpu" for the torch already in the environment of `python`; None when there is none."""
    code = "import torch; print('cuda' if torch.version.cuda else 'cpu')"
    try:
        done = subprocess.run([str(python), "-c", code], capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT_S)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def requirement_name(requirement: str) -> str:
    for stop in "<>=!~;[ (":
        requirement = requirement.split(stop, 1)[0]
    return requirement.strip().lower().replace("_", "-")


def site_packages(python: Path) -> Path:
    done = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT_S)
    if done.returncode != 0:
        raise InstallError(f"{python} does not run: {done.stderr.strip()[-300:]}")
    return Path(done.stdout.strip())


# ---- which torch ----------------------------------------------------------------------------------------------


def nvidia_gpus(run=subprocess.run) -> list[str]:
    """The GPUs `nvidia-smi -L` lists ("GPU 0: NVIDIA H100 ..."); empty without nvidia-smi or a working driver."""
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        listed = run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT_S)
    except (OSError, subprocess.SubprocessError):
        return []
    if listed.returncode != 0:
        return []
    return [line.strip() for line in listed.stdout.splitlines() if line.strip().startswith("GPU ")]


def choose_torch(requested: str, system: str | None = None, machine: str | None = None,
                 gpus: Sequence[str] | None = None) -> tuple[str, str]:
    """(variant, why): which torch build this machine gets. `auto` looks for an NVIDIA GPU, then Apple silicon."""
    if requested != "auto":
        return requested, "asked for with --torch"
    system = platform_module.system() if system is None else system
    machine = platform_module.machine() if machine is None else machine
    gpus = nvidia_gpus() if gpus is None else gpus
    if gpus and system in ("Linux", "Windows"):
        return "cuda", f"nvidia-smi shows {gpus[0]}"
    if system == "Darwin" and machine == "arm64":
        return "mps", "Apple silicon: the default torch wheel uses its GPU through MPS"
    if system == "Darwin":
        return "cpu", "an Intel Mac has no GPU torch can use"
    return "cpu", "no NVIDIA GPU found (nvidia-smi is missing or lists none)"


def torch_pip_args(variant: str, requirement: str, index_url: str | None) -> list[str]:
    """The `pip install` arguments for torch; empty for `skip`."""
    if variant == "skip":
        return []
    if variant == "cuda":
        index_url = index_url or CUDA_INDEX_URL
    return [requirement, *(["--index-url", index_url] if index_url else [])]
