"""Hook points, run_with_hooks / run_with_cache / patching and per-head weight views, each on a case
whose answer is computed by hand (TransformerLens semantics, no TransformerLens dependency)."""

import pytest
import torch
import torch.nn.functional as F

from search_scaling.models import Transformer, model_config
from search_scaling.models.decode import greedy_decode
from search_scaling.training.interventions import canonical, clamp_pattern, hook_fn

VARIANTS = [{}, {"attn_only": True}, {"universal": True}, {"positional": "rotary"}]


def _model(seed=0, **overrides) -> Transformer:
    torch.manual_seed(seed)
    model = Transformer(model_config("L2-D32", d_vocab=30, n_ctx=40, **overrides)).eval()
    for p in model.parameters():  # larger than GPT-2's init, so that every head and position matters
        torch.nn.init.normal_(p, std=0.3)
    return model


def _tokens(batch=3, t=11, seed=1):
    return torch.randint(0, 30, (batch, t), generator=torch.Generator().manual_seed(seed))


def _entry(**kw):
    (entry,) = canonical([kw], windows=False)
    return entry


@pytest.mark.parametrize("overrides", VARIANTS)
def test_every_hook_point_is_reached_with_its_shape_and_the_logits_are_unchanged(overrides):
    model, tokens = _model(**overrides), _tokens()
    plain = model(tokens)
    logits, cache = model.run_with_cache(tokens)
    assert torch.allclose(plain, logits, atol=1e-5) and set(cache) == set(model.hook_names())
    b, t, cfg = 3, 11, model.cfg
    assert cache["blocks.1.attn.hook_q"].shape == (b, t, cfg.n_heads, cfg.d_head)
    assert cache["blocks.0.attn.hook_z"].shape == (b, t, cfg.n_heads, cfg.d_head)
    assert cache["blocks.1.attn.hook_pattern"].shape == (b, cfg.n_heads, t, t)
    assert cache["blocks.0.hook_attn_out"].shape == (b, t, cfg.d_model)
    if not cfg.attn_only:
        assert cache["blocks.1.mlp.hook_post"].shape == (b, t, cfg.d_mlp)
    if cfg.positional == "learned":
        assert cache["hook_pos_embed"].shape == (b, t, cfg.d_model)
    # the residual stream adds up: resid_post = resid_pre + attn_out (+ mlp_out)
    mlp = 0 if cfg.attn_only else cache["blocks.0.hook_mlp_out"]
    total = cache["blocks.0.hook_resid_pre"] + cache["blocks.0.hook_attn_out"] + mlp
    assert torch.allclose(cache["blocks.0.hook_resid_post"], total, atol=1e-5)


def test_per_head_weight_views_give_q_and_the_output():
    model, tokens = _model(), _tokens()
    _, cache = model.run_with_cache(tokens)
    attn = model.blocks[1].attn
    x = model.blocks[1].ln1(cache["blocks.1.hook_resid_pre"])  # [batch, pos, d_model]
    q = torch.einsum("bpd,hde->bphe", x, attn.W_Q) + attn.b_Q  # [batch, pos, head, d_head]
    v = torch.einsum("bpd,hde->bphe", x, attn.W_V) + attn.b_V
    assert torch.allclose(q, cache["blocks.1.attn.hook_q"], atol=1e-5)
    assert torch.allclose(v, cache["blocks.1.attn.hook_v"], atol=1e-5)
    out = torch.einsum("bphe,hed->bpd", cache["blocks.1.attn.hook_z"], attn.W_O) + attn.b_O
    assert torch.allclose(out, cache["blocks.1.hook_attn_out"], atol=1e-5)
    assert model.W_Q.shape == (2, 4, 32, 8) and model.W_O.shape == (2, 4, 8, 32)


def test_a_zeroed_head_contributes_nothing_it_equals_its_W_O_rows_zeroed():
    model, tokens = _model(), _tokens()
    ablated = model.run_with_hooks(tokens, fwd_hooks=[("blocks.1.attn.hook_z", hook_fn(_entry(
        hook="blocks.1.attn.hook_z", op="zero", heads=[2])))])  # fmt: skip
    with torch.no_grad():
        model.blocks[1].attn.W_O[2] = 0.0  # a view: writes the fused output projection
    assert torch.allclose(ablated, model(tokens), atol=1e-5)
    assert not torch.allclose(ablated, _model()(tokens), atol=1e-3)  # and the head did matter


def test_mean_ablation_is_the_batch_mean_position_by_position():
    model, tokens = _model(), _tokens()
    entry = _entry(hook="blocks.0.attn.hook_z", op="mean", heads=[1])
    _, cache = model.run_with_cache(tokens, {"blocks.0.attn.hook_z"})
    want = cache["blocks.0.attn.hook_z"].clone()
    want[:, :, 1] = want[:, :, 1].mean(0, keepdim=True)
    seen = {}
    record = lambda x, hook: seen.setdefault("z", x)  # noqa: E731 -- runs after the ablation
    model.run_with_hooks(tokens, fwd_hooks=[(entry["hook"], hook_fn(entry)), (entry["hook"], record)])
    assert torch.allclose(seen["z"], want, atol=1e-6)


