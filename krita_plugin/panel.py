"""The DragGAN docker's widgets (plain PyQt5, no Krita API): it shows a `PanelState` and forwards clicks.

The panel knows nothing of sessions or the daemon: each button calls one method of the controller, and the
controller calls `render` with everything to show. Krita wraps the panel in its docker (`adapter.py`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PyQt5.QtCore import Qt
from PyQt5.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ..protocol.limits import DEFAULT_PASTE, PASTE_MODES

if TYPE_CHECKING:
    from ..protocol.messages import DragOptions, GenerateRequest, InversionOptions
    from .controller import DragController, PanelState

MAX_SEED = 2**31 - 1  # a QSpinBox holds a C int; the protocol accepts up to 2**32 - 1
# The paste-back modes of a photo (protocol.limits.PASTE_MODES), as the advanced settings name them.
PASTE_LABELS = {"carry": "Carry the photo's own pixels (keeps its detail)",
                "reconstruction": "Generator's picture (for comparison)"}


class DragPanel(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller: DragController | None = None
        self.setObjectName("dragd_panel")
        layout = QVBoxLayout(self)

        self.connection = _wrapping_label("Starting...")
        self.reconnect = QPushButton("Reconnect")
        row = QHBoxLayout()
        row.addWidget(self.connection, 1)
        row.addWidget(self.reconnect)
        layout.addLayout(row)

        generate = QGroupBox("New from model")
        form = QFormLayout(generate)
        self.model = QComboBox()
        self.seed = QSpinBox()
        self.seed.setRange(0, MAX_SEED)
        self.truncation = QDoubleSpinBox()
        self.truncation.setRange(0.0, 2.0)
        self.truncation.setSingleStep(0.05)
        self.truncation.setValue(0.7)
        self.new_from_model = QPushButton("New from model")
        form.addRow("Model", self.model)
        form.addRow("Seed", self.seed)
        form.addRow("Truncation", self.truncation)
        form.addRow(self.new_from_model)
        layout.addWidget(generate)

        self.session = _wrapping_label("")
        layout.addWidget(self.session)

        points = QGroupBox("Point pairs (handle -> target)")
        points_layout = QVBoxLayout(points)
        self.pairs = QListWidget()
        self.pairs.setMaximumHeight(90)
        self.add_points_layer = QPushButton("Add points layer")
        points_layout.addWidget(self.pairs)
        points_layout.addWidget(self.add_points_layer)
        layout.addWidget(points)

        options = QGroupBox("Drag")
        form = QFormLayout(options)
        self.step_size = QDoubleSpinBox()
        self.step_size.setDecimals(4)
        self.step_size.setRange(0.0, 1.0)
        self.step_size.setSingleStep(0.0005)
        self.step_size.setSpecialValueText("model default")
        self.max_steps = QSpinBox()
        self.max_steps.setRange(1, 100000)
        self.max_steps.setValue(300)
        self.latent_space = QComboBox()
        self.latent_space.addItem("W+ (each layer its own latent)", "w+")
        self.latent_space.addItem("W (one latent for all layers)", "w")
        self.mask_strength = QDoubleSpinBox()
        self.mask_strength.setRange(-1.0, 1000.0)  # the minimum stands for the model's own default
        self.mask_strength.setSpecialValueText("model default")
        self.mask_strength.setValue(-1.0)
        form.addRow("Step size", self.step_size)
        form.addRow("Max steps", self.max_steps)
        form.addRow("Latent space", self.latent_space)
        form.addRow("Mask strength", self.mask_strength)
        buttons = QHBoxLayout()
        self.drag = QPushButton("Drag")
        self.stop = QPushButton("Stop")
        buttons.addWidget(self.drag)
        buttons.addWidget(self.stop)
        form.addRow(buttons)
        live = QHBoxLayout()
        self.live = QPushButton("Live")  # on: the picture follows the lines as they are edited (live.py)
        self.live.setCheckable(True)
        self.live.setToolTip("Live drag: move a line's end on the points layer and the picture follows. Live off "
                             "or Commit keeps it as a new layer; Stop discards it.")
        self.commit = QPushButton("Commit")
        live.addWidget(self.live)
        live.addWidget(self.commit)
        form.addRow(live)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        form.addRow(self.progress)
        history = QHBoxLayout()
        self.undo = QPushButton("Undo drag")
        self.redo = QPushButton("Redo drag")
        history.addWidget(self.undo)
        history.addWidget(self.redo)
        form.addRow(history)
        layout.addWidget(options)

        advanced = QGroupBox("Advanced")
        form = QFormLayout(advanced)
        self.paste = QComboBox()  # how a drag of the user's own layer (a photo) is pasted back into it
        for mode in PASTE_MODES:
            self.paste.addItem(PASTE_LABELS[mode], mode)
        self.paste.setCurrentIndex(PASTE_MODES.index(DEFAULT_PASTE))
        self.paste.setToolTip("How a drag of your own layer (a photo opened by GAN inversion) comes back: "
                              "carry moves the photo's own pixels along the edit, so detail and resolution stay; "
                              "the generator's picture replaces them (blurrier; for comparison). Applies when a "
                              "layer is opened.")
        form.addRow("Photo paste", self.paste)
        layout.addWidget(advanced)

        self.message = _wrapping_label("")
        self.error = _wrapping_label("")
        self.error.setStyleSheet("color: #d04040;")
        layout.addWidget(self.message)
        layout.addWidget(self.error)
        layout.addStretch(1)
        self._controls = (self.reconnect, self.new_from_model, self.add_points_layer, self.drag, self.stop,
                          self.undo, self.redo, self.model, self.seed, self.truncation, self.paste, self.live,
                          self.commit)
        for control in self._controls:
            control.setEnabled(False)

    # ---- wiring --------------------------------------------------------------------------------------------

    def attach(self, controller: DragController) -> None:
        """Connect the buttons to `controller`; the panel stays inert (showing why) until this is called."""
        self.controller = controller
        self.reconnect.clicked.connect(controller.connect)
        self.new_from_model.clicked.connect(lambda: controller.new_from_model(self.generate_request()))
        self.add_points_layer.clicked.connect(controller.add_points_layer)
        self.drag.clicked.connect(lambda: controller.drag(self.drag_options(), self.inversion_options()))
        self.stop.clicked.connect(controller.stop)
        self.live.clicked.connect(self._live_clicked)  # clicked: the user's, never render's setChecked
        self.commit.clicked.connect(controller.live.commit)
        self.undo.clicked.connect(controller.undo)
        self.redo.clicked.connect(controller.redo)

    def _live_clicked(self, checked: bool) -> None:
        if self.controller is None:
            return
        if checked:
            self.controller.live.start(self.drag_options(), self.inversion_options())
        else:
            self.controller.live.commit()
        self.render(self.controller.state)  # the toggle shows what runs, whatever the click asked for

    def show_unavailable(self, message: str) -> None:
        """The plugin cannot run here (a missing dependency): say so and leave every control disabled."""
        self.connection.setText("DragGAN cannot start.")
        self.error.setText(message)

    def generate_request(self) -> GenerateRequest:
        from ..protocol.messages import GenerateRequest

        model = self.model.currentData()
        return GenerateRequest(seed=self.seed.value(), model=model or None, truncation=self.truncation.value())

    def drag_options(self) -> DragOptions:
        from ..protocol.messages import DragOptions

        step, strength = self.step_size.value(), self.mask_strength.value()
        return DragOptions(step_size=step if step > 0 else None, max_steps=self.max_steps.value(),
                           latent_space=self.latent_space.currentData(),
                           mask_strength=strength if strength >= 0 else None)

    def inversion_options(self) -> InversionOptions:
        """How a layer of the user's own is opened when a drag must open it: the paste-back mode."""
        from ..protocol.messages import InversionOptions

        return InversionOptions(paste=self.paste.currentData())

    # ---- controller.View -----------------------------------------------------------------------------------

    def render(self, state: PanelState) -> None:
        self.connection.setText(state.connection)
        names = tuple(model.name for model in state.models)
        if names != tuple(self.model.itemData(i) for i in range(self.model.count())):
            self.model.clear()
            for model in state.models:
                width, height = model.resolution
                self.model.addItem(f"{model.name} ({model.domain}, {width}x{height})", model.name)
                if model.default:
                    self.model.setCurrentIndex(self.model.count() - 1)
        idle = not state.busy  # Drag and New from model connect (and start a local daemon) by themselves
        for control in (self.new_from_model, self.add_points_layer, self.drag, self.model, self.seed,
                        self.truncation, self.paste):
            control.setEnabled(idle)
        self.reconnect.setEnabled(not state.busy)
        self.stop.setEnabled(state.dragging)
        self.stop.setText("Cancel" if state.live else "Stop")  # a live drag's Stop writes nothing
        self.live.setEnabled(idle or state.live)
        self.live.setChecked(state.live)
        self.live.setText("Live: on" if state.live else "Live")
        self.commit.setEnabled(state.live)
        self.undo.setEnabled(idle and state.can_undo)
        self.redo.setEnabled(idle and state.can_redo)
        self.progress.setValue(round(state.progress * 1000))
        self.session.setText(state.session)
        if tuple(self.pairs.item(i).text() for i in range(self.pairs.count())) != state.pairs:
            self.pairs.clear()
            self.pairs.addItems(state.pairs)
        self.message.setText(state.message)
        self.error.setText(state.error)


def _wrapping_label(text: str) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextSelectableByMouse)
    return label
