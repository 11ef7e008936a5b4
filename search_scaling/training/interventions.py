"""Causal experiments as data: interventions during training and ablations at evaluation.

    interventions:                   # a RunSpec field (also in a sweep's training, a task entry, a grid axis)
      - {hook: blocks.0.attn.hook_pattern, op: clamp, pattern: previous_token, heads: [0], until_step: 500}
      - {hook: blocks.1.attn.hook_z, op: zero, heads: [2], from_step: 200}
      - {hook: blocks.1.hook_mlp_out, op: mean}
    evals:
      - name: no_L1                  # the held-out set with layer 1 zeroed
        ablate: [{hook: blocks.1.hook_attn_out, op: zero}, {hook: blocks.1.hook_mlp_out, op: zero}]

An entry names a hook point (`search_scaling.models.hooks`) and an operation on its activation:

- ``zero``: replace it by zeros; ``mean``: by its mean over the batch's rows, position by position
  (detached: a constant, not a path for gradients). On a per-head hook (``attn.hook_q/k/v/z``)
  ``heads`` limits it to those heads; ``hook_z`` zeroed equals the head's W_O rows zeroed.
- ``clamp``: replace an attention pattern (``attn.hook_pattern``) of ``heads`` (default: all) by a
  fixed one: ``previous_token`` (query p attends to p-1; position 0 to itself), ``uniform`` (over
  keys 0..p), ``first_token`` (key 0), or a given [n, n] matrix (n >= n_ctx, lower-triangular, rows
  summing to 1; rows p of it are used for query p).

A training intervention applies to the steps ``from_step <= s < until_step`` (default: 0 to the end),
where step s is the model after s updates: the training step that makes update s+1 and every
evaluation at step s (held-out metrics, named sets, progress measures) see it. Runs with
interventions train alone (packs do not apply them); named sets with ``ablate`` work in packs.
An evaluation ablation (``ablate`` of a named set) has no window: it applies at every evaluation.
"""

from __future__ import annotations

import contextlib
import math

import torch

from search_scaling.models import ModelConfig
from search_scaling.models.hooks import (
    HEAD_HOOKS,
    MLP_HOOKS,
    PATTERN_HOOKS,
    block_hooks,
    global_hooks,
    select_heads,
)

OPS = ("zero", "mean", "clamp")
PATTERNS = ("previous_token", "uniform", "first_token")
KEYS = ("hook", "op", "heads", "pattern", "from_step", "until_step")
WINDOW = ("from_step", "until_step")
TAG = -2  # the hook tag of training interventions (`HookedModel.add_hook`'s ``_tag``)
EXAMPLE = "{hook: blocks.0.attn.hook_z, op: zero, heads: [1]}"


# -- the form: canonical entries, checked without a model (grid values, training, task entries) --------
def canonical(entries, where: str = "interventions", windows: bool = True) -> list[dict]:
    """``entries`` as ``[{hook, op, heads, pattern[, from_step, until_step]}]`` (heads sorted, unset
    keys None), so equal sets hash equally; ValueError naming the entry's field otherwise."""
    if not isinstance(entries, (list, tuple)):
        raise ValueError(f"{where} must be a list of mappings such as {EXAMPLE}, got {entries!r}")
    return [_entry(e, f"{where}[{i}]", windows) for i, e in enumerate(entries)]


def shape_problem(entries, where: str = "interventions") -> str | None:
    """What is wrong with the form of ``entries`` (None if nothing); the model is checked later."""
    try:
        canonical(entries, where)
    except ValueError as err:
        return str(err)
    return None


def _entry(entry, at: str, windows: bool) -> dict:
    keys = KEYS if windows else tuple(k for k in KEYS if k not in WINDOW)
    if not isinstance(entry, dict):
        raise ValueError(f"{at}: a mapping such as {EXAMPLE}, got {entry!r}")
    if not windows and set(entry) & set(WINDOW):
        raise ValueError(f"{at}: from_step / until_step are for training interventions; an evaluation "
                         f"ablation applies at every evaluation (allowed keys: {list(keys)})")  # fmt: skip
    if set(entry) - set(keys) or "hook" not in entry or "op" not in entry:
        raise ValueError(f"{at}: keys hook and op (required), {', '.join(keys[2:])}; got {sorted(entry)}")
    hook, op, pattern = entry["hook"], entry["op"], entry.get("pattern")
    if not isinstance(hook, str):
        raise ValueError(f"{at}.hook: a hook name such as blocks.0.attn.hook_z, got {hook!r}")
    if op not in OPS:
        raise ValueError(f"{at}.op must be one of {list(OPS)}, got {op!r}")
    if (op == "clamp") != (pattern is not None):
        raise ValueError(f"{at}.pattern: a clamp needs a pattern ({', '.join(PATTERNS)} or a matrix) and "
                         f"only a clamp takes one; got op {op!r} with pattern {_short(pattern)}")  # fmt: skip
    if pattern is not None and pattern not in PATTERNS and not _is_matrix(pattern):
        raise ValueError(f"{at}.pattern must be one of {list(PATTERNS)} or a square matrix (a list of "
                         f"equal-length lists of numbers), got {_short(pattern)}")  # fmt: skip
    out = {"hook": hook, "op": op, "heads": _heads(entry.get("heads"), at), "pattern": pattern}
    if windows:
        out.update(_window(entry, at))
    return out


