"""The GIMP 3 plug-in: "DragGAN drag..." and "DragGAN settings..." (Filters > Distorts), "DragGAN new from
model..." (File > Create).

- `plug-ins/dragd/dragd.py`: the file GIMP runs; puts the vendored code on the path and calls `procedures.main`.
- `procedures.py`: the procedures GIMP lists, their arguments, dialogs, progress and return values.
- `adapter.py`: the GIMP calls on images (pixels at any precision, selection, paths, layers, parasites, undo).
- `drag.py`: what a procedure does, in plain Python, on the shared `protocol` client and editor helpers;
  `session.py`: which daemon state a drag starts from (the layer's binding parasite).
- `options.py`: the procedures' options and their checks, and the check for pyzmq/msgpack (importable without
  either); `settings.py`: the settings file (daemon address and command).

`python -m dragd.install.gimp` installs it; tests/gimp_plugin/ tests it on fakes and in a real GIMP 3.
"""
