"""`FoldedCausalAttention`: under `torch.vmap` the fused kernel runs once, members folded into the
batch (no per-member fallback), with the values and gradients of causal attention member by member."""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F

from search_scaling.models.folded_attention import FoldedCausalAttention


def test_vmapped_attention_equals_each_member_alone_and_so_do_its_gradients():
    torch.manual_seed(0)
    q, k, v = (torch.randn(3, 4, 2, 7, 8, requires_grad=True) for _ in range(3))  # [K, B, H, T, d]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # vmap's "no batching rule, performance drop" fallback warns
        out = torch.vmap(FoldedCausalAttention.apply)(q, k, v)
    want = torch.stack([F.scaled_dot_product_attention(q[i], k[i], v[i], is_causal=True) for i in range(3)])
    torch.testing.assert_close(out, want, atol=0, rtol=0)
    grad = torch.randn_like(out)
    got = torch.autograd.grad(out, (q, k, v), grad)
    expected = torch.autograd.grad(want, (q, k, v), grad)
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)


def test_an_unbatched_argument_is_broadcast_over_the_members():
    q = torch.randn(2, 1, 1, 5, 4)
    kv = torch.randn(1, 1, 5, 4)
    out = torch.vmap(FoldedCausalAttention.apply, in_dims=(0, None, None))(q, kv, kv)
    for i in range(2):
        torch.testing.assert_close(out[i], F.scaled_dot_product_attention(q[i], kv, kv, is_causal=True))
