"""The LightningModule: next-token loss under the task's loss mask, AdamW + warm-up/cosine."""

from __future__ import annotations

import lightning as L
import torch
import torch.nn.functional as F

from search_scaling.models.transformer import Transformer
from search_scaling.training import interventions
from search_scaling.training.schedule import lr_multiplier
from search_scaling.training.spec import RunSpec


def masked_loss(logits: torch.Tensor, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over target positions: logits [B, T-1, V] predict tokens[:, 1:]."""
    losses = F.cross_entropy(logits.flatten(0, 1).float(), tokens[:, 1:].flatten(), reduction="none")
    target_mask = mask[:, 1:].flatten().to(losses.dtype)
    return (losses * target_mask).sum() / target_mask.sum().clamp(min=1)


class SequenceModel(L.LightningModule):
    def __init__(self, spec: RunSpec, total_steps: int):
        super().__init__()
        self.spec, self.total_steps = spec, total_steps
        self.model = Transformer(spec.model_config)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.model(tokens)

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        tokens = batch["tokens"]
        inputs = batch.get("inputs", tokens)  # teacherless: the answer positions read a dummy token
        interventions.activate(self.model, self.spec.interventions, self.global_step)  # no-op without any
        return masked_loss(self.model(inputs[:, :-1]), tokens, batch["mask"])

    def configure_optimizers(self):
        spec = self.spec
        # Decay matrices only: biases, LayerNorm gains and offsets stay undecayed (as in GPT-2).
        params = [p for p in self.parameters() if p.requires_grad]
        groups = [
            {"params": [p for p in params if p.dim() >= 2], "weight_decay": spec.weight_decay},
            {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
        ]
        optimizer = torch.optim.AdamW(groups, lr=spec.lr, betas=(spec.beta1, spec.beta2))
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer,
            lambda step: lr_multiplier(step, self.total_steps, spec.warmup, spec.min_lr_ratio),
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}
