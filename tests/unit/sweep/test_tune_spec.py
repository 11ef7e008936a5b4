"""The `tune:` and `tuned:` sections: bad input named with file and field before any trial; tuned
values and the LR law applied to the cells; the objective checked against what the task logs; the
LR law recovered from a synthetic search."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.tuning import best_per_group, lr_law
from search_scaling.models import param_counts
from search_scaling.sweep.spec import SpecError, parse_sweep
from search_scaling.sweep.tune_plan import check_metric, trial_specs, tune_groups

BASE = {
    "name": "t",
    "tasks": [{"task": "maze", "sizes": [2, 3]}],
    "models": ["L1-D8", "L2-D16"],
    "seeds": [0, 1],
    "budget": {"steps": 100},
    "tune": {"space": {"lr": {"loguniform": [1.0e-4, 3.0e-2]}}},
}


def _error_for(tune: dict) -> str:
    with pytest.raises(SpecError) as err:
        parse_sweep({**BASE, "tune": tune}, "sweeps/x.yaml")
    return str(err.value)


@pytest.mark.parametrize(
    "tune, words",
    [
        (
            {"space": {"lr": {"loguniform": [3e-2, 1e-4]}}},
            "tune.space.lr.loguniform: an empty or reversed range",
        ),
        ({"space": {"lr": {"uniform": [1e-3, 1e-3]}}}, "tune.space.lr.uniform: an empty or reversed range"),
        ({"space": {"lr": {"loguniform": []}}}, "tune.space.lr.loguniform: a non-empty list"),
        (
            {"space": {"dropout": {"uniform": [0, 1]}}},
            "tune.space.dropout: not a tunable training field; allowed: lr",
        ),
        ({"space": {"batch_size": {"uniform": [8, 64]}}}, "batch_size takes whole numbers: use choice"),
        ({"space": {"beta2": {"uniform": [0.9, 1.5]}}}, "beta2 must be a number in [0.0, 1.0], got 1.5"),
        ({"space": {}}, "tune.space: required, a mapping of training field -> distribution"),
        ({"space": {"lr": {"normal": [0, 1]}}}, "tune.space.lr: exactly one of loguniform, uniform, choice"),
        ({"space": {"lr": {"choice": [1e-3]}}, "per": "task"}, "tune.per: one of ['model', 'cell']"),
        (
            {"space": {"lr": {"choice": [1e-3]}}, "budget": {"fraction": 2}},
            "tune.budget.fraction: a fraction",
        ),
        (
            {"space": {"lr": {"choice": [1e-3]}}, "scheduler": {"asha": {"grace": 0}}},
            "tune.scheduler.asha.grace",
        ),
        ({"space": {"lr": {"choice": [1e-3]}}, "samples": 0}, "tune.samples: an integer >= 1, got 0"),
        ({"space": {"lr": {"choice": [1e-3]}}, "trials": 3}, "tune.trials: unknown key; allowed: space"),
    ],
)
def test_bad_tune_sections_say_what_and_where(tune, words):
    message = _error_for(tune)
    assert message.startswith("sweeps/x.yaml: ") and words in message


def test_a_metric_the_task_does_not_log_is_refused_before_any_trial():
    sweep = parse_sweep({**BASE, "tune": {**BASE["tune"], "metric": "bleu"}}, "sweeps/x.yaml")
    with pytest.raises(
        ValueError, match="tune.metric: 'bleu' is not logged by task 'maze'; it logs: .*exact"
    ):
        check_metric(sweep)
    check_metric(parse_sweep({**BASE, "tune": {**BASE["tune"], "metric": "decision_loss"}}))


def test_groups_take_the_first_seed_and_trials_the_short_budget():
    sweep = parse_sweep({**BASE, "tune": {**BASE["tune"], "budget": {"fraction": 0.25}}})
    groups = tune_groups(sweep)
    assert [g.key for g in groups] == ["L1-D8", "L2-D16"] and [len(g.cells) for g in groups] == [2, 2]
    specs = trial_specs(groups[0], {"lr": 0.0123456}, sweep.tune, sweep.name)
    assert [(s.size, s.steps, s.lr, s.seed, s.sweep) for s in specs] == [
        (2, 25, 0.01235, 0, "t-tune"),
        (3, 25, 0.01235, 0, "t-tune"),
    ]
    per_cell = parse_sweep({**BASE, "tune": {**BASE["tune"], "per": "cell"}})
    assert sorted(g.key for g in tune_groups(per_cell)) == [
        "L1-D8/maze-2",
        "L1-D8/maze-3",
        "L2-D16/maze-2",
        "L2-D16/maze-3",
    ]


def test_tuned_values_apply_per_model_and_the_law_extrapolates():
    tuned = {"entries": [{"model": "L1-D8", "lr": 0.01}, {"model": "L1-D8", "size": 3, "lr": 0.02}],
             "lr_law": {"coefficient": 0.5, "exponent": -0.5}}  # fmt: skip
    sweep = parse_sweep({**BASE, "tuned": tuned})
    lr = {(c.model, c.size): c.lr for c in sweep.cells}
    n = param_counts(next(c for c in sweep.cells if c.model == "L2-D16").model_config)["params_nonembed"]
    assert lr[("L1-D8", 2)] == 0.01 and lr[("L1-D8", 3)] == 0.02  # the cell's own entry wins
    assert lr[("L2-D16", 2)] == float(f"{0.5 * n**-0.5:.3g}")
    origins = [sweep.origins[c.run_hash] for c in sweep.cells]
    assert {"lr": "extrapolated"} in origins and {"lr": "tuned"} in origins
    with pytest.raises(SpecError, match=r"tuned.entries\[0\].momentum: not a tunable field"):
        parse_sweep({**BASE, "tuned": {"entries": [{"model": "L1-D8", "momentum": 0.9}]}}, "x.yaml")


def test_the_lr_law_is_recovered_from_a_synthetic_search():
    """Loss is a parabola in log lr around lr* = 0.3 * N^-0.4, sampled at 12 learning rates per size."""
    rng = np.random.default_rng(0)
    rows = []
    for n in (1e3, 1e4, 1e5, 1e6):
        for lr in np.geomspace(1e-5, 1e0, 12) * rng.uniform(0.95, 1.05, 12):
            loss = 1 + (np.log(lr) - np.log(0.3 * n**-0.4)) ** 2 + rng.normal(0, 0.01)
            rows.append({"group": f"m{n:g}", "model": f"m{n:g}", "params_nonembed": int(n), "lr": lr,
                         "objective": loss, "complete": True})  # fmt: skip
    table = pd.DataFrame(rows)
    law = lr_law(table, n_boot=200)
    assert law["fitted"] and abs(law["exponent"] + 0.4) < 0.1
    lo, hi = law["exponent_interval"]
    assert lo <= law["exponent"] <= hi
    assert len(best_per_group(table)) == 4
    assert lr_law(table[table["params_nonembed"] == 1000])["fitted"] is False
