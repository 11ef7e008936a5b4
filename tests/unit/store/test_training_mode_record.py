"""How a run was trained (eager | compiled | packed) is recorded with its hash: the runs table's
``training_mode`` and the MLflow tag ``search_scaling.training_mode`` (`training.compiled`)."""

from __future__ import annotations

import mlflow

from search_scaling.store import Stores
from search_scaling.store.mirror import HASH_TAG
from search_scaling.store.pack_recorder import record_pack
from search_scaling.store.recorder import record_run
from search_scaling.training import RunSpec

TINY = dict(task="maze", size=3, model="L1-D8", eval_points=2, eval_examples=8, steps=6, sweep="modes",
            progress="off")  # fmt: skip


def test_solo_and_packed_runs_record_their_training_mode(tmp_path):
    stores = Stores.resolve(str(tmp_path / "store"))
    solo = RunSpec(**TINY, seed=5)
    packed = [RunSpec(**TINY, seed=0), RunSpec(**TINY, seed=1)]
    assert record_run(solo, stores).training_mode == "eager"  # compile: auto, off in tests
    assert [r.training_mode for r in record_pack(packed, stores)] == ["packed", "packed"]
    runs = stores.parquet.runs("modes").set_index("run_hash")
    want = {solo.run_hash: "eager", **{s.run_hash: "packed" for s in packed}}
    assert runs["training_mode"].to_dict() == want
    client = mlflow.MlflowClient(stores.tracking_uri)
    experiments = [e.experiment_id for e in client.search_experiments()]
    for run_hash, mode in want.items():
        (run,) = client.search_runs(experiments, f"tags.`{HASH_TAG}` = '{run_hash}'")
        assert run.data.tags["search_scaling.training_mode"] == mode
