"""Training: spec validation and hashing, schedules, loss masks, learning, resume, divergence."""

from __future__ import annotations

import math

import lightning as L
import numpy as np
import pytest
import torch

from search_scaling.tasks import get_task
from search_scaling.training import RunSpec, train_one
from search_scaling.training.data import train_batch
from search_scaling.training.module import masked_loss
from search_scaling.training.run import plan_run
from search_scaling.training.schedule import eval_steps, lr_multiplier
from tests.crashes import CrashAt

TINY = dict(task="maze", size=3, model="L1-D8", eval_points=6, eval_examples=32)


# -- spec ------------------------------------------------------------------------------------------
def test_run_hash_is_stable_and_ignores_sweep():
    a = RunSpec(**TINY, steps=10)
    assert a.run_hash == RunSpec(**TINY, steps=10, sweep="other").run_hash
    assert a.run_hash != RunSpec(**TINY, steps=11).run_hash
    assert a.run_hash != a.with_(task_options={"generator": "wilson"}).run_hash


def test_train_options_change_training_only_and_keep_old_hashes():
    a = RunSpec(**TINY, steps=10)
    b = a.with_(train_options={"endpoints": "balanced"})
    assert "train_options" not in a.hashed_fields()  # an unset new field keeps every earlier identity
    assert b.run_hash != a.run_hash and b.eval_seed == a.eval_seed
    assert b.derived_seed("data", data_only=True) != a.derived_seed("data", data_only=True)
    assert b.train_task.maze_options == {"endpoints": "balanced"} and b.task_obj.maze_options == {}
    with pytest.raises(ValueError, match="max_decisions=7 is infeasible for grid_n=3"):
        a.with_(train_options={"endpoints": "balanced", "max_decisions": 7})


def test_data_seed_shared_across_models_init_seed_not():
    a, b = RunSpec(**TINY, steps=10), RunSpec(**{**TINY, "model": "L2-D16"}, steps=10)
    assert a.derived_seed("data", data_only=True) == b.derived_seed("data", data_only=True)
    assert a.derived_seed("init") != b.derived_seed("init")
    assert a.eval_seed == a.with_(seed=3).eval_seed


@pytest.mark.parametrize(
    "change, words",
    [
        ({"steps": None}, "exactly one of steps / tokens"),
        ({"steps": 10, "tokens": 10}, "exactly one of steps / tokens"),
        ({"steps": 10, "lr": -1.0}, "lr must be a number in [0.0, 10.0]"),
        ({"steps": 10, "loss_mask": "x"}, "loss_mask must be one of ['full', 'answer_only', 'curriculum']"),
        ({"steps": 10, "size": 1}, "grid_n must be an integer in [2, 64]"),
        ({"steps": 10, "model": "huge"}, "unknown model size 'huge'"),
        ({"steps": 10, "task": "chess"}, "unknown task 'chess'"),
    ],
)
def test_spec_errors_name_the_field(change, words):
    fields = {**TINY, **change}
    with pytest.raises(ValueError) as err:
        RunSpec(**fields)
    assert words in str(err.value)


def test_from_dict_rejects_unknown_fields():
    with pytest.raises(ValueError, match=r"unknown field\(s\) \['stepz'\]"):
        RunSpec.from_dict({"stepz": 3}, where="sweeps/x.yaml: cells[0]")


# -- schedules ---------------------------------------------------------------------------------------
def test_lr_warms_up_then_decays_to_floor():
    total, warm = 1000, 0.1
    lrs = [lr_multiplier(s, total, warm, 0.1) for s in range(total + 1)]
    assert lrs[0] == pytest.approx(0.01) and max(lrs) == pytest.approx(1.0)
    assert np.all(np.diff(lrs[100:]) <= 1e-12) and lrs[-1] == pytest.approx(0.1)


def test_eval_steps_are_dense_early_and_cover_the_end():
    steps = eval_steps(10_000, 24)
    assert steps[0] == 0 and steps[-1] == 10_000
    assert sum(s <= 100 for s in steps) >= 8  # a third of the points in the first 1% of training
    assert max(np.diff(steps)) <= 10_000 / 6 + 1


# -- loss masks --------------------------------------------------------------------------------------
def test_masked_loss_only_counts_masked_targets():
    tokens = torch.tensor([[1, 2, 3, 4]])
    logits = torch.zeros(1, 3, 5)
    logits[0, 2, 4] = 100.0  # position 3 (target 4) predicted perfectly, the others uniform
    only_last = torch.tensor([[False, False, False, True]])
    assert masked_loss(logits, tokens, only_last).item() == pytest.approx(0.0, abs=1e-6)
    every = torch.tensor([[False, True, True, True]])
    assert masked_loss(logits, tokens, every).item() == pytest.approx(2 * math.log(5) / 3, rel=1e-5)


