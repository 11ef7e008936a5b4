"""Stop rules through the stores: a packed sweep cell that stops on target and one that runs its budget
are recorded with their stop_reason and stopped_step in the runs table and as MLflow tags, and a
finished stopped run is not trained again."""

from __future__ import annotations

import mlflow

from search_scaling.store import Stores
from search_scaling.store.mirror import HASH_TAG
from search_scaling.store.pack_recorder import record_pack
from search_scaling.training import RunSpec

TINY = dict(task="maze", size=3, model="L1-D8", eval_points=8, eval_examples=32, steps=80, sweep="stops")
STOP = {"target": {"metric": "loss", "value": 2.45}}  # reached at step 40 of 80 (test_stop_rules)


def test_stop_reason_and_step_reach_the_runs_table_and_mlflow(tmp_path):
    stores = Stores.resolve(str(tmp_path / "store"))
    specs = [RunSpec(**TINY, stop=STOP), RunSpec(**TINY, seed=1)]
    results = record_pack(specs, stores, checkpoint_every_s=0)
    assert [(r.stop_reason, r.steps) for r in results] == [("target", 40), ("budget", 80)]
    runs = stores.parquet.runs("stops").set_index("run_hash")
    for spec, result in zip(specs, results):
        row = runs.loc[spec.run_hash]
        assert (row["status"], row["stop_reason"], row["stopped_step"], row["steps"]) == (
            "done", result.stop_reason, result.steps, result.steps)  # fmt: skip
    client = mlflow.MlflowClient(stores.tracking_uri)
    for spec, result in zip(specs, results):
        (run,) = client.search_runs(
            [e.experiment_id for e in client.search_experiments()], f"tags.`{HASH_TAG}` = '{spec.run_hash}'"
        )
        assert run.data.tags["search_scaling.stop_reason"] == result.stop_reason
        assert run.data.tags["search_scaling.stopped_step"] == str(result.steps)
    assert record_pack(specs, stores) == [None, None]  # finished: nothing to do
