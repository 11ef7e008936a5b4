"""Causal attention with the fused kernel under `torch.vmap`: members folded into the batch.

`scaled_dot_product_attention` has no vmap batching rule on CPU (vmap would run it member by
member), so a pack (`training.pack`: `torch.vmap` over K members' weights) used explicit matmuls
for attention, a [K, B, H, T, T] pattern in memory. This function carries its own vmap rule: the
vmapped dimension is folded into the batch and the fused kernel runs once over [K * B, H, T, d_head]
(members never interact in attention, so folding them changes nothing a member computes). The
backward recomputes the kernel's forward under autograd (the kernel's own backward then runs once,
folded, too): an extra attention forward instead of keeping the pattern.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


class FoldedCausalAttention(torch.autograd.Function):
    """``apply(q, k, v)`` = causal `scaled_dot_product_attention` of [..., head, pos, d_head] tensors."""

    @staticmethod
    def forward(q, k, v):
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs)

    @staticmethod
    def backward(ctx, grad):
        with torch.enable_grad():
            q, k, v = (t.detach().requires_grad_() for t in ctx.saved_tensors)
            out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return torch.autograd.grad(out, (q, k, v), grad)

    @staticmethod
    def vmap(info, in_dims, q, k, v):
        """The vmapped dim (size ``info.batch_size``) moved to the front and folded into the batch."""
        n = info.batch_size
        front = [t.movedim(d, 0) if d is not None else t.expand(n, *t.shape)
                 for t, d in zip((q, k, v), in_dims)]  # fmt: skip
        out = FoldedCausalAttention.apply(*(t.flatten(0, 1) for t in front))  # [n * B, H, T, d_head]
        return out.unflatten(0, (n, -1)), 0
