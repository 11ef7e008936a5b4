"""Hook points with TransformerLens's names, signatures and semantics, and per-head weight views.

Hook points of a model (``hook_names``), with the activation a hook function receives:

| name | activation |
| --- | --- |
| ``hook_embed``, ``hook_pos_embed`` (learned positions) | [batch, pos, d_model] |
| ``blocks.{i}.hook_resid_pre`` / ``_mid`` (with an MLP) / ``_post`` | [batch, pos, d_model] |
| ``blocks.{i}.attn.hook_q`` / ``hook_k`` / ``hook_v`` (q, k before rotary) | [batch, pos, head, d_head] |
| ``blocks.{i}.attn.hook_attn_scores`` (masked, pre-softmax) / ``hook_pattern`` | [batch, head, query, key] |
| ``blocks.{i}.attn.hook_z`` (each head's output before W_O) | [batch, pos, head, d_head] |
| ``blocks.{i}.hook_attn_out`` / ``hook_mlp_out`` (bias included) | [batch, pos, d_model] |
| ``blocks.{i}.mlp.hook_pre`` / ``mlp.hook_post`` (before / after the GELU) | [batch, pos, d_mlp] |
| ``hook_logits`` | [batch, pos, d_vocab] |

With a KV cache, ``pos`` / ``query`` are the new positions only and ``key`` every position so far.

A hook function is ``fn(activation, hook) -> replacement or None`` (``hook.name``, ``hook.layer()``,
``hook.ctx``), as in TransformerLens. A model with no hook registered runs the plain forward (nothing
is checked per hook point); the attention pattern or scores, when hooked, make that layer compute
attention as explicit matmuls instead of the fused kernel, and no other hook does.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from search_scaling.models.config import ModelConfig

HEAD_HOOKS = ("attn.hook_q", "attn.hook_k", "attn.hook_v", "attn.hook_z")  # [batch, pos, head, d_head]
PATTERN_HOOKS = ("attn.hook_attn_scores", "attn.hook_pattern")  # [batch, head, query, key]
ATTN_HOOKS = (*HEAD_HOOKS, *PATTERN_HOOKS, "hook_attn_out")
MLP_HOOKS = ("hook_resid_mid", "mlp.hook_pre", "mlp.hook_post", "hook_mlp_out")
RESID_HOOKS = ("hook_resid_pre", "hook_resid_post")
_tags = itertools.count()


def block_hooks(cfg: ModelConfig) -> tuple[str, ...]:
    """The per-layer hook suffixes (after ``blocks.{i}.``) of a model ``cfg``."""
    return (*RESID_HOOKS, *ATTN_HOOKS, *(() if cfg.attn_only else MLP_HOOKS))


def global_hooks(cfg: ModelConfig) -> tuple[str, ...]:
    return ("hook_embed", *(("hook_pos_embed",) if cfg.positional == "learned" else ()), "hook_logits")


def hook_names(cfg: ModelConfig) -> list[str]:
    """Every hook point of a model ``cfg``, in the order the forward pass reaches them (roughly)."""
    per_layer = [f"blocks.{i}.{s}" for i in range(cfg.n_layers) for s in block_hooks(cfg)]
    first, *rest = global_hooks(cfg)
    return [first, *rest[:-1], *per_layer, rest[-1]]


@dataclass
class HookPoint:
    """What a hook function gets as ``hook``: the point's name, its layer and a scratch dict."""

    name: str
    ctx: dict = field(default_factory=dict)

    def layer(self) -> int:
        if not self.name.startswith("blocks."):
            raise ValueError(f"hook {self.name} is not inside a block")
        return int(self.name.split(".")[1])


class HookRegistry:
    """The hook functions registered on one model: name -> [(fn, tag, permanent)], in order."""

    def __init__(self):
        self.fns: dict[str, list[tuple[Callable, int, bool]]] = {}
        self.points: dict[str, HookPoint] = {}

    def __bool__(self) -> bool:
        return bool(self.fns)

    def wants(self, name: str) -> bool:
        return name in self.fns

    def __call__(self, name: str, x: torch.Tensor) -> torch.Tensor:
        """``x`` after every function hooked at ``name`` (a function returning None keeps its input)."""
        fns = self.fns.get(name)
        if not fns:
            return x
        point = self.points.setdefault(name, HookPoint(name))
        for fn, _, _ in fns:
            out = fn(x, hook=point)
            if out is not None:
                if out.shape != x.shape:
                    raise ValueError(
                        f"hook at {name} returned shape {tuple(out.shape)}, expected {tuple(x.shape)}"
                    )
                x = out
        return x

    def add(self, name: str, fn: Callable, tag: int, permanent: bool = False) -> None:
        self.fns.setdefault(name, []).append((fn, tag, permanent))

    def remove(self, keep: Callable[[int, bool], bool]) -> None:
        """Drop every function whose (tag, permanent) ``keep`` rejects."""
        for name in list(self.fns):
            self.fns[name] = [e for e in self.fns[name] if keep(e[1], e[2])]
            if not self.fns[name]:
                del self.fns[name]


