"""The GIMP 3 plug-in: "DragGAN drag..." (Filters > Distorts) and "DragGAN new from model..." (File > Create).

- `plug-ins/dragd/dragd.py`: the file GIMP runs; puts the vendored code on the path and calls `adapter.main`.
- `adapter.py`: every GIMP call (pixels, selection, paths, layers, undo groups, dialogs, progress, procedures).
- `drag.py`: what a procedure does, in plain Python, on the shared `protocol` client and editor helpers.
- `options.py`: the procedures' options and the check for pyzmq/msgpack (importable without either).

`python -m dragd.install.gimp` installs it; tests/gimp_plugin/ tests it on fakes and in a real GIMP 3.
"""
