"""Interventions in a sweep spec: in `training`, in a task entry, as a grid axis of named sets; the
errors, each with its path; and runs with interventions training alone in a packed sweep."""

from __future__ import annotations

import pytest

from search_scaling.sweep import packs
from search_scaling.sweep.spec import SpecError, parse_sweep

CLAMP = [{"hook": "blocks.0.attn.hook_pattern", "op": "clamp", "pattern": "previous_token", "until_step": 3}]
BASE = {"name": "t", "tasks": [{"task": "maze", "sizes": [3]}], "models": ["L1-D8", "L2-D16"],
        "seeds": [0, 1], "budget": {"steps": 5}}  # fmt: skip


def test_named_sets_are_a_grid_axis_shown_by_name():
    sweep = parse_sweep({**BASE, "grid": {"interventions": {"none": [], "prev": CLAMP}}})
    assert len(sweep.cells) == 8 and len(set(sweep.run_hashes)) == 8
    named = {c.run_hash: sweep.origins[c.run_hash]["interventions"] for c in sweep.cells}  # for validate
    assert sorted(named.values()) == ["none"] * 4 + ["prev"] * 4
    assert all((c.interventions != []) == (named[c.run_hash] == "prev") for c in sweep.cells)
    plain = parse_sweep(BASE)  # the "none" cells are the plain sweep's cells
    assert set(plain.run_hashes) <= set(sweep.run_hashes)
    anonymous = parse_sweep({**BASE, "grid": {"interventions": [[], CLAMP]}})
    assert set(anonymous.run_hashes) == set(sweep.run_hashes)


def test_training_and_task_entries_take_interventions():
    in_training = parse_sweep({**BASE, "training": {"interventions": CLAMP}})
    entry = {**BASE, "tasks": [{"task": "maze", "sizes": [3], "interventions": CLAMP,
                                "evals": [{"name": "no_L0", "ablate": [{"hook": "blocks.0.hook_attn_out",
                                                                         "op": "zero"}]}]}]}  # fmt: skip
    in_entry = parse_sweep(entry)
    assert all(c.interventions[0]["pattern"] == "previous_token" for c in in_entry.cells)
    assert set(in_training.run_hashes) != set(in_entry.run_hashes)  # the entry's named set differs


def test_cells_with_interventions_train_alone_and_validate_says_so():
    sweep = parse_sweep({**BASE, "grid": {"interventions": {"none": [], "prev": CLAMP}}, "pack": "on"})
    found = packs.plan_sweep(sweep)
    assert sorted(len(p) for p in found) == [1, 1, 1, 1, 2, 2]  # seeds pack; clamped cells alone
    assert all(len(p) == 1 for p in found if p[0].interventions)
    lines = packs.describe(found, None)
    assert lines[-1].startswith("4 run(s) train alone: they set interventions, which packs do not implement")


@pytest.mark.parametrize(
    "change, words",
    [
        ({"grid": {"interventions": {"bad name": CLAMP}}}, "grid.interventions.bad name: a set name of"),
        ({"grid": {"interventions": {"x": [{"hook": "blocks.0.hook_z", "op": "nil"}]}}},
         "grid.interventions.x: interventions[0].op must be one of ['zero', 'mean', 'clamp']"),
        ({"training": {"interventions": {"hook": "hook_embed"}}},
         "training.interventions: interventions must be a list"),
        ({"tasks": [{"task": "maze", "sizes": [3], "interventions": [{"op": "zero"}]}]},
         "tasks[0].interventions[0]: keys hook and op (required)"),
        ({"training": {"interventions": [{"hook": "blocks.1.hook_attn_out", "op": "zero"}]}},
         "model=L1-D8, seed=0) and 1 more cell(s): interventions[0].hook: 'blocks.1.hook_attn_out' names "
         "layer 1 but the model L1-D8 (1 layer(s), 2 heads) has layers 0..0"),
        ({"grid": {"interventions": {"x": [{"hook": "blocks.0.attn.hook_z", "op": "zero", "heads": [3]}]}}},
         "interventions=x) and 1 more cell(s): interventions[0].heads: head indices must be in 0..1"),
    ],
)  # fmt: skip
def test_bad_interventions_fail_at_validation_with_their_path(change, words):
    with pytest.raises(SpecError, match="problem") as err:
        parse_sweep({**BASE, **change}, "grid.yaml")
    assert words in str(err.value), str(err.value)
