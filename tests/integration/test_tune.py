"""`search-scaling tune` on real Ray Tune: 2 model sizes x (the spec's lr + one sampled lr) x 30 steps
with ASHA. The sampled lr is far too small, so ASHA stops it at its first rung: a pruned trial keeps
its curve; the tuned spec holds the best lr per model and runs unchanged; a second `tune` trains
nothing. The replay of finished runs (a killed search going on) without Ray."""

from __future__ import annotations

import json

import pytest
import yaml

from search_scaling.cli import main
from search_scaling.store import Stores, record_run
from search_scaling.sweep.spec import load_sweep, parse_sweep
from search_scaling.sweep.tune import meta_path
from search_scaling.sweep.tune_plan import trial_specs, tune_groups
from search_scaling.sweep.tune_trial import Pruned, _run_or_replay

pytestmark = pytest.mark.integration

SPEC = """
name: tt
tasks: [{task: maze, sizes: [2]}]
models: [L1-D8, L2-D16]
training: {batch_size: 16, eval_examples: 32, eval_points: 6}
budget: {steps: 30}
tune:
  space: {lr: {loguniform: [1.0e-5, 2.0e-5]}}
  samples: 1
  budget: {fraction: 1.0}
  scheduler: {asha: {grace: 0.2, reduction_factor: 3}}
  max_concurrent: 1
"""


def _attempts(stores: Stores) -> dict:
    import sqlalchemy as sa

    with stores.ledger.engine.connect() as conn:
        return dict(conn.execute(sa.text("select run_hash, attempts from ledger_runs")).all())


def test_tune_prunes_keeps_curves_writes_the_tuned_spec_and_reuses_trials(tmp_path, monkeypatch):
    import ray

    monkeypatch.setenv("RAY_ADDRESS", "local")  # never join another local cluster
    spec = tmp_path / "tt.yaml"
    spec.write_text(SPEC)
    store = tmp_path / "store"
    try:
        assert main(["tune", str(spec), "--store", str(store), "--verbose", "0"]) == 0
    finally:
        ray.shutdown()
    stores = Stores.resolve(store)
    runs = stores.parquet.runs(sweep="tt-tune")
    assert len(runs) == 4 and set(runs["status"]) <= {"done", "pruned"}
    pruned = runs[runs["status"] == "pruned"]
    assert len(pruned) == 2  # ASHA stopped the tiny learning rates early ...
    assert sum(json.loads(s)["lr"] == 3e-3 for s in runs["spec_json"]) == 2  # the spec's own lr is a trial
    curves = stores.parquet.curves(sweep="tt-tune", with_runs=False)
    for run_hash in pruned["run_hash"]:  # ... and its curve up to the stop is kept
        steps = curves.loc[(curves["run_hash"] == run_hash) & (curves["split"] == "eval"), "step"]
        assert 0 < steps.max() < 30 and stores.ledger.get(run_hash)["status"] == "pruned"

    tuned = load_sweep(tmp_path / "tt.tuned.yaml")
    best = {}
    for row in runs[runs["status"] == "done"].itertuples():
        config = json.loads(row.spec_json)
        loss = json.loads(row.final_json)["loss"]
        if row.model not in best or loss < best[row.model][1]:
            best[row.model] = (config["lr"], loss)
    assert {c.model: c.lr for c in tuned.cells} == {m: lr for m, (lr, _) in best.items()}
    assert tuned.name == "tt-tuned" and tuned.tune is None
    assert (store / "reports" / "tt-tune" / "index.html").exists()

    before = _attempts(stores)
    assert not ray.is_initialized()  # the command stopped the Ray it started
    monkeypatch.setattr(ray, "init", lambda *a, **k: pytest.fail("a second tune started Ray"))
    assert main(["tune", str(spec), "--store", str(store), "--verbose", "0"]) == 0  # a second tune ...
    assert _attempts(stores) == before  # ... trains nothing, starts no Ray
    assert main(["report", "tt-tune", "--store", str(store)]) == 0


def test_a_rerun_search_replays_finished_runs_and_resumes_pruned_ones(tmp_path):
    sweep = parse_sweep(yaml.safe_load(SPEC), "tt.yaml")
    group = tune_groups(sweep)[0]
    (spec,) = trial_specs(group, {"lr": 3e-3}, sweep.tune, sweep.name)
    spec = spec.with_(steps=8, eval_points=4)
    stores = Stores.resolve(tmp_path, mlflow=False)
    record_run(spec, stores)
    seen = []
    final = _run_or_replay(spec, stores, "o", lambda *a: seen.append(a[:2]), 30.0)
    assert [s for s, _ in seen] == [1, 2, 4, 8] and final["loss"] > 0  # replayed from the store
    assert stores.ledger.get(spec.run_hash)["attempts"] == 1  # not trained again

    other = spec.with_(lr=1e-3)
    stop_at_second = iter([None, Pruned])

    def emit(step, total, metrics):
        if next(stop_at_second) is Pruned:
            raise Pruned

    assert _run_or_replay(other, stores, "o", emit, 30.0) is None  # stopped at its second evaluation
    assert stores.ledger.get(other.run_hash)["status"] == "pruned"
    seen.clear()
    final = _run_or_replay(other, stores, "o", lambda *a: seen.append(a[0]), 30.0)
    assert seen == [1, 2, 4, 8] and stores.ledger.get(other.run_hash)["status"] == "done"
    curves = stores.parquet.curves(run_hash=other.run_hash, with_runs=False)
    assert not curves.duplicated(["step", "split", "metric"]).any()
    assert meta_path(stores, "tt").name == "tt-tune.json"
