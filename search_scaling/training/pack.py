"""Packed training: K same-shape runs (seeds, learning rates, other optimiser scalars) as one stacked
model in one process, each member exactly the run it would be alone.

Why exact: the members never interact. The forward is `torch.vmap` over `functional_call` of the
one `Transformer` definition, so member k's logits depend on member k's weights only; the loss is
the sum of the members' own losses (mean within one), so member k's gradient is its solo gradient;
AdamW is element-wise, so one optimiser over the stacked parameters is per-member as long as its
scalars (learning rate and its schedule, weight decay, betas) are per-member tensors; and gradient
clipping is computed per member (a global norm would couple them). Gradients are cleared every
step by Lightning (`zero_grad`), the drift `Rock-Z/ModelBatch` once had. A frozen member (diverged,
or finished) is still computed but its update is masked out, so its weights stay as they were.

Shapes: K members, B rows per member, T positions, V vocabulary. Every stacked parameter is the
solo parameter with a leading K.
"""

from __future__ import annotations

import lightning as L
import numpy as np
import torch
from torch import nn
from torch.func import functional_call
from torch.utils.data import DataLoader, IterableDataset

from search_scaling.models.transformer import KVCache, Transformer
from search_scaling.training.data import train_batch
from search_scaling.training.module import masked_loss
from search_scaling.training.schedule import lr_multiplier
from search_scaling.training.spec import RunSpec

ADAM_EPS = 1e-8  # torch.optim.AdamW's default, which the solo runs use


