"""The engine's one input error (its own module so that every engine module can raise it without a cycle)."""


class DragInputError(ValueError):
    """Points, mask or options that cannot describe a drag."""
