"""The LightningModule: next-token loss under the task's loss mask, AdamW + warm-up/cosine; the loss
(model forward + cross-entropy, and so its backward) compiled when the run is (`compiled`)."""

from __future__ import annotations

import lightning as L
import torch
import torch.nn.functional as F

from search_scaling.models.transformer import Transformer
from search_scaling.training import compiled, interventions
from search_scaling.training.schedule import lr_multiplier
from search_scaling.training.spec import RunSpec


def masked_loss(logits: torch.Tensor, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over target positions: logits [B, T-1, V] predict tokens[:, 1:]."""
    losses = F.cross_entropy(logits.flatten(0, 1).float(), tokens[:, 1:].flatten(), reduction="none")
    target_mask = mask[:, 1:].flatten().to(losses.dtype)
    return (losses * target_mask).sum() / target_mask.sum().clamp(min=1)


class SequenceModel(L.LightningModule):
    def __init__(self, spec: RunSpec, total_steps: int, compile_step: bool = False):
        super().__init__()
        self.spec, self.total_steps = spec, total_steps
        self.model = Transformer(spec.model_config)
        # Compiled on the first step, once Lightning has put the model on its device (not a module
        # attribute: the checkpoint keeps the plain model's weights).
        self.compile_step = compile_step
        self._compiled: tuple | None = None  # (compiled loss, its first-call timer)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.model(tokens)

    def step_loss(self, inputs: torch.Tensor, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Masked next-token loss of int[B, T] batches: what a compiled run compiles."""
        return masked_loss(self.model(inputs[:, :-1]), tokens, mask)

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        interventions.activate(self.model, self.spec.interventions, self.global_step)  # no-op without any
        if self.compile_step:
            return self._compiled_step(batch)
        tokens = batch["tokens"]
        inputs = batch.get("inputs", tokens)  # teacherless: the answer positions read a dummy token
        return self.step_loss(inputs, tokens, batch["mask"])

    def _compiled_step(self, batch: dict) -> torch.Tensor:
        if self._compiled is None:
            timer = compiled.FirstCallTimer(compiled.shape_key(self.spec, self.device.type))
            self._compiled = (compiled.compile_loss(self.step_loss, self.device), timer)
        loss_fn, timer = self._compiled
        with timer:
            return loss_fn(*compiled.prepare(batch, self.device, self.spec.model_config.n_ctx))

    def on_train_start(self) -> None:
        # a checkpoint's param groups (from an eager run, or a pack) replace the implementation flags
        kwargs = compiled.optimizer_kwargs(self.compile_step, self.device.type)
        for optimizer in self.trainer.optimizers if kwargs else ():
            for group in optimizer.param_groups:
                group.update(kwargs)

    def configure_optimizers(self):
        spec = self.spec
        # Decay matrices only: biases, LayerNorm gains and offsets stay undecayed (as in GPT-2).
        params = [p for p in self.parameters() if p.requires_grad]
        groups = [
            {"params": [p for p in params if p.dim() >= 2], "weight_decay": spec.weight_decay},
            {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
        ]
        device = params[0].device.type if params else "cpu"
        kwargs = compiled.optimizer_kwargs(self.compile_step, device)  # foreach / fused when compiled
        optimizer = torch.optim.AdamW(groups, lr=spec.lr, betas=(spec.beta1, spec.beta2), **kwargs)
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer,
            lambda step: lr_multiplier(step, self.total_steps, spec.warmup, spec.min_lr_ratio),
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}
