"""Transfer: start a run from another run's kept weights (``init_from``), with parts frozen (``freeze``).

``init_from: {run: <run hash>, step: N}`` names the source run and one of its kept steps (``step``
left out: its final step); the source's identity is part of the run hash. Source and target must
have the same model shape (vocabulary and context included): a mismatch is an error naming both.

``freeze`` names parts of the model, in the hook-point vocabulary of `models.transformer`:

| part | parameters |
| --- | --- |
| ``embed`` | token (and learned position) embeddings |
| ``unembed`` | final LayerNorm and unembedding |
| ``attn`` / ``mlp`` | every layer's attention (with its LayerNorm) / MLP (with its LayerNorm) |
| ``blocks.<i>`` | all of layer i |
| ``blocks.<i>.attn`` / ``blocks.<i>.mlp`` | layer i's attention / MLP |

Frozen parameters get ``requires_grad = False`` before the optimiser is built, so neither the
gradient nor weight decay moves them.
"""

from __future__ import annotations

import re

import torch

from search_scaling.models import ModelConfig

HASH = re.compile(r"^[0-9a-f]{16}$")
SHAPE_FIELDS = ("d_vocab", "n_ctx", "n_layers", "d_model", "n_heads", "d_mlp_ratio", "positional",
                "attn_only", "universal")  # fmt: skip


def canonical_source(init_from) -> dict:
    """``init_from`` as ``{run, step}`` (step None = the source's final step); ValueError otherwise."""
    if init_from in (None, {}):
        return {}
    if not isinstance(init_from, dict) or "run" not in init_from or set(init_from) - {"run", "step"}:
        raise ValueError(f"init_from must be {{run: <run hash>, step: N}} (step optional: the source's final "
                         f"step), got {init_from!r}")  # fmt: skip
    run, step = init_from["run"], init_from.get("step")
    if not isinstance(run, str) or not HASH.match(run):
        raise ValueError(f"init_from.run must be a run hash (16 hex digits), got {run!r}")
    if step is not None and (isinstance(step, bool) or not isinstance(step, int) or step < 0):
        raise ValueError(f"init_from.step must be an integer >= 0 (or unset: the final step), got {step!r}")
    return {"run": run, "step": step}


def part_prefixes(cfg: ModelConfig) -> dict[str, list[str]]:
    """Every part name the model ``cfg`` has -> the parameter-name prefixes it covers."""
    layers = range(1 if cfg.universal else cfg.n_layers)
    parts = {"embed": ["embed.", "pos_embed."], "unembed": ["ln_final.", "unembed."],
             "attn": [p for i in layers for p in (f"blocks.{i}.ln1.", f"blocks.{i}.attn.")]}  # fmt: skip
    if not cfg.attn_only:
        parts["mlp"] = [p for i in layers for p in (f"blocks.{i}.ln2.", f"blocks.{i}.mlp.")]
    for i in layers:
        parts[f"blocks.{i}"] = [f"blocks.{i}."]
        parts[f"blocks.{i}.attn"] = [f"blocks.{i}.ln1.", f"blocks.{i}.attn."]
        if not cfg.attn_only:
            parts[f"blocks.{i}.mlp"] = [f"blocks.{i}.ln2.", f"blocks.{i}.mlp."]
    return parts


def check_freeze(freeze, cfg: ModelConfig) -> list[str]:
    """``freeze`` as a list of part names the model has; ValueError naming the bad one otherwise."""
    if not isinstance(freeze, (list, tuple)):
        raise ValueError(f"freeze must be a list of model parts, e.g. [embed, blocks.0.attn], got {freeze!r}")
    parts = part_prefixes(cfg)
    for name in freeze:
        if name not in parts:
            raise ValueError(f"freeze: model {cfg.name or ''} ({cfg.n_layers} layers"
                             f"{', attention only' if cfg.attn_only else ''}) has no part {name!r}; "
                             f"its parts: {list(parts)}")  # fmt: skip
    return list(freeze)


def check_same_shape(source: ModelConfig, target: ModelConfig, source_run: str) -> None:
    """Raise naming both shapes when the source's weights cannot be loaded into the target."""
    differ = [f for f in SHAPE_FIELDS if getattr(source, f) != getattr(target, f)]
    if differ:

        def shape(cfg):
            return ", ".join(f"{f}={getattr(cfg, f)}" for f in differ)

        raise ValueError(f"init_from: source run {source_run} has model shape ({shape(source)}) but this "
                         f"run's model has ({shape(target)}); transfer needs the same shape")  # fmt: skip


def load_weights(model: torch.nn.Module, state: dict, source_run: str) -> None:
    """Copy ``state`` into ``model``; every parameter must be present with the same shape."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    wrong = [f"{k}: source {tuple(state[k].shape)} vs target {tuple(v.shape)}"
             for k, v in own.items() if k in state and state[k].shape != v.shape]  # fmt: skip
    if missing or wrong:
        raise ValueError(f"init_from: the weights of run {source_run} do not fit this model: "
                         f"missing {missing}, shapes {wrong}")  # fmt: skip
    model.load_state_dict({k: state[k] for k in own})


def apply_freeze(model: torch.nn.Module, freeze: list[str], cfg: ModelConfig) -> list[str]:
    """Turn off gradients of the parts in ``freeze``; returns the frozen parameter names."""
    prefixes = tuple(p for name in freeze for p in part_prefixes(cfg)[name])
    frozen = []
    for name, param in model.named_parameters():
        if name.startswith(prefixes):
            param.requires_grad_(False)
            frozen.append(name)
    return frozen
