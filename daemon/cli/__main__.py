"""`python -m dragd.daemon.cli ...` runs the `dragd` command line (the tests and editor set-ups use this form)."""

import sys

from . import main

sys.exit(main())
