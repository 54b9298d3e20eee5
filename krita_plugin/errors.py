"""The plugin's own error: a document it cannot work on. Raised by the adapter, shown by the controller."""


class CanvasError(Exception):
    """A document or layer the plugin cannot use; the message says why and what to do, for the user."""
