"""Experiments beyond one training distribution (issue 15): named evaluation sets, kept checkpoints,
the loader and `inspect`, and transfer from a finished run, on one tiny run recorded through real
stores (Parquet, SQLite ledger, MLflow)."""

from __future__ import annotations

import pytest
import torch

import search_scaling
from search_scaling.loader import inspect_example
from search_scaling.store import Stores, record_run
from search_scaling.store.weights import WeightStore
from search_scaling.training import RunSpec
from search_scaling.training.data import eval_batch
from search_scaling.training.evaluate import evaluate
from search_scaling.training.run import INJECT_FAULT_ENV
from search_scaling.training.schedule import eval_steps

EVALS = [{"name": "big", "size": 4}, {"name": "wilson", "options": {"generator": "wilson"}}]
SOURCE = RunSpec(task="maze", size=3, model="L1-D8", steps=6, eval_points=3, eval_examples=16, evals=EVALS,
                 keep_checkpoints="log", sweep="exp")  # fmt: skip


def test_specs_without_the_new_fields_keep_their_run_hash():
    plain = RunSpec(task="maze", size=3, model="L1-D8", steps=10)
    assert plain.run_hash == "e4f66caef99c2d63"  # the hash before named sets and transfer existed
    assert not {"evals", "init_from", "freeze", "keep_checkpoints"} & set(plain.hashed_fields())
    assert plain.with_(keep_checkpoints="log").run_hash == plain.run_hash  # what is stored, not computed


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    stores = Stores.resolve(str(tmp_path_factory.mktemp("exp") / "store"))
    result = record_run(SOURCE, stores)
    return stores, result


def test_named_sets_are_logged_at_every_evaluation_step(recorded):
    stores, result = recorded
    curves = stores.parquet.curves(run_hash=SOURCE.run_hash, with_runs=False)
    steps = eval_steps(6, 3)
    for split in ("eval", "eval:big", "eval:wilson"):
        rows = curves[curves["split"] == split]
        assert sorted(rows["step"].unique()) == steps, split
        assert {"loss", "exact", "valid", "decision_loss"} <= set(rows["metric"]), split  # full metrics
    mirror = stores.mirror
    run = mirror._find(mirror.experiment("exp"), SOURCE.run_hash)
    history = mirror.client.get_metric_history(run.info.run_id, "eval:big/loss")
    assert sorted(m.step for m in history) == steps


def test_kept_checkpoints_load_weights_only_and_reproduce_the_logged_loss(recorded):
    stores, result = recorded
    kept = WeightStore(stores.parquet).steps("exp", SOURCE.run_hash)
    assert list(kept) == eval_steps(6, 3)
    curves = stores.parquet.curves(run_hash=SOURCE.run_hash, with_runs=False)
    held_out = eval_batch(SOURCE.task_obj, 3, 16, SOURCE.eval_seed)
    path = f"{stores.root}/weights/sweep_id=exp/run_hash={SOURCE.run_hash}/step-{6:09d}.pt"
    data = torch.load(path, weights_only=True)
    assert data["step"] == 6 and data["run_hash"] == SOURCE.run_hash
    model = search_scaling.load_run(stores.root, SOURCE.run_hash).model
    logged = curves.query("split == 'eval' and metric == 'loss' and step == 6")["value"].item()
    assert evaluate(model, SOURCE.task_obj, held_out)["loss"] == pytest.approx(logged, rel=1e-5)


def test_load_run_and_inspect(recorded, capsys):
    stores, _ = recorded
    model, spec, task = search_scaling.load_run(stores.root, SOURCE.run_hash, step=2)
    assert spec == SOURCE.with_() and task.name == "maze" and not model.training
    assert next(model.parameters()).device.type == "cpu"
    text = inspect_example(search_scaling.load_run(stores.root, SOURCE.run_hash), 1, "big")
    assert "true path" in text and "predicted path" in text and "right:" in text and "S" in text
    from search_scaling.cli import main

    assert main(["inspect", SOURCE.run_hash, "--store", stores.root, "--example", "2"]) == 0
    assert "prompt:" in capsys.readouterr().out
    with pytest.raises(ValueError, match="kept no checkpoint at step 5; kept steps"):
        search_scaling.load_run(stores.root, SOURCE.run_hash, step=5)