def head_hook(hooks: HookRegistry, name: str, x: torch.Tensor) -> torch.Tensor:
    """Hook ``x`` [batch, head, pos, d_head] at ``name`` in TransformerLens's layout, [batch, pos, head,
    d_head], and return it in the model's."""
    if not hooks.wants(name):
        return x
    return hooks(name, x.transpose(1, 2)).transpose(1, 2)


class HookedModel:
    """TransformerLens's hook API for `Transformer` (a mixin: the model keeps a `HookRegistry` in
    ``self.hook_registry`` and a ``cfg``)."""

    def hook_names(self) -> list[str]:
        return hook_names(self.cfg)

    def _matching(self, name) -> list[str]:
        """Hook names a TransformerLens name argument stands for: a name or a filter ``name -> bool``."""
        names = self.hook_names()
        if callable(name):
            return [n for n in names if name(n)]
        if name not in names:
            raise ValueError(f"unknown hook {name!r}; this model's hooks: {names}")
        return [name]

    def add_hook(
        self, name, hook: Callable, dir: str = "fwd", is_permanent: bool = False, _tag: int = -1
    ) -> None:
        """Register ``hook(activation, hook) -> replacement | None`` at ``name`` (or every name the
        filter ``name`` accepts) until `reset_hooks` (permanent hooks survive it unless asked)."""
        if dir != "fwd":
            raise ValueError(f"only forward hooks are supported (dir='fwd'), got dir={dir!r}")
        for n in self._matching(name):
            self.hook_registry.add(n, hook, _tag, is_permanent)

    def reset_hooks(self, including_permanent: bool = False) -> None:
        self.hook_registry.remove(lambda tag, permanent: permanent and not including_permanent)

    @contextlib.contextmanager
    def hooks(self, fwd_hooks=(), bwd_hooks=(), reset_hooks_end: bool = True, clear_contexts: bool = False):
        """Within the block the model runs with ``fwd_hooks`` [(name or filter, fn)] added; at its
        end (also on an error) exactly those are removed."""
        if bwd_hooks:
            raise ValueError("backward hooks are not supported; pass fwd_hooks only")
        tag = next(_tags)
        try:
            for name, fn in fwd_hooks:
                self.add_hook(name, fn, _tag=tag)
            yield self
        finally:
            if reset_hooks_end:
                self.hook_registry.remove(lambda t, permanent: t != tag)
            if clear_contexts:
                for point in self.hook_registry.points.values():
                    point.ctx.clear()

    def run_with_hooks(self, *model_args, fwd_hooks=(), bwd_hooks=(), reset_hooks_end: bool = True,
                       clear_contexts: bool = False, return_type: str | None = "logits",
                       **model_kwargs):  # fmt: skip
        """The forward pass with ``fwd_hooks`` [(name or filter, fn)] active for this call only.
        ``return_type``: ``logits``, ``loss`` (mean next-token cross-entropy) or None."""
        if return_type not in ("logits", "loss", None):
            raise ValueError(f"return_type must be 'logits', 'loss' or None, got {return_type!r}")
        with self.hooks(fwd_hooks, bwd_hooks, reset_hooks_end, clear_contexts):
            logits = self(*model_args, **model_kwargs)
        if return_type == "loss":
            tokens = model_args[0]
            return F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), tokens[:, 1:].flatten())
        return logits if return_type == "logits" else None

    def run_with_cache(self, tokens: torch.Tensor, names=None, *, names_filter=None, **model_kwargs):
        """(logits, {hook name: activation}) for the hooks ``names`` (a name, a set or list of
        names, a filter ``name -> bool``; None: every hook point). Activations are detached and
        recorded after any hook already registered there (an intervened model's values)."""
        names = names if names_filter is None else names_filter
        if names is None:
            wanted = self.hook_names()
        elif callable(names):
            wanted = self._matching(names)
        else:
            wanted = [names] if isinstance(names, str) else list(names)
        store: dict[str, torch.Tensor] = {}

        def record(x, hook):
            store[hook.name] = x.detach()

        logits = self.run_with_hooks(tokens, fwd_hooks=[(n, record) for n in wanted], **model_kwargs)
        return logits, store

    def run_with_patch(self, tokens: torch.Tensor, source_cache: dict, names=None, heads=None):
        """Activation patching: run ``tokens`` with the activations at ``names`` (default: every
        hook in ``source_cache``) replaced by ``source_cache``'s (from `run_with_cache` on another
        input of the same shape); ``heads`` limits per-head hooks to those heads. -> logits."""
        names = list(source_cache) if names is None else ([names] if isinstance(names, str) else list(names))
        return self.run_with_hooks(tokens, fwd_hooks=[(n, patch_hook(source_cache[n], heads)) for n in names])

    # -- per-head weights as TransformerLens lays them out (views of the fused tensors) ----------------
    @property
    def W_Q(self) -> torch.Tensor:
        """[n_layers, n_heads, d_model, d_head] (a stacked copy; each layer's `Attention.W_Q` is a view)."""
        return torch.stack([self.attention(i).W_Q for i in range(self.cfg.n_layers)])

    @property
    def W_K(self) -> torch.Tensor:
        return torch.stack([self.attention(i).W_K for i in range(self.cfg.n_layers)])

    @property
    def W_V(self) -> torch.Tensor:
        return torch.stack([self.attention(i).W_V for i in range(self.cfg.n_layers)])

    @property
    def W_O(self) -> torch.Tensor:
        """[n_layers, n_heads, d_head, d_model]."""
        return torch.stack([self.attention(i).W_O for i in range(self.cfg.n_layers)])

    @property
    def W_E(self) -> torch.Tensor:
        return self.embed.weight  # [d_vocab, d_model]

    @property
    def W_U(self) -> torch.Tensor:
        return self.unembed.weight.T  # [d_model, d_vocab]

    def attention(self, layer: int):
        return self.blocks[0 if self.cfg.universal else layer].attn