def test_curriculum_mask_switches_from_answer_to_full():
    batch = train_batch(get_task("maze"), 3, data_seed=1, step=0, batch_size=8)
    early, late = batch.loss_mask("curriculum", 0.2, 0.5), batch.loss_mask("curriculum", 0.8, 0.5)
    assert np.array_equal(early, batch.answer_mask)
    assert np.array_equal(late, batch.full_mask()) and late.sum() > 3 * early.sum()


def test_batches_are_a_function_of_the_step():
    task = get_task("maze")
    a, b = train_batch(task, 4, 7, 12, 16), train_batch(task, 4, 7, 12, 16)
    assert np.array_equal(a.tokens, b.tokens)
    assert not np.array_equal(a.tokens, train_batch(task, 4, 7, 13, 16).tokens)


# -- training runs -------------------------------------------------------------------------------------
def test_tiny_model_learns_a_trivial_task(tmp_path):
    spec = RunSpec(task="binary_copy", size=4, model="L2-D16", steps=150, lr=1e-2, eval_points=4,
                   eval_examples=64, task_options={"cot": False})  # fmt: skip
    result = train_one(spec, tmp_path)
    loss = {r["step"]: r["value"] for r in result.rows if r["split"] == "eval" and r["metric"] == "loss"}
    assert result.status == "done" and result.steps == 150
    assert loss[150] < 0.5 * loss[0]
    assert result.final["token_acc"] > 0.6
    assert {"exact", "token_acc", "next_token_acc", "answer_logprob", "answer_prob", "answer_len"} <= set(
        result.final
    )


def test_maze_run_reports_path_metrics_scale_and_budget(tmp_path):
    spec = RunSpec(**TINY, tokens=20_000)
    result = train_one(spec, tmp_path)
    held_out = plan_run(spec)[0]  # the token budget becomes steps through the held-out mean length
    assert result.steps == math.ceil(20_000 / (64 * held_out.length.mean()))
    assert abs(result.tokens - 20_000) < 64 * held_out.length.max()
    assert {"exact", "valid", "reached", "first_step", "prefix_len", "answer_logprob"} <= set(result.final)
    assert {"decision_loss", "decision_acc", "corridor_loss", "corridor_acc", "exact_dec_0"} <= set(
        result.final
    )
    evals = {r["step"] for r in result.rows if r["split"] == "eval"}  # progress measures at each evaluation
    probes = {(r["step"], r["metric"]) for r in result.rows if r["split"] == "probe"}
    for name in ("wall_probe_L0", "wall_probe_best", "lens_decision_L0", "adj_attn_L0H0", "target_attn_max"):
        assert {step for step, metric in probes if metric == name} == evals
    row = result.rows[-1]
    assert row["flops"] == row["tokens"] * result.scale["flops_per_token"]
    assert result.scale["params_total"] == sum(p.numel() for p in _model(result).parameters())


def _model(result):
    from search_scaling.models import Transformer

    ckpt = torch.load(result.checkpoint, weights_only=True)
    model = Transformer(result.spec.model_config)
    model.load_state_dict({k.removeprefix("model."): v for k, v in ckpt["state_dict"].items()})
    return model


def test_same_spec_reproduces_and_resume_continues_the_same_curve(tmp_path):
    spec = RunSpec(**TINY, steps=120)
    key = lambda r: (r["step"], r["split"], r["metric"], r["value"], r["tokens"])  # noqa: E731
    full = train_one(spec, tmp_path / "a")
    quiet = train_one(spec.with_(progress="off"), tmp_path / "b")  # measuring changes nothing trained
    assert [key(r) for r in quiet.rows] == [key(r) for r in full.rows if r["split"] != "probe"]
    with pytest.raises(RuntimeError, match="injected crash"):
        train_one(spec, tmp_path / "c", checkpoint_every_s=0, callbacks=(CrashAt(70),))
    resumed = train_one(spec, tmp_path / "c", checkpoint_every_s=0)
    assert [key(r) for r in resumed.rows] == [key(r) for r in full.rows]
    assert len({(r["step"], r["split"], r["metric"]) for r in resumed.rows}) == len(resumed.rows)
    again = train_one(spec, tmp_path / "c")  # finished: returns from the checkpoint
    assert again.status == "done" and len(again.rows) == len(full.rows)


class _Poison(L.Callback):
    """Sets one weight to NaN at a step: what a blown-up update does, made deterministic."""

    def on_train_batch_end(self, trainer, pl_module, *args):
        if trainer.global_step == 30:
            with torch.no_grad():
                pl_module.model.embed.weight[0, 0] = float("nan")


def test_divergence_stops_with_status_diverged(tmp_path):
    spec = RunSpec(**TINY, steps=200)
    result = train_one(spec, tmp_path, callbacks=(_Poison(),))
    assert result.status == "diverged" and result.steps < 200
    assert any(not np.isfinite(r["value"]) for r in result.rows if r["metric"] == "loss")


def test_checkpoint_loads_with_weights_only(tmp_path):
    result = train_one(RunSpec(**TINY, steps=5), tmp_path)
    state = torch.load(result.checkpoint, weights_only=True)
    assert {"state_dict", "optimizer_states", "loops", "callbacks"} <= set(state)
