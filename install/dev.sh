#!/usr/bin/env bash
# Developer entry point: builds the project's virtual environment (.venv) if needed, then
#   bash install/dev.sh demo   -> headless drags on the embedded default model (a generated face and a
#                                 real photo), written to out/demo/
#   bash install/dev.sh test   -> the whole test suite
#   bash install/dev.sh env    -> only the environment
# Needs python3 (3.10 or newer) with venv; torch is pinned to 2.13.0 (a CPU wheel on these machines).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=.venv
stamp=$VENV/.dragd-installed
if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV"
fi
# Reinstall when pyproject.toml changed since the last install.
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    echo "installing dragd and its dependencies into $VENV (torch alone is a few hundred MB: minutes on a first"
    echo "run; pip's whole log: $VENV/install.log)"
    # Everything into the log; what pip fetches and installs onto the terminal as it happens.
    # (pipefail: the pipeline fails when pip does)
    if ! "$VENV/bin/python" -m pip install --progress-bar off -e ".[test,faces]" 2>&1 | tee "$VENV/install.log" \
        | { grep --line-buffered -E '^(Collecting|Downloading|Installing collected|Successfully installed)' || true; } \
        | awk '{ print "  " substr($0, 1, 110); fflush() }'; then
        tail -30 "$VENV/install.log" >&2
        echo "install failed; the whole log is in $VENV/install.log" >&2
        exit 1
    fi
    touch "$stamp"
fi
cmd=${1:-env}
shift || true
case "$cmd" in
    env) echo "environment ready: $VENV" ;;
    demo)
        mkdir -p out/demo
        echo "dragging seed 0 of the embedded face model (up to 150 steps; a progress line follows)"
        "$VENV/bin/dragd" drag --seed 0 --points "76,89:86,84" --steps 150 --gif \
            --out out/demo/drag.png "$@"
        echo "wrote out/demo/: drag.png (result), drag_before_after.png, drag.gif, drag.json, drag.npy"
        # A real photo (public domain, docs/photos/README.md): invert the face (fewer steps than the default
        # 200/100/100, for a quick demo), make it smile, carry the photo's own pixels along.
        echo "dragging on a photo, docs/photos/astronaut.jpg: inversion, then up to 60 steps"
        "$VENV/bin/dragd" drag --image docs/photos/astronaut.jpg --region 172,72,106,106 \
            --points "201,139:195,133;246,141:252,135" --steps 60 --w-steps 100 --wplus-steps 50 \
            --tuning-steps 50 --out out/demo/photo.png
        echo "wrote out/demo/: photo.png (the photo, edited), photo_before_after.png, photo_inversion.png, photo.json"
        ;;
    test) exec "$VENV/bin/python" -m pytest "$@" ;;
    *) echo "usage: bash install/dev.sh [env|demo|test] [args...]" >&2; exit 2 ;;
esac
