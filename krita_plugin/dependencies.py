"""Whether Krita's Python can run the plugin: it needs pyzmq and msgpack (the protocol package imports both).

Standard library only, so the docker can say what is missing before anything imports `protocol`.
"""

from __future__ import annotations

import importlib.util
import sys

INSTALL_HINT = (
    "On Debian or Ubuntu: sudo apt install python3-zmq python3-msgpack (Krita uses the system Python there). "
    "On Fedora: sudo dnf install python3-zmq python3-msgpack. For a Krita that bundles its own Python "
    "(Windows, macOS, AppImage, Flatpak), run the dragd installer again: it puts matching wheels into the "
    "plugin's lib folder. Then restart Krita."
)


def missing_dependencies() -> str | None:
    """None when pyzmq and msgpack import in this Python; else a message saying exactly what to install."""
    missing = [package for module, package in (("zmq", "pyzmq"), ("msgpack", "msgpack"))
               if importlib.util.find_spec(module) is None]
    if not missing:
        return None
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    return (f"DragGAN needs {' and '.join(missing)} in Krita's Python (Python {version}, {sys.executable or 'built in'}"
            f"), and cannot find {'them' if len(missing) > 1 else 'it'}. {INSTALL_HINT}")