def _heads(heads, at: str) -> list[int] | None:
    if heads is None:
        return None
    ok = isinstance(heads, list) and heads and all(type(h) is int and h >= 0 for h in heads)
    if not ok or len(set(heads)) != len(heads):
        raise ValueError(f"{at}.heads: a non-empty list of distinct head indices >= 0 (or unset: all "
                         f"heads), got {heads!r}")  # fmt: skip
    return sorted(heads)


def _window(entry: dict, at: str) -> dict:
    start, until = entry.get("from_step", 0), entry.get("until_step")
    if type(start) is not int or start < 0:
        raise ValueError(f"{at}.from_step must be an integer >= 0, got {start!r}")
    if until is not None and (type(until) is not int or until <= start):
        raise ValueError(f"{at}.until_step must be an integer greater than from_step ({start}) (or unset: "
                         f"to the end of training), got {until!r}")  # fmt: skip
    return {"from_step": start, "until_step": until}


def _is_matrix(value) -> bool:
    square = (
        isinstance(value, list) and value and all(isinstance(r, list) and len(r) == len(value) for r in value)
    )
    return bool(square) and all(_finite(x) for r in value for x in r)


def _finite(x) -> bool:
    return not isinstance(x, bool) and isinstance(x, (int, float)) and math.isfinite(x)


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# -- against the model ----------------------------------------------------------------------------------
def check(entries: list[dict], cfg: ModelConfig, where: str = "interventions") -> list[dict]:
    """Canonical ``entries`` checked against the model ``cfg``: the hook exists, the heads are in
    range, the operation fits the hook, a given pattern fits the context. ValueError otherwise."""
    for i, entry in enumerate(entries):
        at = f"{where}[{i}]"
        _check_hook(entry["hook"], cfg, at)
        _check_op(entry, cfg, at)
    return entries


def check_spec(spec) -> list[dict]:
    """A RunSpec's interventions (canonical, checked) after checking its named sets' ablations."""
    cfg = spec.model_config
    for i, entry in enumerate(spec.evals):
        check(entry.get("ablate", []), cfg, f"evals[{i}] ({entry['name']}).ablate")
    return check(canonical(spec.interventions), cfg)


def _describe(cfg: ModelConfig) -> str:
    kind = ", attention only" if cfg.attn_only else ""
    return f"model {cfg.name or ''} ({cfg.n_layers} layer(s), {cfg.n_heads} heads{kind})"


def _check_hook(hook: str, cfg: ModelConfig, at: str) -> None:
    suffixes = block_hooks(cfg)
    allowed = (f"{', '.join(global_hooks(cfg))}, or blocks.<i>.<hook> for i in 0..{cfg.n_layers - 1} and "
               f"hook in {list(suffixes)}")  # fmt: skip
    parts = hook.split(".", 2)
    if hook in global_hooks(cfg):
        return
    if len(parts) == 3 and parts[0] == "blocks" and parts[1].isdigit():
        layer, suffix = int(parts[1]), parts[2]
        if suffix in suffixes and layer >= cfg.n_layers:
            raise ValueError(f"{at}.hook: {hook!r} names layer {layer} but the {_describe(cfg)} has layers "
                             f"0..{cfg.n_layers - 1}")  # fmt: skip
        if suffix in suffixes:
            return
        if cfg.attn_only and suffix in MLP_HOOKS:
            raise ValueError(f"{at}.hook: {hook!r} needs an MLP but the {_describe(cfg)} has none; its "
                             f"hooks: {allowed}")  # fmt: skip
    raise ValueError(f"{at}.hook: unknown hook {hook!r}; the {_describe(cfg)} has {allowed}")


def _check_op(entry: dict, cfg: ModelConfig, at: str) -> None:
    hook, op, heads = entry["hook"], entry["op"], entry["heads"]
    per_head = hook.endswith(HEAD_HOOKS + PATTERN_HOOKS)
    is_pattern = hook.endswith("attn.hook_pattern")
    if op == "clamp" and not is_pattern:
        raise ValueError(f"{at}.op: clamp fits an attention pattern (blocks.<i>.attn.hook_pattern), not "
                         f"{hook!r}; there use one of zero, mean")  # fmt: skip
    if op != "clamp" and hook.endswith(PATTERN_HOOKS):
        raise ValueError(f"{at}.op: {op} does not fit {hook!r} (a pattern's rows are distributions); use op: "
                         f"clamp with pattern: uniform, or ablate blocks.<i>.attn.hook_z")  # fmt: skip
    if heads is not None and not per_head:
        raise ValueError(f"{at}.heads: only per-head hooks (attn.hook_q, hook_k, hook_v, hook_z, "
                         f"hook_pattern) take heads; {hook!r} has none")  # fmt: skip
    if heads is not None and max(heads) >= cfg.n_heads:
        raise ValueError(f"{at}.heads: head indices must be in 0..{cfg.n_heads - 1} (the {_describe(cfg)}), "
                         f"got {heads}")  # fmt: skip
    if isinstance(entry["pattern"], list):
        _check_matrix(entry["pattern"], cfg, at)