def test_transfer_starts_from_the_source_and_keeps_frozen_parts(recorded):
    stores, _ = recorded
    target = SOURCE.with_(init_from={"run": SOURCE.run_hash}, freeze=["embed", "blocks.0.attn"], steps=4,
                          keep_checkpoints="final")  # fmt: skip
    assert target.run_hash != target.with_(init_from={"run": "0" * 16}).run_hash  # the source is identity
    result = record_run(target, stores)
    curves = stores.parquet.curves(with_runs=False)
    source_final = curves.query(f"run_hash == '{SOURCE.run_hash}' and split == 'eval' and step == 6")
    start = curves.query(f"run_hash == '{target.run_hash}' and split == 'eval' and step == 0")
    assert start.set_index("metric")["value"].to_dict() == source_final.set_index("metric")["value"].to_dict()
    before = search_scaling.load_run(stores.root, SOURCE.run_hash).model.state_dict()
    after = search_scaling.load_run(stores.root, target.run_hash).model.state_dict()
    frozen = [k for k in before if k.startswith(("embed.", "pos_embed.", "blocks.0.attn.", "blocks.0.ln1."))]
    assert len(frozen) == 8 and all(torch.equal(before[k], after[k]) for k in frozen)
    assert not torch.equal(before["blocks.0.mlp.0.weight"], after["blocks.0.mlp.0.weight"])
    assert result.status == "done"


@pytest.mark.parametrize(
    "change, words",
    [
        (
            {"evals": [{"name": "x", "options": {"colour": "red"}}]},
            "evals[0] (x): maze: unknown option(s) ['colour']",
        ),
        (
            {"evals": [{"name": "x", "size": 99}]},
            "evals[0] (x): task 'maze': grid_n must be an integer in [2, 64]",
        ),
        ({"freeze": ["mlp"], "model_options": {"attn_only": True}}, "has no part 'mlp'; its parts: ['embed'"),
        ({"freeze": ["blocks.1"]}, "has no part 'blocks.1'"),
        ({"init_from": {"run": "abc"}}, "init_from.run must be a run hash (16 hex digits)"),
    ],
)
def test_bad_experiment_fields_fail_at_construction(change, words):
    with pytest.raises(ValueError) as err:
        SOURCE.with_(**change)
    assert words in str(err.value)


def test_a_source_that_is_missing_failed_or_of_another_shape_fails_before_training(recorded, monkeypatch):
    stores, _ = recorded
    missing = SOURCE.with_(init_from={"run": "0123456789abcdef"}, keep_checkpoints="none")
    with pytest.raises(ValueError, match="run 0123456789abcdef is not in store"):
        record_run(missing, stores)
    assert stores.ledger.get(missing.run_hash)["status"] == "failed"
    broken = SOURCE.with_(evals=[], steps=2, keep_checkpoints="none")
    monkeypatch.setenv(INJECT_FAULT_ENV, f"{broken.run_hash}:setup")
    with pytest.raises(RuntimeError, match="fault injected"):
        record_run(broken, stores)
    monkeypatch.delenv(INJECT_FAULT_ENV)
    dependant = missing.with_(init_from={"run": broken.run_hash}, evals=[])
    with pytest.raises(
        ValueError, match=rf"source run {broken.run_hash} is 'failed': RuntimeError: run \w+: fault"
    ):
        record_run(dependant, stores)
    other = missing.with_(init_from={"run": SOURCE.run_hash}, model="L2-D16")
    shapes = r"has model shape \(n_layers=1, d_model=8\) but this run's model has \(n_layers=2, d_model=16\)"
    with pytest.raises(ValueError, match=shapes):
        record_run(other, stores)


def test_the_attention_example_runs_on_a_finished_run(recorded, tmp_path, capsys):
    import runpy
    import sys
    from pathlib import Path

    stores, _ = recorded
    script = Path(__file__).parents[3] / "analysis" / "examples" / "attention_over_adjacency.py"
    out = tmp_path / "attention.png"
    argv = sys.argv
    sys.argv = [str(script), "--store", stores.root, "--sweep", "exp", "--out", str(out)]
    try:
        runpy.run_path(str(script), run_name="__main__")
    finally:
        sys.argv = argv
    assert out.stat().st_size > 10_000
    printed = capsys.readouterr().out
    assert "layer 0 head 1:" in printed and "of that on the origin's edges" in printed
