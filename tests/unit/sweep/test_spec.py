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
    "iteration.yaml": 104,
    "group_composition.yaml": 48,
    "recall.yaml": 36,
    "maze_target.yaml": 18,
    "smoke.tuned.yaml": 18,
    "path_star.yaml": 8,
    "graph_search.yaml": 2,
    "maze_cpu.yaml": 84,
    "maze_recipe.yaml": 3,
    "induction_clamps.yaml": 4,
    "d3_staircase.yaml": 2,
    "maze_depth.yaml": 90,
    "maze_goals.yaml": 72,
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
        ({"tasks": [{"task": "chess", "sizes": [3]}]}, "tasks[0].task: unknown task 'chess'"),
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
    message = _error_for(change)
    assert message.startswith("sweeps/x.yaml: ") and words in message


def _error_for(change: dict) -> str:
    """The SpecError message of the base spec with ``change`` applied."""
    with pytest.raises(SpecError) as err:
        parse_sweep({**BASE, **change}, "sweeps/x.yaml")
    return str(err.value)


def test_all_problems_are_reported_at_once(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: t\ntasks: [{task: maze, sizes: [1]}]\nmodels: [L0]\nbudget: {steps: -1}\n")
    with pytest.raises(SpecError) as err:
        load_sweep(bad)
    assert len(err.value.problems) == 3 and str(bad) in str(err.value)
    with pytest.raises(SpecError, match="not valid YAML"):
        bad.write_text("name: [")
        load_sweep(bad)


# -- strict types: each of these was a traceback, a silently wrong sweep, or a field left unnamed ------
@pytest.mark.parametrize(
    "change, words",
    [
        ({"seeds": 5}, "seeds: a non-empty list of integers >= 0"),
        ({"seeds": None}, "seeds: a non-empty list of integers >= 0, e.g. [0, 1, 2], got None"),
        ({"seeds": []}, "seeds: a non-empty list"),  # was a 0-cell sweep, rc 0
        ({"seeds": "abc"}, "seeds: a non-empty list of integers >= 0, e.g. [0, 1, 2], got 'abc'"),
        ({"seeds": [0, 1.5]}, "seeds[1]: seed must be an integer >= 0, got 1.5"),
        ({"grid": [1, 2]}, "grid: a mapping of training field -> list of values"),
        ({"zip": 5}, "zip: a mapping of training field -> list of values"),
        ({"budget": {"steps": float("inf")}}, "budget.steps: a positive integer, got inf"),
        ({"budget": {"steps": 40.7}}, "budget.steps: a positive integer, got 40.7"),  # was 40 steps
        ({"budget": {"flops": float("nan")}}, "budget.flops: a positive finite number, got nan"),
        ({"resources": {"cpus": "one"}}, "resources.cpus: a positive number of CPUs, got 'one'"),
        ({"resources": {"cpus": float("nan")}}, "resources.cpus: a positive number of CPUs, got nan"),
        ({"resources": {"gpus": float("inf")}}, "resources.gpus: 0, a fraction in (0, 1] or a whole number"),
        ({"checkpoint_every_s": float("nan")}, "checkpoint_every_s: a finite number of seconds >= 0"),
        (
            {"tasks": [{"task": "parity", "sizes": [3], "options": {"cot": "maybe"}}]},
            "tasks[0].options: parity.cot must be true or false, got 'maybe'",
        ),
        (
            {"tasks": [{"task": "induction", "sizes": [3], "options": {"n_vocab": 8.5}}]},
            "tasks[0].options: induction.n_vocab must be an integer >= 2, got 8.5",
        ),
        ({"grid": {"lr": [1.0e-3, "x"]}}, "grid.lr[1]: lr must be a number in [0.0, 10.0], got 'x'"),
        ({"zip": {"model": ["L1-D8", "L9"], "lr": [0.1, 0.2]}}, "zip.model[1]: unknown model size 'L9'"),
        ({"models": [5]}, "models[0]: invalid run spec: model must be a name (a string), got 5"),
        (
            {"training": {"progress": "sometimes"}},
            "training.progress: progress must be one of ['off', 'on'] or a positive integer k",
        ),
    ],
)
def test_types_are_strict(change, words):
    message = _error_for(change)
    assert message.startswith("sweeps/x.yaml: 1 problem(s)") and words in message


def test_every_problem_at_once_including_training_fields(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: t\ntasks: [{task: maze, sizes: [1]}]\nmodels: [L0]\nbudget: {steps: 40.7}\n"
                   "training: {lr: 99}\n")  # fmt: skip
    with pytest.raises(SpecError) as err:
        load_sweep(bad)
    fields_named = [p.split(":")[0] for p in err.value.problems]
    assert fields_named == ["tasks[0].sizes[0]", "models[0]", "budget.steps", "training.lr"]


def test_a_repeated_key_is_an_error_naming_the_key_and_lines(tmp_path):
    spec = tmp_path / "dup.yaml"
    spec.write_text("name: t\ntasks: [{task: maze, sizes: [3]}]\nmodels: [L1-D8]\nbudget: {steps: 40}\n"
                    "budget: {tokens_per_param: 20}\n")  # fmt: skip
    with pytest.raises(SpecError, match=r"duplicate key 'budget' on line 5 \(first on line 4\)"):
        load_sweep(spec)


def test_yaml_1_2_floats_are_numbers(tmp_path):
    spec = tmp_path / "lr.yaml"
    spec.write_text("name: t\ntasks: [{task: maze, sizes: [3]}]\nmodels: [L1-D8]\nbudget: {steps: 4}\n"
                    "grid: {lr: [1e-3, 3.0e-3]}\n")  # fmt: skip
    assert [c.lr for c in load_sweep(spec).cells] == [1e-3, 3e-3]


def test_progress_off_in_yaml_is_a_switch_not_an_identity(tmp_path):
    spec = tmp_path / "p.yaml"
    spec.write_text("name: t\ntasks: [{task: maze, sizes: [3]}]\nmodels: [L1-D8]\nbudget: {steps: 4}\n"
                    "grid: {progress: [off, 2]}\n")  # fmt: skip
    (cell,) = load_sweep(spec).cells  # bare `off` is YAML's False; both cells train the same run
    assert cell.progress is False


def test_validate_prints_one_clear_error_and_fails(tmp_path, capsys):
    from search_scaling.cli import main

    spec = tmp_path / "bad.yaml"
    spec.write_text(
        "name: t\ntasks: [{task: maze, sizes: [3]}]\nmodels: [L1-D8]\nseeds: 5\nbudget: {steps: 4}"
    )
    assert main(["validate", str(spec)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"search-scaling validate: error: {spec}: 1 problem(s)") and "seeds: " in err


def test_named_sets_and_transfer_expand_in_order():
    body = {**BASE, "seeds": [0, 1], "training": {"evals": [{"name": "big", "size": 4}]},
            "tasks": [{"task": "maze", "sizes": [3]},
                      {"task": "maze", "sizes": [3], "options": {"generator": "wilson"},
                       "init_from": {"task": "maze", "options": {}}, "freeze": ["embed"]}]}  # fmt: skip
    cells = parse_sweep(body).cells
    sources, dependants = cells[:2], cells[2:]
    assert [c.keep_checkpoints for c in sources] == ["final", "final"]  # what the dependants need
    assert [d.init_from["run"] for d in dependants] == [s.run_hash for s in sources]  # same seed
    assert all(c.evals == [{"name": "big", "options": {}, "size": 4}] for c in cells)
    plain = parse_sweep({**BASE, "seeds": [0, 1]}).cells
    assert [c.run_hash for c in plain] == [
        c.with_(keep_checkpoints="none", evals=[]).run_hash for c in sources
    ]


@pytest.mark.parametrize(
    "entry, words",
    [
        (
            {"init_from": {"task": "parity"}},
            "tasks[1].init_from: no cell of sweep 't' has task=parity, size=3",
        ),
        ({"init_from": {"tsk": "maze"}}, "tasks[1].init_from: unknown key(s) ['tsk']"),
        ({"init_from": {"task": "maze", "sweep": "other"}}, "needs the store (--store), or name the source"),
        ({"init_from": {"task": "maze"}, "sizes": [4]}, "no cell of sweep 't' has task=maze, size=4"),
        ({"init_from": {"task": "maze", "size": 3}, "sizes": [4]}, "has model shape (d_vocab=20, n_ctx=67)"),
        (
            {"evals": [{"name": "x", "options": {"colour": 1}}]},
            "evals[0] (x): maze: unknown option(s) ['colour']",
        ),
        ({"evals": [{"name": "a b", "size": 4}]}, "tasks[1].evals[0].name: 1-40 letters"),
        ({"freeze": ["blocks.2"]}, "freeze: model L1-D8 (1 layers) has no part 'blocks.2'"),
    ],
)
def test_bad_transfer_and_eval_sets_say_what_and_where(entry, words):
    body = {**BASE, "tasks": [{"task": "maze", "sizes": [3]}, {"task": "maze", "sizes": [3], **entry}]}
    with pytest.raises(SpecError) as err:
        parse_sweep(body)
    assert words in str(err.value)


def test_init_from_another_sweep_is_looked_up_in_the_store():
    from search_scaling.training import RunSpec

    earlier = RunSpec(task="maze", size=3, model="L1-D8", steps=50, sweep="other")
    entry = {"task": "maze", "sizes": [3], "init_from": {"task": "maze", "sweep": "other"}}
    body = {**BASE, "tasks": [entry]}
    (cell,) = parse_sweep(body, lookup=lambda name: [earlier] if name == "other" else []).cells
    assert cell.init_from == {"run": earlier.run_hash, "step": None}