class HeadWeights:
    """W_Q, W_K, W_V [n_heads, d_model, d_head], W_O [n_heads, d_head, d_model] and biases as views
    of `Attention`'s fused ``qkv`` and ``out`` (writing to a view writes the model's weights)."""

    def _qkv_part(self, part: int) -> torch.Tensor:
        h, d = self.cfg.n_heads, self.cfg.d_head
        rows = self.qkv.weight[part * h * d : (part + 1) * h * d]  # [head * d_head, d_model]
        return rows.view(h, d, self.cfg.d_model).transpose(1, 2)

    W_Q = property(lambda self: self._qkv_part(0))
    W_K = property(lambda self: self._qkv_part(1))
    W_V = property(lambda self: self._qkv_part(2))
    b_Q = property(lambda self: self._qkv_bias(0))  # [n_heads, d_head]
    b_K = property(lambda self: self._qkv_bias(1))
    b_V = property(lambda self: self._qkv_bias(2))

    def _qkv_bias(self, part: int) -> torch.Tensor:
        h, d = self.cfg.n_heads, self.cfg.d_head
        return self.qkv.bias[part * h * d : (part + 1) * h * d].view(h, d)

    @property
    def W_O(self) -> torch.Tensor:
        return self.out.weight.T.view(self.cfg.n_heads, self.cfg.d_head, self.cfg.d_model)

    @property
    def b_O(self) -> torch.Tensor:
        return self.out.bias  # [d_model]


def patch_hook(source: torch.Tensor, heads=None) -> Callable:
    """A hook that returns ``source`` (all of it, or its ``heads`` on a per-head hook)."""

    def patch(x, hook):
        if source.shape != x.shape:
            raise ValueError(f"patching {hook.name}: the source activation has shape "
                             f"{tuple(source.shape)}, this run's {tuple(x.shape)}; patch between inputs "
                             "of the same shape")  # fmt: skip
        if heads is None:
            return source.to(x.dtype)
        return select_heads(hook.name, x, heads, source.to(x.dtype))

    return patch


def head_dim(name: str) -> int:
    """The head axis of a per-head hook's activation: 2 for q/k/v/z, 1 for scores and pattern."""
    return 1 if name.endswith(("hook_pattern", "hook_attn_scores")) else 2


def select_heads(name: str, x: torch.Tensor, heads, replacement: torch.Tensor) -> torch.Tensor:
    """``x`` with the ``heads`` of the per-head hook ``name`` taken from ``replacement`` (broadcast)."""
    dim = head_dim(name)
    mask = torch.zeros(x.shape[dim], dtype=torch.bool, device=x.device)
    mask[list(heads)] = True
    shape = [1] * x.dim()
    shape[dim] = -1
    return torch.where(mask.view(shape), replacement, x)
