"""What a person browsing MLflow sees of a sweep, without Ray: child runs named so that task, size,
model and seed show first, numbers people sort by logged as numbers, unset fields left out; the
parent run's grid params, aggregate numbers and a status that ends (against a recording stand-in:
the real MLflow is in the integration tests)."""

from __future__ import annotations

from collections import Counter

from search_scaling.store import Stores
from search_scaling.store.mirror import flatten
from search_scaling.store.recorder import mlflow_identity
from search_scaling.store.sweep_run import SweepRun, grid_params
from search_scaling.sweep.spec import parse_sweep
from search_scaling.training import RunSpec

BODY = {"name": "view", "description": "A grid for the MLflow view.",
        "tasks": [{"task": "maze", "sizes": [3, 10]}], "models": ["L1-D8"], "seeds": [0, 1],
        "budget": {"steps": 5}}  # fmt: skip


def test_a_cell_is_named_task_size_model_seed_then_hash_and_its_numbers_are_numbers():
    spec = RunSpec(task="maze", size=10, model="L2-D16", seed=1, steps=20, sweep="s")
    scale = {"params_embed": 10, "params_nonembed": 6592, "params_total": 6602, "flops_per_token": 8400}
    name, params, tags, metrics = mlflow_identity(spec, scale)
    assert name == f"maze-10 L2-D16 s1 {spec.run_hash[:6]}"
    flat = flatten("", params)
    assert flat["grid_n"] == "10" and "size" not in flat  # the size named for what it is
    assert not {"tokens", "train_sampling", "evals", "init_from", "freeze"} & set(flat)  # unset: left out
    assert "None" not in flat.values() and not any(k.startswith("scale") for k in flat)
    assert tags == {"task": "maze", "grid_n": 10, "model": "L2-D16", "seed": 1}
    assert metrics["scale/params_nonembed"] == 6592.0 and metrics["spec/grid_n"] == 10.0
    assert metrics["spec/steps"] == 20.0 and "spec/tokens" not in metrics


def test_grid_params_name_the_axes_and_the_shared_fields():
    params = grid_params(parse_sweep(BODY))
    assert params["axis.grid_n"] == "3, 10" and params["axis.seed"] == "0, 1"  # numbers in numeric order
    assert params["model"] == "L1-D8" and params["steps"] == "5" and params["cells"] == "4"
    assert "tokens" not in params and "sweep" not in params and "size" not in params


class FakeMirror:
    """Records what the driver asks of MLflow (a real one is in test_sweep_local and test_report)."""

    def __init__(self, fail_at: str | None = None):
        self.calls, self.fail_at = [], fail_at

    def __getattr__(self, method):
        def call(*args):
            if method == self.fail_at:
                raise RuntimeError("MLflow is down")
            self.calls.append((method, args))
            return ("1", "run1", 1_000) if method == "start_sweep" else None

        return call


def _sweep_run(tmp_path, mirror: FakeMirror) -> tuple[SweepRun, list]:
    (tmp_path / "view.yaml").write_text("name: view\n")
    stores = Stores.resolve(tmp_path, tracking_uri="http://mlflow.invalid:5000")
    stores.__dict__["mirror"] = mirror  # the cached property, already opened
    warned: list = []
    return SweepRun(parse_sweep(BODY, str(tmp_path / "view.yaml")), stores, warn=warned.append), warned


def test_the_parent_run_gets_the_spec_grid_and_numbers_when_they_change_then_its_end(tmp_path):
    mirror = FakeMirror()
    run, warned = _sweep_run(tmp_path, mirror)
    run.start()
    (method, (name, description, params, tags, artifacts)), *_ = mirror.calls
    assert (method, name, description) == ("start_sweep", "view", BODY["description"])
    assert params["axis.grid_n"] == "3, 10" and artifacts == {"spec.yaml": "name: view\n"}
    assert tags["mlflow.source.name"].startswith("search-scaling sweep ") and tags["search_scaling.spec_file"]
    run.update(Counter(done=1, pending=3), {("maze", 3, "exact"): 0.25})
    run.update(Counter(done=1, pending=3), {("maze", 3, "exact"): 0.25})  # unchanged: not logged again
    run.update(Counter(done=2, pending=2), {("maze", 3, "exact"): 0.5})
    logged = [args[1] for method, args in mirror.calls if method == "log_numbers"]
    assert len(logged) == 2 and logged[1]["sweep/done"] == 2 and logged[1]["sweep/best exact maze-3"] == 0.5
    assert logged[0]["sweep/total"] == 4 and logged[0]["sweep/pending"] == 3
    steps = [args[2] for method, args in mirror.calls if method == "log_numbers"]
    assert steps[0] > 1e9  # seconds since the parent run first started (1 s after the epoch here)
    run.end("FAILED")
    assert mirror.calls[-1] == ("end_sweep", ("run1", "FAILED")) and warned == []
    assert run.view_url("http://127.0.0.1:5000").startswith("http://127.0.0.1:5000/#/experiments/1/runs?")


def test_a_failing_mlflow_is_one_warning_and_the_sweep_goes_on(tmp_path):
    run, warned = _sweep_run(tmp_path, FakeMirror(fail_at="log_numbers"))
    run.start()
    for done in range(3):
        run.update(Counter(done=done), {})
    run.end("FINISHED")
    assert len(warned) == 1 and "MLflow unavailable (MLflow is down)" in warned[0]
