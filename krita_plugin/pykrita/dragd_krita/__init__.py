"""The package Krita loads (pykrita/dragd_krita). The installer puts the plugin's code next to this file as
`dragd/krita_plugin` and `dragd/protocol` (the same relative layout as in the repository), and wheels for a
Krita that bundles its own Python under `lib/`.
"""

import os
import sys

_lib = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib")
if os.path.isdir(_lib) and _lib not in sys.path:
    sys.path.append(_lib)  # after the system's own packages: those win where both exist

from .dragd.krita_plugin.docker import register  # noqa: E402 - needs lib/ on the path first

register()