def _check_matrix(matrix: list, cfg: ModelConfig, at: str) -> None:
    m = torch.tensor(matrix, dtype=torch.float64)  # [n, n]
    problems = []
    if m.shape[0] < cfg.n_ctx:
        problems.append(f"it is {m.shape[0]}x{m.shape[0]} but must cover the context, n_ctx={cfg.n_ctx}")
    if (m < 0).any() or m.triu(diagonal=1).abs().sum() > 0:
        problems.append(
            "entries must be >= 0 and zero above the diagonal (a query sees keys 0..its position)"
        )
    if not torch.allclose(m.sum(-1), torch.ones(m.shape[0], dtype=m.dtype), atol=1e-6):
        problems.append("each row must sum to 1")
    if problems:
        raise ValueError(f"{at}.pattern: a given pattern must be an [n, n] matrix with n >= n_ctx, "
                         f"lower-triangular, rows summing to 1: {'; '.join(problems)}")  # fmt: skip


# -- as hook functions ----------------------------------------------------------------------------------
def hook_fn(entry: dict):
    """The hook function ``fn(activation, hook) -> replacement`` that performs ``entry``."""
    heads, op = entry["heads"], entry["op"]
    if op == "clamp":
        fixed = {}  # (device, dtype, n_q, n_k) -> [query, key]: built once per shape

        def clamp(x, hook):  # x: [batch, head, query, key]
            key = (x.device, x.dtype, *x.shape[-2:])
            if key not in fixed:
                fixed[key] = clamp_pattern(entry["pattern"], *x.shape[-2:], x.device, x.dtype)
            return fixed[key].expand_as(x) if heads is None else select_heads(hook.name, x, heads, fixed[key])

        return clamp

    def ablate(x, hook):  # per-head hooks: [batch, pos, head, d_head]; others [batch, pos, d]
        fill = x.new_zeros(()) if op == "zero" else x.mean(0, keepdim=True).detach()
        return fill.expand_as(x) if heads is None else select_heads(hook.name, x, heads, fill)

    return ablate


def clamp_pattern(pattern, n_q: int, n_k: int, device, dtype) -> torch.Tensor:
    """The fixed pattern [n_q, n_k] of the last ``n_q`` queries over ``n_k`` keys (with a KV cache the
    queries are the new positions n_k - n_q .. n_k - 1)."""
    query = torch.arange(n_k - n_q, n_k, device=device)[:, None]  # absolute positions [n_q, 1]
    key = torch.arange(n_k, device=device)[None, :]  # [1, n_k]
    if pattern == "previous_token":
        return (key == (query - 1).clamp(min=0)).to(dtype)
    if pattern == "first_token":
        return (key == 0).to(dtype).expand(n_q, n_k)
    if pattern == "uniform":
        return (key <= query).to(dtype) / (query + 1).to(dtype)
    return torch.tensor(pattern, dtype=dtype, device=device)[n_k - n_q : n_k, :n_k]


def active(entries: list[dict], step: int) -> tuple[int, ...]:
    """Indices of the entries whose window holds ``step``."""
    return tuple(
        i
        for i, e in enumerate(entries)
        if e["from_step"] <= step and (e["until_step"] is None or step < e["until_step"])
    )


def activate(model, entries: list[dict], step: int) -> None:
    """Make ``model`` (a `Transformer`) run with the interventions of ``step`` (as permanent hooks,
    replaced only when the active set changes). No interventions: nothing is registered."""
    now = active(entries, step)
    if now == getattr(model, "_interventions_active", ()):
        return
    model.hook_registry.remove(lambda tag, permanent: tag != TAG)
    for i in now:
        model.add_hook(entries[i]["hook"], hook_fn(entries[i]), is_permanent=True, _tag=TAG)
    model._interventions_active = now


def ablating(model, entries: list[dict]):
    """A context in which ``model`` runs with the ablations ``entries`` (a named set's ``ablate``)."""
    if not entries:
        return contextlib.nullcontext(model)
    return model.hooks(fwd_hooks=[(e["hook"], hook_fn(e)) for e in entries])


def for_split(spec, split: str) -> list[dict]:
    """The ablations of the named set whose split is ``split`` (``eval:<name>``); [] if none."""
    return next((s.ablate for s in spec.eval_sets if s.split == split), [])