def test_named_clamps_are_the_hand_written_patterns():
    eye = torch.tensor
    previous = eye([[1, 0, 0, 0], [1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]], dtype=torch.float32)
    assert torch.equal(clamp_pattern("previous_token", 4, 4, "cpu", torch.float32), previous)
    first = eye([[1, 0, 0], [1, 0, 0], [1, 0, 0]], dtype=torch.float32)
    assert torch.equal(clamp_pattern("first_token", 3, 3, "cpu", torch.float32), first)
    uniform = clamp_pattern("uniform", 3, 3, "cpu", torch.float64)
    assert torch.allclose(
        uniform, eye([[1, 0, 0], [0.5, 0.5, 0], [1 / 3, 1 / 3, 1 / 3]], dtype=torch.float64)
    )
    # with a KV cache the queries are the last positions: row 2 of the 3x3 pattern
    assert torch.allclose(clamp_pattern("uniform", 1, 3, "cpu", torch.float64), uniform[2:])


def test_a_clamped_pattern_equals_the_given_one_and_drives_the_output():
    model, tokens = _model(), _tokens(t=5)
    given = torch.rand(40, 40).tril() + torch.eye(40)
    given = (given / given.sum(-1, keepdim=True)).tolist()
    entry = _entry(hook="blocks.0.attn.hook_pattern", op="clamp", pattern=given, heads=[0, 3])
    with model.hooks([(entry["hook"], hook_fn(entry))]):
        _, cache = model.run_with_cache(tokens)
    pattern = cache["blocks.0.attn.hook_pattern"]  # [batch, head, query, key]
    want = torch.tensor(given)[:5, :5]
    assert torch.allclose(pattern[:, 0], want.expand(3, 5, 5)) and torch.allclose(
        pattern[:, 3], want.expand(3, 5, 5)
    )
    assert not torch.allclose(pattern[:, 1], want.expand(3, 5, 5))  # other heads keep their own
    z = torch.einsum("bqk,bkhe->bqhe", pattern[:, 0], cache["blocks.0.attn.hook_v"][:, :, :1])
    assert torch.allclose(cache["blocks.0.attn.hook_z"][:, :, :1], z, atol=1e-5)


@pytest.mark.parametrize("pattern", ["previous_token", "uniform"])
def test_clamped_decoding_with_a_kv_cache_equals_recomputing_the_prefix(pattern):
    model = _model()
    entry = _entry(hook="blocks.1.attn.hook_pattern", op="clamp", pattern=pattern)
    tokens, prompt_len = _tokens(4, 20), torch.tensor([5, 8, 5, 11])
    with model.hooks([(entry["hook"], hook_fn(entry))]):
        cached = greedy_decode(model, tokens, prompt_len, max_new=10)
        recomputed = greedy_decode(model, tokens, prompt_len, max_new=10, use_cache=False)
    assert torch.equal(cached, recomputed)


def test_patching_the_whole_cache_reproduces_the_source_logits():
    model = _model()
    source, target = _tokens(seed=1), _tokens(seed=2)
    source_logits, cache = model.run_with_cache(source)
    del cache["hook_logits"]  # patching the logits themselves would prove nothing
    assert torch.allclose(model.run_with_patch(target, cache), source_logits, atol=1e-5)
    # the inputs alone carry the whole computation: patch only the embeddings
    embeds = {k: cache[k] for k in ("hook_embed", "hook_pos_embed")}
    assert torch.allclose(model.run_with_patch(target, embeds), source_logits, atol=1e-5)
    assert not torch.allclose(model(target), source_logits, atol=1e-3)
    with pytest.raises(ValueError, match="same shape"):
        model.run_with_patch(_tokens(t=7), embeds)


def test_run_with_hooks_leaves_no_hooks_behind_even_after_an_error():
    model, tokens = _model(), _tokens()
    model.add_hook("blocks.0.hook_resid_pre", lambda x, hook: None, is_permanent=True)
    model.run_with_hooks(tokens, fwd_hooks=[(lambda n: n.endswith("hook_z"), lambda x, hook: x * 0)])

    def fail(x, hook):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        model.run_with_hooks(tokens, fwd_hooks=[("blocks.1.hook_attn_out", fail)])
    assert list(model.hook_registry.fns) == ["blocks.0.hook_resid_pre"]  # only the permanent one
    model.reset_hooks()
    assert model.hook_registry  # permanent hooks survive a plain reset
    model.reset_hooks(including_permanent=True)
    assert not model.hook_registry
    with pytest.raises(ValueError, match="unknown hook 'blocks.9.hook_z'"):
        model.run_with_hooks(tokens, fwd_hooks=[("blocks.9.hook_z", fail)])
    loss = model.run_with_hooks(tokens, return_type="loss")
    assert torch.allclose(loss, F.cross_entropy(model(tokens)[:, :-1].flatten(0, 1), tokens[:, 1:].flatten()))


def test_only_pattern_hooks_leave_the_fused_attention_kernel(monkeypatch):
    calls = []
    fused = F.scaled_dot_product_attention
    monkeypatch.setattr(F, "scaled_dot_product_attention", lambda *a, **k: calls.append(1) or fused(*a, **k))
    model, tokens = _model(), _tokens()
    model(tokens)
    model.run_with_hooks(tokens, fwd_hooks=[("blocks.0.attn.hook_z", lambda x, hook: None)])
    assert len(calls) == 4  # two layers, two passes: hooks on z (or q, k, v, resid) keep the kernel
    model.run_with_cache(tokens, {"blocks.1.attn.hook_pattern"})
    assert len(calls) == 5  # layer 1's pattern is explicit; layer 0 stays fused