class PackedTransformer(nn.Module):
    """K `Transformer`s of one config as stacked parameters; `forward` runs all of them at once."""

    def __init__(self, members: list[Transformer]):
        super().__init__()
        self.cfg = members[0].cfg
        self.names = [name for name, _ in members[0].named_parameters()]
        per_member = [dict(m.named_parameters()) for m in members]
        self.params = nn.ParameterList(
            nn.Parameter(torch.stack([p[name].detach() for p in per_member])) for name in self.names
        )
        # The one model definition, on the meta device: `functional_call` swaps in the real tensors.
        # Kept out of the module tree so that it adds no parameters.
        skeleton = Transformer(self.cfg).to("meta")
        for block in skeleton.blocks:
            block.attn.vmapped = True  # the fused attention kernel, members folded into the batch
        self._skeleton = (skeleton,)

    @property
    def size(self) -> int:
        return self.params[0].shape[0]

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens int[K, B, T] -> logits [K, B, T, V]."""
        return torch.vmap(self._one)(tuple(self.params), tokens)

    def _one(self, params: tuple, tokens: torch.Tensor) -> torch.Tensor:
        return functional_call(self._skeleton[0], dict(zip(self.names, params)), (tokens,))

    def step_with_cache(self, tokens: torch.Tensor, keys: list, values: list):
        """One decoding call of every member with its own KV cache. tokens int[K, B, t]; keys and
        values: per layer [K, B, head, pos, d_head] (empty lists at the start). Returns the logits
        [K, B, t, V] and the extended keys and values."""

        def one(params, tokens, keys, values):
            cache = KVCache(list(keys), list(values))
            logits = functional_call(self._skeleton[0], dict(zip(self.names, params)), (tokens,),
                                     {"cache": cache})  # fmt: skip
            return logits, cache.keys, cache.values

        return torch.vmap(one)(tuple(self.params), tokens, keys, values)

    def member_state(self, k: int) -> dict[str, torch.Tensor]:
        """Member k's weights under the solo `Transformer`'s names (copies)."""
        return {name: p[k].detach().clone() for name, p in zip(self.names, self.params)}

    def load_member(self, k: int, state: dict[str, torch.Tensor]) -> None:
        with torch.no_grad():
            for name, p in zip(self.names, self.params):
                p[k].copy_(state[name])


class PackedAdamW(torch.optim.Optimizer):
    """AdamW over stacked parameters with per-member scalars, matching `torch.optim.AdamW` step for
    step (same operation order, scalars computed in float64 as torch does in Python).

    Every member follows its own warm-up/cosine schedule (`lr_multiplier`), as the solo run's
    LambdaLR does: the update numbered s (from 0) uses ``lr * lr_multiplier(s)``. Decay applies to
    the parameters whose solo shape is a matrix (as `SequenceModel` groups them). ``active`` (bool[K],
    shared with the module) masks the update of frozen members: their weights, moments and step
    count stay as they were."""

    def __init__(self, params: list[nn.Parameter], specs: list[RunSpec], total: int, active: torch.Tensor):
        super().__init__(list(params), {})
        self.specs, self.total, self.active = specs, total, active
        f64 = dict(dtype=torch.float64)
        self.base_lr = torch.tensor([s.lr for s in specs], **f64)
        self.weight_decay = torch.tensor([s.weight_decay for s in specs], **f64)
        self.beta1 = torch.tensor([s.beta1 for s in specs], **f64)
        self.beta2 = torch.tensor([s.beta2 for s in specs], **f64)

    def lr_at(self, updates_done: torch.Tensor) -> torch.Tensor:
        """float64[K]: each member's learning rate for its update number ``updates_done``."""
        mult = [lr_multiplier(int(s), self.total, spec.warmup, spec.min_lr_ratio)
                for s, spec in zip(updates_done.tolist(), self.specs)]  # fmt: skip
        return self.base_lr * torch.tensor(mult, dtype=torch.float64)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        params = [p for group in self.param_groups for p in group["params"] if p.grad is not None]
        if not params:
            return loss
        active = self.active.to("cpu")
        steps = self._step_counts(params[0])  # float64[K]: updates done before this one
        new_steps = steps + active.double()
        lr = self.lr_at(steps)
        bc1 = 1 - self.beta1**new_steps
        bc2_sqrt = (1 - self.beta2**new_steps).sqrt()
        scalars = {"decay": 1 - lr * self.weight_decay, "lerp": 1 - self.beta1, "beta2": self.beta2,
                   "one_minus_beta2": 1 - self.beta2, "step_size": -lr / bc1,
                   "bc2_sqrt": bc2_sqrt}  # fmt: skip
        device, dtype = params[0].device, params[0].dtype
        scalars = {k: v.to(device=device, dtype=dtype) for k, v in scalars.items()}  # one copy a step
        for p in params:
            self._update(p, scalars, new_steps)
        return loss

    def _step_counts(self, p: torch.Tensor) -> torch.Tensor:
        state = self.state[p]
        return state["step"].double() if "step" in state else torch.zeros(p.shape[0], dtype=torch.float64)

    def _update(self, p: nn.Parameter, scalars: dict, new_steps: torch.Tensor) -> None:
        state = self.state[p]
        if "exp_avg" not in state:
            state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        shape = (-1,) + (1,) * (p.dim() - 1)
        s = {k: v.view(shape) for k, v in scalars.items()}
        grad, m, v = p.grad, state["exp_avg"], state["exp_avg_sq"]
        decayed = p * s["decay"] if p.dim() >= 3 else p  # solo matrices are stacked to 3 dims
        new_m = m.lerp(grad, s["lerp"])
        new_v = v * s["beta2"] + grad * grad * s["one_minus_beta2"]
        denom = new_v.sqrt() / s["bc2_sqrt"] + ADAM_EPS
        new_p = decayed + s["step_size"] * (new_m / denom)  # torch's addcdiv order
        keep = self.active.view(shape)
        p.copy_(torch.where(keep, new_p, p))
        m.copy_(torch.where(keep, new_m, m))
        v.copy_(torch.where(keep, new_v, v))
        state["step"] = new_steps.float()


def clip_per_member(params, max_norm: torch.Tensor) -> torch.Tensor:
    """`torch.nn.utils.clip_grad_norm_` for each member on its own: member k's gradients are scaled
    by min(1, max_norm[k] / (norm_k + 1e-6)), norm_k over all of member k's gradients; a max_norm
    of 0 leaves the member unclipped. Returns the norms, float[K]."""
    grads = [p.grad for p in params if p.grad is not None]
    norms = torch.stack([torch.linalg.vector_norm(g.flatten(1), dim=1) for g in grads])  # [P, K]
    total = torch.linalg.vector_norm(norms, dim=0)  # [K]
    max_norm = max_norm.to(total)
    coef = torch.where(max_norm > 0, (max_norm / (total + 1e-6)).clamp(max=1.0), torch.ones_like(total))
    for g in grads:
        g.mul_(coef.view((-1,) + (1,) * (g.dim() - 1)))
    return total


