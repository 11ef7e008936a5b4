"""Interventions during training and ablations at evaluation (issue 31): identity, validation, a
window clamp that acts only inside its window, named sets scored under ablation, `inspect --ablate`."""

from __future__ import annotations

import lightning as L
import pytest

from search_scaling.loader import LoadedRun, inspect_example
from search_scaling.training import RunSpec, train_one
from search_scaling.training.data import eval_batch
from search_scaling.training.evaluate import evaluate
from search_scaling.training.interventions import ablating, active, canonical

BASE = {"task": "maze", "size": 3, "model": "L2-D32", "steps": 10}
CLAMP = {
    "hook": "blocks.0.attn.hook_pattern",
    "op": "clamp",
    "pattern": "uniform",
    "from_step": 2,
    "until_step": 4,
}
ZERO_L0 = {"hook": "blocks.0.hook_attn_out", "op": "zero"}


def test_hashes_differ_with_interventions_and_existing_specs_keep_theirs():
    plain = RunSpec(**BASE)
    assert plain.run_hash == "18006960379c7720"  # as computed before interventions existed
    older = RunSpec(**BASE, evals=[{"name": "big", "size": 4}], freeze=["embed"])
    assert older.run_hash == "945b71d3533384e4" and "ablate" not in older.evals[0]
    assert "interventions" not in plain.hashed_fields()
    clamped = RunSpec(**BASE, interventions=[CLAMP])
    assert clamped.run_hash != plain.run_hash
    assert clamped.with_(interventions=[{**CLAMP, "until_step": 5}]).run_hash != clamped.run_hash
    heads = {"hook": "blocks.1.attn.hook_z", "op": "zero"}
    unsorted = RunSpec(**BASE, interventions=[{**heads, "heads": [2, 0]}])
    spelled_out = RunSpec(**BASE, interventions=[{**heads, "heads": [0, 2], "from_step": 0}])
    assert unsorted.run_hash == spelled_out.run_hash  # one spelling, one hash
    ablated = RunSpec(**BASE, evals=[{"name": "no_L0", "ablate": [ZERO_L0]}])
    assert ablated.run_hash not in (plain.run_hash, clamped.run_hash)


BAD = [
    ({"interventions": [{"hook": "blocks.0.attn.hook_patern", "op": "zero"}]},
     r"interventions\[0\]\.hook: unknown hook 'blocks.0.attn.hook_patern'.*blocks.<i>.<hook> for i in 0..1"),
    ({"interventions": [{"hook": "blocks.0.attn.hook_z", "op": "zero", "heads": [4]}]},
     r"interventions\[0\]\.heads: head indices must be in 0..3"),
    ({"interventions": [{"hook": "blocks.0.hook_attn_out", "op": "clamp", "pattern": "uniform"}]},
     r"interventions\[0\]\.op: clamp fits an attention pattern \(blocks.<i>.attn.hook_pattern\)"),
    ({"interventions": [{**CLAMP, "from_step": 5, "until_step": 5}]},
     r"interventions\[0\]\.until_step must be an integer greater than from_step \(5\)"),
    ({"interventions": [{"hook": "blocks.2.hook_mlp_out", "op": "zero"}]},
     r"names layer 2 but the model L2-D32 \(2 layer\(s\), 4 heads\) has layers 0..1"),
    ({"interventions": [{"hook": "blocks.0.mlp.hook_post", "op": "mean"}],
      "model_options": {"attn_only": True}},
     r"needs an MLP but the model .* attention only\) has none"),
    ({"interventions": [{"hook": "blocks.0.attn.hook_pattern", "op": "mean"}]},
     r"op: mean does not fit 'blocks.0.attn.hook_pattern'.*use op: clamp"),
    ({"interventions": [{**CLAMP, "pattern": "diagonal"}]},
     r"pattern must be one of \['previous_token', 'uniform', 'first_token'\] or a square matrix"),
    ({"interventions": [{**CLAMP, "pattern": [[0.5, 0.5], [0.5, 0.5]]}]},
     r"pattern: a given pattern must be .*n_ctx=.*zero above the diagonal"),
    ({"interventions": [{"hook": "blocks.0.hook_mlp_out", "op": "zero", "heads": [0]}]},
     r"heads: only per-head hooks .* 'blocks.0.hook_mlp_out' has none"),
    ({"interventions": [{"hook": "blocks.0.hook_mlp_out", "op": "drop"}]},
     r"interventions\[0\]\.op must be one of \['zero', 'mean', 'clamp'\]"),
    ({"evals": [{"name": "x", "ablate": [{**ZERO_L0, "until_step": 3}]}]},
     r"evals\[0\]\.ablate\[0\]: from_step / until_step are for training interventions"),
    ({"evals": [{"name": "x", "ablate": [{"hook": "blocks.5.hook_attn_out", "op": "zero"}]}]},
     r"evals\[0\] \(x\)\.ablate\[0\]\.hook: 'blocks.5.hook_attn_out' names layer 5"),
]  # fmt: skip


