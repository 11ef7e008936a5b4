"""Compute-to-target and budget-limited cells on planted curves whose answers are known by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.budget import budget_limited, cell_compute_to_target, compute_to_target

STEPS = [0, 10, 20, 40, 80, 160]


def curve(run_hash: str, model: str, values: list[float], metric: str = "exact", tokens_per_step: int = 100):
    return pd.DataFrame({"run_hash": run_hash, "task": "maze", "task_size": 3, "model": model,
                         "split": "eval", "metric": metric, "step": STEPS, "value": values,
                         "tokens": [tokens_per_step * s for s in STEPS],
                         "flops": [6.0 * tokens_per_step * s for s in STEPS]})  # fmt: skip


CURVES = pd.concat([
    curve("a", "L1", [0.0, 0.2, 0.5, 0.91, 0.95, 0.97]),          # reaches 0.9 at step 40
    curve("b", "L1", [0.0, 0.1, 0.3, 0.60, 0.92, 0.99]),          # at step 80
    curve("c", "L1", [0.0, 0.0, 0.1, 0.20, 0.40, 0.50]),          # never
    curve("d", "L2", [0.0, 0.1, 0.2, 0.30, 0.40, 0.50]),          # never
    curve("e", "L2", [0.0, 0.1, 0.2, 0.30, 0.40, 0.95]),          # at step 160
    curve("a", "L1", [3.0, 2.0, 1.0, 0.50, 0.40, 0.30], "loss"),  # another metric of run a
    curve("a", "L1", [1.0] * 6, "exact").assign(split="eval:shifted"),  # another split: ignored
])  # fmt: skip


def test_compute_to_target_is_the_first_evaluation_that_reaches_it():
    runs = compute_to_target(CURVES, 0.9).set_index("run_hash")
    assert runs["step"].to_dict() == pytest.approx({"a": 40, "b": 80, "c": np.nan, "d": np.nan, "e": 160},
                                                   nan_ok=True)  # fmt: skip
    assert runs.loc["a", "tokens"] == 4000 and runs.loc["a", "flops"] == 24000.0
    assert list(runs["reached"]) == [True, True, False, False, True]
    assert set(runs["last_step"]) == {160}
    loss = compute_to_target(CURVES, 0.5, metric="loss").set_index("run_hash")
    assert loss.loc["a", "step"] == 40  # a loss reaches its target from above
    assert compute_to_target(CURVES, 0.0).loc[0, "step"] == 10  # step 0 (before training) is not counted


def test_the_cell_median_counts_a_run_that_never_reaches_it_as_never():
    cells = cell_compute_to_target(CURVES, 0.9).set_index("model")
    assert (cells.loc["L1", "runs"], cells.loc["L1", "reached"]) == (3, 2)
    assert cells.loc["L1", "step"] == 80 and not cells.loc["L1", "censored"]  # median of 40, 80, inf
    assert np.isnan(cells.loc["L2", "step"]) and cells.loc["L2", "censored"]  # median of inf, 160


def test_cells_with_a_run_that_ended_on_budget_are_budget_limited():
    runs = pd.DataFrame({"task": "maze", "task_size": 3, "model": ["L1", "L1", "L2", "L2", "L3"],
                         "stop_reason": ["target", "budget", "plateau", "target", None]})  # fmt: skip
    cells = budget_limited(runs).set_index("model")
    assert cells["budget_limited"].to_dict() == {"L1": True, "L2": False, "L3": False}
    assert cells.loc["L3", "unknown"] == 1 and cells.loc["L1", "budget"] == 1
    old = budget_limited(runs.drop(columns="stop_reason"))  # a store from before stop rules
    assert not old["budget_limited"].any() and list(old["unknown"]) == [2, 2, 1]
