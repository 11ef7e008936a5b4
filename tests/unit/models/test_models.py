"""Model family: derived parameter/FLOP counts, hook points, KV-cache decoding."""

import pytest
import torch

from search_scaling.models import (
    SIZE_FAMILY,
    ModelConfig,
    Transformer,
    flops_per_token,
    model_config,
    model_shape,
    param_counts,
)
from search_scaling.models.decode import greedy_decode

VARIANTS = [
    {},
    {"attn_only": True},
    {"universal": True},
    {"positional": "rotary"},
    {"universal": True, "attn_only": True, "positional": "rotary"},
]


@pytest.mark.parametrize("overrides", VARIANTS)
@pytest.mark.parametrize("name", ["L1-D8", "L2-D32", "L3-D64"])
def test_derived_counts_match_module(name, overrides):
    cfg = model_config(name, d_vocab=37, n_ctx=50, **overrides)
    model = Transformer(cfg)
    counts = param_counts(cfg)
    assert counts["params_total"] == sum(p.numel() for p in model.parameters())
    embed = sum(
        p.numel() for n, p in model.named_parameters() if n.split(".")[0] in ("embed", "pos_embed", "unembed")
    )
    assert counts["params_embed"] == embed


def test_size_family_spans_1e3_to_1e8_and_grows():
    sizes = [
        param_counts(model_config(row[0], d_vocab=64, n_ctx=128))["params_nonembed"] for row in SIZE_FAMILY
    ]
    assert sizes == sorted(sizes) and 5e2 < sizes[0] < 3e3 and 5e7 < sizes[-1] < 2e8


def test_flops_per_token_is_6n_plus_attention():
    cfg = model_config("L2-D32", d_vocab=20, n_ctx=64)
    n = param_counts(cfg)["params_nonembed"] - 2 * cfg.d_model  # blocks only
    assert flops_per_token(cfg) == 6 * (n + 32 * 20) + 6 * 2 * 64 * 32
    shared = model_config("L2-D32", d_vocab=20, n_ctx=64, universal=True)
    assert flops_per_token(shared) == flops_per_token(cfg)  # compute counts every application


def test_shape_names_between_the_family_rungs():
    assert model_shape("L2-D32") == (2, 32, 4)  # a family name keeps the family's heads
    assert model_shape("L2-D24") == (2, 24, 2)  # heads of ~16 dimensions, at least 2
    assert model_shape("L3-D48") == (3, 48, 3)
    assert model_shape("L1-D12-H3") == (1, 12, 3)
    cfg = model_config("L2-D24", d_vocab=10, n_ctx=16)
    assert (cfg.n_layers, cfg.d_model, cfg.d_head, cfg.name) == (2, 24, 12, "L2-D24")
    for bad in ("L0-D8", "L2-D", "l2-d24", "L2-D24-H5", "L2-D24 "):
        with pytest.raises(ValueError, match="unknown model size|divisible by n_heads"):
            model_config(bad, 10, 10)


def test_bad_config_raises():
    with pytest.raises(ValueError, match="divisible by n_heads"):
        ModelConfig(n_layers=1, d_model=10, n_heads=3, d_vocab=5, n_ctx=8)
    with pytest.raises(ValueError, match="unknown model size 'huge'"):
        model_config("huge", 10, 10)


@pytest.mark.parametrize("overrides", VARIANTS)
def test_hooks_and_explicit_attention_match_fused(overrides):
    torch.manual_seed(0)
    model = Transformer(model_config("L2-D32", d_vocab=30, n_ctx=40, **overrides)).eval()
    tokens = torch.randint(0, 30, (3, 17))
    fused = model(tokens)
    logits, cache = model.run_with_cache(tokens)
    assert torch.allclose(fused, logits, atol=1e-5)
    pattern = cache["blocks.1.attn.hook_pattern"]
    assert pattern.shape == (3, 4, 17, 17) and torch.allclose(pattern.sum(-1), torch.ones(3, 4, 17))
    assert torch.all(pattern.triu(diagonal=1) == 0)  # causal
    assert {"blocks.0.hook_resid_pre", "blocks.1.hook_resid_post", "hook_logits"} <= set(cache)


@pytest.mark.parametrize("overrides", VARIANTS)
def test_kv_cache_decoding_equals_full_prefix(overrides):
    torch.manual_seed(1)
    model = Transformer(model_config("L2-D32", d_vocab=25, n_ctx=48, **overrides)).eval()
    tokens = torch.randint(0, 25, (5, 20))
    prompt_len = torch.tensor([6, 9, 6, 12, 7])
    with_cache = greedy_decode(model, tokens, prompt_len, max_new=15)
    without = greedy_decode(model, tokens, prompt_len, max_new=15, use_cache=False)
    assert torch.equal(with_cache, without)
    # and both agree with a step-by-step argmax of the full model on row 0
    seq = tokens[0, :6].tolist()
    for _ in range(15):
        seq.append(int(model(torch.tensor([seq]))[0, -1].argmax()))
    assert seq[6:] == with_cache[0].tolist()


def test_context_overflow_is_a_clear_error():
    model = Transformer(model_config("L1-D8", d_vocab=5, n_ctx=8))
    with pytest.raises(ValueError, match="exceeds n_ctx=8"):
        model(torch.zeros(1, 9, dtype=torch.long))
