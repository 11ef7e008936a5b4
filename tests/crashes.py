"""A Lightning callback that crashes a training run at a chosen step: the kill in the resume tests."""

from __future__ import annotations

import lightning as L


class CrashAt(L.Callback):
    """Raise ``RuntimeError("injected crash")`` once the trainer has made ``step`` updates."""

    def __init__(self, step: int):
        self.step = step

    def on_train_batch_end(self, trainer, *args):
        if trainer.global_step == self.step:
            raise RuntimeError("injected crash")
