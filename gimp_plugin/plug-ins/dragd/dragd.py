#!/usr/bin/env python3
"""The file GIMP 3 runs: `GIMP3_DIRECTORY/plug-ins/dragd/dragd.py` (GIMP wants the file named after its folder).

It only puts the vendored code next to it (`lib/dragd/gimp_plugin`, `lib/dragd/protocol`, placed there by
`python -m dragd.install.gimp`) on the import path and hands over to `procedures.main`, which registers the
procedures with GIMP.
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.realpath(__file__)), "lib"))

from dragd.gimp_plugin.procedures import main  # noqa: E402 - the path above must come first

main(sys.argv)
