"""What the Krita docker says: its sentences in one place (the daemon's errors in words, layer kinds it cannot
drag, how to draw; result layer names are protocol.texts.next_result_name). Plain Python."""

from __future__ import annotations

from ..protocol.errors import DragdError, ErrorCode
from ..protocol.texts import BAD_MODEL_ADVICE

POINTS_LAYER_NAME = "DragGAN points"
HOW_TO_DRAW = (f"Draw each drag as a line on the \"{POINTS_LAYER_NAME}\" layer with Krita's line or path tool: "
               "start on what should move (the handle), end where it should go (the target).")
LIVE_HOW = ("Move a line's end (the target) on the points layer, or draw a new line: the picture follows. Commit "
            "(or Live off) keeps it as a new layer; Stop discards it.")
WRITE_HELD = ("The drag ended while another document was in front: its result is written into its document when "
              "you show that document again.")
LIVE_UNSUPPORTED = ("This dragd daemon cannot drag live (it is older than this plugin): update dragd (run its "
                    "installer again). Drag works as before.")

_KINDS = {
    "vectorlayer": "a vector layer (shapes or text)",
    "grouplayer": "a group",
    "filllayer": "a fill layer",
    "filelayer": "a file layer",
    "clonelayer": "a clone layer",
    "adjustmentlayer": "a filter layer",
    "filterlayer": "a filter layer",
}


def describe_layer_kind(name: str, kind: str) -> str:
    """Why a layer that is not a paint layer is not dragged, and what to do."""
    what = _KINDS.get(kind, f"a {kind}")
    if kind == "grouplayer":
        return (f"\"{name}\" is a group: select the paint layer inside it that holds the picture to drag.")
    return (f"\"{name}\" is {what}: DragGAN moves the pixels of paint layers. Make a paint layer of it "
            "(Layer > Convert > to Paint Layer, or Layer > Flatten Layer on a copy) and drag that.")


def describe_error(exc: DragdError) -> str:
    """A daemon or connection error as plain words, with what to do where there is something to do."""
    advice = {
        ErrorCode.UNKNOWN_SESSION: "The daemon no longer has this image's session (it was restarted, or the "
                                   "session expired). Drag again: the layer's saved state is used.",
        ErrorCode.UNSUPPORTED: "This daemon cannot do that; update dragd (run its installer again).",
        ErrorCode.UNKNOWN_MODEL: "Pick another model, or install it with `dragd models download NAME`.",
        ErrorCode.BAD_MODEL: BAD_MODEL_ADVICE,
        ErrorCode.TIMEOUT: "The dragd daemon stopped answering (it may have been stopped or crashed). Press Drag "
                           "again: a daemon on this computer is started again by itself.",
        ErrorCode.UNAVAILABLE: "Start the daemon with `dragd serve` (or run the dragd installer again), then "
                               "press Drag or Reconnect.",
        ErrorCode.TOO_LARGE: "The image is too large for the daemon's limits.",
        ErrorCode.BUSY: "The daemon is busy with other work; try again in a moment.",
        ErrorCode.VERSION_MISMATCH: "The plugin and the daemon are from different dragd versions; run the dragd "
                                    "installer again to update both.",
    }.get(exc.code, "")
    text = exc.message[:1].upper() + exc.message[1:]
    return text if not advice or advice in text else f"{text}\n{advice}"