@pytest.mark.parametrize(("change", "message"), BAD)
def test_bad_interventions_fail_at_construction_naming_the_field(change, message):
    with pytest.raises(ValueError, match=message):
        RunSpec(**{**BASE, **change})


def test_windows_hold_from_step_up_to_but_not_including_until_step():
    entries = canonical([CLAMP, {"hook": "blocks.1.attn.hook_z", "op": "zero", "from_step": 3}])
    assert [active(entries, s) for s in range(6)] == [(), (), (0,), (0, 1), (1,), (1,)]


def test_a_window_clamp_acts_only_inside_its_window_and_named_sets_are_scored_ablated(tmp_path):
    spec = RunSpec(task="maze", size=3, model="L1-D8", steps=6, eval_points=4, eval_examples=16,
                   batch_size=8, progress="off", interventions=[CLAMP],
                   evals=[{"name": "no_L0", "ablate": [ZERO_L0]}])  # fmt: skip
    spy = _Spy()
    result = train_one(spec, tmp_path, callbacks=(spy,))
    # a clamped pattern is a constant: layer 0's queries and keys get no gradient inside the window only
    assert [s for s, g in sorted(spy.qk_grad.items()) if g == 0] == [2, 3]
    assert all(g > 0 for s, g in spy.qk_grad.items() if s not in (2, 3))
    # evaluations at step s see the interventions of step s (schedule 0, 1, 2, 3, 6)
    assert spy.active_at_eval == {1: (), 2: (0,), 3: (0,), 6: ()}
    rows = {(r["step"], r["split"], r["metric"]): r["value"] for r in result.rows}
    assert {s for s, split, m in rows if split == "eval:no_L0" and m == "loss"} == {0, 1, 2, 3, 6}
    held_out = eval_batch(spec.task_obj, spec.size, spec.eval_examples, spec.eval_seed)
    with ablating(spy.model, spec.eval_sets[0].ablate):
        ablated = evaluate(spy.model, spec.task_obj, held_out)
    assert rows[(6, "eval:no_L0", "loss")] == pytest.approx(ablated["loss"], rel=1e-5)
    assert rows[(6, "eval", "loss")] == pytest.approx(
        evaluate(spy.model, spec.task_obj, held_out)["loss"], rel=1e-5
    )
    assert rows[(6, "eval:no_L0", "loss")] != pytest.approx(rows[(6, "eval", "loss")], rel=1e-3)
    assert not spy.model.hook_registry  # no ablation hook left behind by the evaluations

    loaded = LoadedRun(spy.model, spec, spec.task_obj, 6)
    assert "ablated: zero hook_embed" in inspect_example(
        loaded, 0, ablate=[{"hook": "hook_embed", "op": "zero"}]
    )
    assert "ablated: zero blocks.0.hook_attn_out" in inspect_example(loaded, 0, "no_L0")  # the set's own
    with pytest.raises(ValueError, match=r"--ablate\[0\]\.hook: unknown hook 'blocks.0.hook_z'"):
        inspect_example(loaded, 0, ablate=[{"hook": "blocks.0.hook_z", "op": "zero"}])


class _Spy(L.Callback):
    """Layer 0's query/key gradient at every step, and which interventions each evaluation saw."""

    def __init__(self):
        self.qk_grad, self.active_at_eval, self.model = {}, {}, None

    def on_after_backward(self, trainer, pl_module):
        cfg = pl_module.model.cfg
        grad = pl_module.model.blocks[0].attn.qkv.weight.grad  # [3 * n_heads * d_head, d_model]
        self.qk_grad[trainer.global_step] = float(grad[: 2 * cfg.n_heads * cfg.d_head].abs().sum())

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        step = trainer.global_step  # the run's tracker (called first) has evaluated the model at `step`
        if step in (1, 2, 3, 6):
            self.active_at_eval[step] = getattr(pl_module.model, "_interventions_active", ())
        self.model = pl_module.model
