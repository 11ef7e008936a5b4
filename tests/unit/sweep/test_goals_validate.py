"""Bad input for the goals study (issue 32), each one clear error at validate, before any training:
a maze_target option out of range, an eval set with a variant the task lacks, a retarget set whose
demonstrations put the scored episode at positions the model never trained."""

from __future__ import annotations

from pathlib import Path

import pytest

from search_scaling.sweep.spec import SpecError, load_sweep, parse_sweep

STANDARD = {"variant": "standard", "tokenization": "grid"}


def body(options=None, evals=None, training=None) -> dict:
    task = {"task": "maze_target", "sizes": [3], "options": options or STANDARD}
    if evals is not None:
        task["evals"] = evals
    return {"name": "goals", "tasks": [task], "models": ["L1-D8", "L1-D16"], "budget": {"steps": 5},
            **({"training": training} if training else {})}  # fmt: skip


@pytest.mark.parametrize(
    "options, words",
    [
        (
            {**STANDARD, "proxy_corr": 1.5},
            "tasks[0].options: maze_target.proxy_corr must be a number in [0, 1], got 1.5",
        ),
        ({**STANDARD, "p": -0.1}, "tasks[0].options: maze_target.p must be a number in [0, 1], got -0.1"),
        (
            {**STANDARD, "n_demos": -1},
            "tasks[0].options: maze_target.n_demos must be an integer >= 0, got -1",
        ),
        (
            {**STANDARD, "target": "c2"},
            "maze_target.target must be a label a0..a3 (shape) or b0..b3 (colour)",
        ),
        (
            {"variant": "shifty"},
            "maze_target.variant must be one of ['standard', 'shifted', 'anti_target', 'retarget']",
        ),
    ],
)
def test_a_maze_target_option_out_of_range_names_the_option_and_what_is_allowed(options, words):
    with pytest.raises(SpecError) as err:
        parse_sweep(body(options))
    assert words in str(err.value) and len(err.value.problems) == 1


def test_an_eval_set_with_a_variant_the_task_lacks_names_the_set():
    with pytest.raises(SpecError) as err:
        parse_sweep(body(evals=[{"name": "sh", "options": {"variant": "shifted_colours"}}]))
    (problem,) = err.value.problems
    assert problem.startswith("tasks[0].sizes[0]: evals[0] (sh): maze_target.variant must be one of")
    assert "'shifted_colours'" in problem


def test_a_retarget_set_past_the_trained_positions_is_refused_once_with_the_way_out():
    retarget = [{"name": "retarget1", "options": {"variant": "retarget", "n_demos": 1}}]
    with pytest.raises(SpecError) as err:
        parse_sweep(body(evals=retarget))
    (problem,) = err.value.problems  # two models, one problem
    assert "eval set 'retarget1'" in problem and "past the longest training sequence (63 tokens)" in problem
    assert "positions up to 126" in problem and "model_options {positional: rotary}" in problem
    # the ways out: no demonstrations, or relative (rotary) positions
    zero = [{"name": "retarget0", "options": {"variant": "retarget", "n_demos": 0}}]
    assert len(parse_sweep(body(evals=zero)).cells) == 2
    rotary = parse_sweep(body(evals=retarget, training={"model_options": {"positional": "rotary"}}))
    assert {c.model_config.n_ctx for c in rotary.cells} == {126}  # the context holds query and demos


def test_every_retarget_set_of_the_goals_study_prompts_a_rule_other_than_the_trained_one():
    """A set's options override its cell's: a retarget set on the demonstration-trained arm
    (retarget: a2) must name its own prompted rule, or it demonstrates the trained rule and cannot
    tell the two apart."""
    study = load_sweep(Path(__file__).parents[3] / "sweeps" / "maze_goals.yaml")
    arms = set()
    for cell in study.cells:
        arms.add(cell.task_options["variant"])
        for s in cell.eval_sets:
            if s.options["variant"] == "retarget":
                assert s.options.get("retarget", "a1") != s.options.get("target", "a2"), (
                    cell.task_options,
                    s,
                )
    assert "retarget" in arms
