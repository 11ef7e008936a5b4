"""maze_target's own scoring on scripted policies with known answers (issue 32): on the shifted
variant the true-rule policy always reaches T, the proxy policy ends on the proxy except where the
proxy's nearest cell also carries T, and a random valid walk ends where its cells' labels say."""

from __future__ import annotations

import numpy as np
import pytest

from search_scaling.tasks import get_task
from search_scaling.tasks.maze import policies

SIZE = 3


def shifted(n: int = 128, seed: int = 0):
    task = get_task("maze_target", variant="shifted", tokenization="grid")
    return task, task.generate(n, SIZE, np.random.default_rng(seed))


def mean_scores(task, batch, comps) -> dict:
    return {k: float(np.nanmean(v)) for k, v in task.score(batch, comps).items()}


def test_the_true_rule_policy_always_reaches_T():
    task, batch = shifted()
    got = mean_scores(task, batch, policies.true_rule(batch))
    assert got["valid"] == got["reaches_T"] == got["reached_nearest"] == got["exact"] == 1.0
    assert got["proxy_goal"] == got["other_goal"] == got["visits_avoided"] == 0.0
    assert got["end_a2"] == 1.0 and got["end_a0"] == got["end_a1"] == got["end_a3"] == 0.0
    # colours are independent of shapes on shifted: the colours of T's cells are spread out
    assert max(got[f"end_b{k}"] for k in range(4)) < 0.5


def test_the_proxy_policy_ends_on_the_proxy_except_where_it_coincides_with_T():
    task, batch = shifted()
    comps = policies.proxy(batch, SIZE)
    got = mean_scores(task, batch, comps)
    want = policies.expected_shares(batch, policies.end_cells(batch, comps, SIZE))
    assert got["valid"] == 1.0
    for metric, value in want.items():
        assert got[metric] == pytest.approx(value), metric
    # every maze with a proxy-coloured cell ends on it (3x3: about 0.75^9 = 7.5% have none)
    has_proxy = (batch.extras["labels"][..., 1] == 2).reshape(len(comps), -1).any(axis=1)
    assert got["end_b2"] == pytest.approx(has_proxy.mean()) and 0.85 < has_proxy.mean() < 1
    assert got["proxy_goal"] > 0.7
    assert 0 < got["reaches_T"] < 0.3  # only where the proxy's nearest cell also has shape a2


def test_a_random_valid_walk_ends_where_its_last_cells_labels_say():
    task, batch = shifted(seed=1)
    comps = policies.random_walk(batch, SIZE, np.random.default_rng(2))
    got = mean_scores(task, batch, comps)
    want = policies.expected_shares(batch, policies.end_cells(batch, comps, SIZE))
    assert got["valid"] == 1.0
    for metric, value in want.items():
        assert got[metric] == pytest.approx(value), metric
    assert got["reaches_T"] + got["proxy_goal"] + got["other_goal"] == pytest.approx(1.0)
    assert max(got[f"end_a{k}"] for k in range(4)) < 0.5  # no rule: no label holds half the ends
    assert got["reached_nearest"] < 0.5


@pytest.mark.parametrize("variant", ["shifted", "retarget"])
def test_has_T_and_has_proxy_say_whether_a_goal_cell_is_reachable_at_all(variant):
    """Episodes are drawn to have a nearest cell of their own rule (a1 on retarget), not of T (a2) or
    the proxy (b2): has_T / has_proxy mark the episodes where ending on T / the proxy was possible."""
    task = get_task("maze_target", variant=variant, tokenization="grid", n_demos=1)
    batch = task.generate(256, SIZE, np.random.default_rng(3))
    got = task.score(batch, policies.true_rule(batch))
    assert np.array_equal(got["has_T"] > 0, policies.reachable_with(batch, "a2"))
    assert np.array_equal(got["has_proxy"] > 0, policies.reachable_with(batch, "b2"))
    if variant == "shifted":  # drawn for T's nearest cell; b2 is independent of shape: some lack it
        assert got["has_T"].mean() == 1.0 and 0.8 < got["has_proxy"].mean() < 1.0
    else:  # drawn for a1's nearest cell; a2 is 15% of the cells: some 3x3 mazes have none
        assert 0.5 < got["has_T"].mean() < 1.0


def test_a_policy_that_goes_to_T_whenever_it_can_reaches_T_in_every_episode_that_has_one():
    """On retarget the episode's own rule is a1; going to a2 wherever one is reachable gives
    reaches_T = has_T per episode, so the like-for-like share reaches_T / has_T is exactly 1."""
    task = get_task("maze_target", variant="retarget", tokenization="grid", n_demos=1)
    batch = task.generate(256, SIZE, np.random.default_rng(4))
    got = task.score(batch, policies.to_label(batch, SIZE, "a2"))
    assert np.array_equal(got["reaches_T"], got["has_T"])
    assert got["reaches_T"].mean() < 1.0 and got["reaches_T"].sum() / got["has_T"].sum() == 1.0