class PackModule(L.LightningModule):
    """The LightningModule of a pack: the stacked model, its summed loss and its optimiser."""

    def __init__(self, specs: list[RunSpec], total: int, members: list[Transformer]):
        super().__init__()
        self.specs, self.total_steps = specs, total
        self.packed = PackedTransformer(members)
        self.register_buffer("active", torch.ones(len(specs), dtype=torch.bool), persistent=False)
        self.register_buffer("max_norm", torch.tensor([s.grad_clip for s in specs]), persistent=False)
        self.member_losses: torch.Tensor | None = None  # float[K] of the last step

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        tokens = batch["tokens"]  # [K, B, T]
        inputs = batch.get("inputs", tokens)  # teacherless: the answer positions read a dummy token
        logits = self.packed(inputs[:, :, :-1])  # [K, B, T-1, V]
        losses = torch.vmap(masked_loss)(logits, tokens, batch["mask"])  # [K]
        self.member_losses = losses.detach()
        # Frozen members contribute nothing (their loss may be NaN; `where` passes no gradient).
        return torch.where(self.active, losses, torch.zeros_like(losses)).sum()

    def configure_gradient_clipping(self, optimizer, gradient_clip_val=None, gradient_clip_algorithm=None):
        clip_per_member(self.packed.params, self.max_norm)

    def configure_optimizers(self):
        return PackedAdamW(list(self.packed.params), self.specs, self.total_steps, self.active)


class PackBatches(IterableDataset):
    """Each member's own batches (its data seed, as `StepBatches` makes them alone), stacked:
    tokens and masks right-padded to the longest row of the step (padding is masked out of the loss
    and, attention being causal, changes no logit of the real positions). A frozen member gets an
    empty (all-masked) batch instead of its own, saving its data generation."""

    def __init__(self, specs: list[RunSpec], total: int, active: torch.Tensor, start: int = 0):
        super().__init__()
        self.specs, self.total, self.active, self.start = specs, total, active, start
        self.seeds = [s.derived_seed("data", data_only=True) for s in specs]

    def __iter__(self):
        for step in range(self.start, self.total):
            yield self.batch(step)

    def batch(self, step: int) -> dict:
        live = self.active.tolist()
        parts = [self._member(spec, seed, step) if on else None
                 for spec, seed, on in zip(self.specs, self.seeds, live)]  # fmt: skip
        width = max(t.shape[1] for t, _, _, _ in filter(None, parts)) if any(live) else 2
        rows = self.specs[0].batch_size
        tokens = np.zeros((len(parts), rows, width), dtype=np.int64)
        inputs = np.zeros((len(parts), rows, width), dtype=np.int64)
        mask = np.zeros((len(parts), rows, width), dtype=bool)
        counts = np.zeros(len(parts), dtype=np.int64)
        read_through = False  # members share a task: all of them have their own inputs, or none
        for k, part in enumerate(parts):
            if part is not None:
                t, x, m, counts[k] = part
                tokens[k, :, : t.shape[1]], mask[k, :, : m.shape[1]] = t, m
                inputs[k, :, : t.shape[1]] = t if x is None else x
                read_through |= x is not None
        out = {"tokens": torch.from_numpy(tokens), "mask": torch.from_numpy(mask),
               "n_tokens": torch.from_numpy(counts)}  # fmt: skip
        if read_through:
            out["inputs"] = torch.from_numpy(inputs)
        return out

    def _member(self, spec: RunSpec, seed: int, step: int):
        batch = train_batch(spec.train_task, spec.size, seed, step, spec.batch_size)
        mask = batch.loss_mask(spec.loss_mask, step / self.total, spec.mask_switch)
        return batch.tokens, batch.inputs, mask, int(batch.length.sum())


class PackData(L.LightningDataModule):
    """Feeds `PackBatches` from the restored global step (the data position, as for a solo run).
    The members' ``active`` mask is the module's, read once the trainer has moved it to its device
    (frozen in place from then on)."""

    def __init__(self, specs: list[RunSpec], total: int):
        super().__init__()
        self.specs, self.total = specs, total

    def train_dataloader(self) -> DataLoader:
        start = self.trainer.global_step
        data = PackBatches(self.specs, self.total, self.trainer.lightning_module.active, start)
        return DataLoader(data, batch_size=None, num_workers=0)
