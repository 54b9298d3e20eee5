#!/usr/bin/env sh
# dragd installer for Linux and macOS: finds a Python 3.10 or newer (with venv) and runs install/install.py,
# which does the work. Options go through unchanged, e.g.:
#   install/install.sh                      # daemon environment + torch for this machine + Krita/GIMP plugins
#   install/install.sh --torch cpu          # force the CPU build of torch
#   install/install.sh --uninstall          # remove everything it added
#   install/install.sh --help               # all options
# $DRAGD_PYTHON names the Python to use, if the one found is not the right one.
set -eu
here=$(cd "$(dirname "$0")" && pwd)

suitable() {
    "$1" -c 'import sys, venv; sys.exit(0 if sys.version_info >= (3, 10) else 1)' >/dev/null 2>&1
}

for candidate in ${DRAGD_PYTHON:-} python3 python3.13 python3.12 python3.11 python3.10 python; do
    if command -v "$candidate" >/dev/null 2>&1 && suitable "$candidate"; then
        exec "$candidate" "$here/install.py" "$@"
    fi
done
echo "dragd needs Python 3.10 or newer with its venv module, and none was found." >&2
echo "  Debian/Ubuntu: sudo apt install python3 python3-venv   macOS: https://www.python.org/downloads/" >&2
echo "  or name one: DRAGD_PYTHON=/path/to/python3 $0 $*" >&2
exit 1
