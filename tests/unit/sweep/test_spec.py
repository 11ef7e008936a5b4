"""Sweep specs: every shipped YAML expands to its checked-in cell count; bad specs fail fast with
file, field path and allowed values."""

from __future__ import annotations

from pathlib import Path

import pytest

from search_scaling.models import param_counts
from search_scaling.sweep.spec import SpecError, load_sweep, parse_sweep

SWEEPS = Path(__file__).parents[3] / "sweeps"
EXPECTED_CELLS = {
    "smoke.yaml": 18,
    "maze_grid.yaml": 144,
    "iteration.yaml": 96,
    "group_composition.yaml": 48,
    "recall.yaml": 36,
    "maze_target.yaml": 36,
}


def test_every_shipped_spec_is_listed():
    assert sorted(p.name for p in SWEEPS.glob("*.yaml")) == sorted(EXPECTED_CELLS)


@pytest.mark.parametrize("name", sorted(EXPECTED_CELLS))
def test_shipped_specs_validate_and_expand(name):
    sweep = load_sweep(SWEEPS / name)
    assert len(sweep.cells) == EXPECTED_CELLS[name]
    assert len(set(sweep.run_hashes)) == len(sweep.cells)
    assert all(c.sweep == sweep.name for c in sweep.cells)


def test_maze_grid_spans_three_orders_of_magnitude_and_sizes_3_to_10():
    sweep = load_sweep(SWEEPS / "maze_grid.yaml")
    params = {param_counts(c.model_config)["params_nonembed"] for c in sweep.cells}
    assert len({c.model for c in sweep.cells}) >= 5 and max(params) / min(params) >= 1e3
    assert {c.size for c in sweep.cells} == set(range(3, 11)) and {c.seed for c in sweep.cells} == {0, 1, 2}
    assert sweep.resources.gpus > 0


BASE = {"name": "t", "tasks": [{"task": "maze", "sizes": [3]}], "models": ["L1-D8"], "budget": {"steps": 5}}


def test_budget_rules():
    per_param = parse_sweep({**BASE, "budget": {"tokens_per_param": 10}}).cells[0]
    assert per_param.tokens == 10 * param_counts(per_param.model_config)["params_nonembed"]
    iso = parse_sweep({**BASE, "models": ["L1-D8", "L2-D16"], "budget": {"flops": 1e12}}).cells
    assert iso[0].tokens > iso[1].tokens  # the same compute buys a smaller model more tokens


def test_grid_and_zip_axes():
    grid = parse_sweep({**BASE, "seeds": [0, 1], "grid": {"lr": [1e-3, 3e-3]}})
    assert len(grid.cells) == 4
    zipped = parse_sweep({**BASE, "models": ["L1-D8", "L2-D16"], "zip": {"model": ["L1-D8", "L2-D16"],
                                                                         "lr": [1e-2, 1e-3]}})  # fmt: skip
    assert [(c.model, c.lr) for c in zipped.cells] == [("L1-D8", 1e-2), ("L2-D16", 1e-3)]


@pytest.mark.parametrize(
    "change, words",
    [
        (
            {"tasks": [{"task": "maze", "sizes": [99]}]},
            "tasks[0].sizes[0]: task 'maze': grid_n must be an integer in [2, 64]",
        ),
        ({"tasks": [{"task": "chess", "sizes": [3]}]}, "tasks[0].sizes[0]: unknown task 'chess'"),
        ({"models": ["L9"]}, "models[0]: unknown model size 'L9'; available: ['L1-D8'"),
        ({"budget": {"epochs": 3}}, "budget: exactly one of steps, tokens, tokens_per_param, flops"),
        ({"grid": {"lrr": [1]}}, "grid.lrr: not a training field; allowed: model_options, batch_size, lr"),
        ({"training": {"lr": -1}}, "lr must be a number in [0.0, 10.0]"),
        ({"resources": {"gpus": 1.5}}, "resources.gpus: 0, a fraction in (0, 1] or a whole number"),
        ({"colour": "red"}, "colour: unknown key; allowed: name, description, tasks"),
        ({"name": "a/b"}, "name: required, a non-empty string without"),
    ],
)
def test_bad_specs_say_what_and_where(change, words):
    with pytest.raises(SpecError) as err:
        parse_sweep({**BASE, **change}, "sweeps/x.yaml")
    assert str(err.value).startswith("sweeps/x.yaml: ") and words in str(err.value)


def test_all_problems_are_reported_at_once(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: t\ntasks: [{task: maze, sizes: [1]}]\nmodels: [L0]\nbudget: {steps: -1}\n")
    with pytest.raises(SpecError) as err:
        load_sweep(bad)
    assert len(err.value.problems) == 3 and str(bad) in str(err.value)
    with pytest.raises(SpecError, match="not valid YAML"):
        bad.write_text("name: [")
        load_sweep(bad)
