"""The goals section's statistics (issue 32 review) on planted runs whose answers are known: the
interval's coverage over three seeds, like-for-like shares, the invalid outcome, label shares per run,
the per-seed learned guard, finished runs only and the paired retarget difference."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis.goals import goals_section
from analysis.goals_page import goals_html, goals_sentences
from analysis.seed_intervals import mean_ci, wilson

EPISODES = 64


def _coverage(truth: float, seed_sd: float, draws: int = 2000) -> float:
    """Share of draws of 3 runs (per-run rate around ``truth``, then EPISODES binomial episodes)
    whose interval covers ``truth``."""
    rng = np.random.default_rng(0)
    hits = 0
    for _ in range(draws):
        rates = np.clip(rng.normal(truth, seed_sd, 3), 0, 1)
        values = rng.binomial(EPISODES, rates) / EPISODES
        lo, hi = mean_ci(values, [0, 1, 2], [EPISODES] * 3)["ci"]
        hits += lo <= truth <= hi
    return hits / draws


@pytest.mark.parametrize(("truth", "seed_sd"), [(0.6, 0.08), (0.9, 0.0), (0.5, 0.0)])
def test_the_interval_over_three_runs_covers_a_planted_mean(truth, seed_sd):
    # seed spread (t part) and episodes alone (agreeing seeds: the Wilson floor) both covered
    assert _coverage(truth, seed_sd) >= 0.93


def test_agreeing_seeds_keep_the_episodes_sampling_noise_and_nans_drop_with_their_seed():
    stat = mean_ci([0.9, np.nan, 0.9, 0.9], [0, 1, 2, 3], [EPISODES] * 4)
    assert stat["seeds"] == [0, 2, 3] and stat["values"] == [0.9, 0.9, 0.9] and stat["n"] == 3
    assert stat["ci"] == pytest.approx(wilson(0.9, 3 * EPISODES))
    assert stat["ci"][0] < 0.9 < stat["ci"][1] <= 1
    # spread seeds: the t interval, clipped to [0, 1]
    spread = mean_ci([0.5, 0.6, 0.7], [0, 1, 2], None)
    half = stats.t.ppf(0.975, 2) * 0.1 / np.sqrt(3)
    assert spread["ci"] == pytest.approx([0.6 - half, 0.6 + half])
    assert mean_ci([0.2, 0.6, 1.0], [0, 1, 2], None)["ci"] == pytest.approx([0.0, 1.0])
    # a difference: bare t interval, not clipped
    diff = mean_ci([-0.5, -0.3, -0.1], [0, 1, 2], share=False)
    half = stats.t.ppf(0.975, 2) * 0.2 / np.sqrt(3)
    assert diff["ci"] == pytest.approx([-0.3 - half, -0.3 + half])
    assert mean_ci([0.5], [0])["ci"] is None and mean_ci([], [])["mean"] is None


# ---- a planted store: runs and final metrics written straight into the tables the section reads

RETARGET = {"name": "retarget1", "options": {"variant": "retarget", "n_demos": 1}, "size": None}
SHIFTED = {"name": "shifted", "options": {"variant": "shifted"}, "size": None}


def _tables(plan: list[dict]):
    """Runs and curves for ``plan``: one dict per run with model, seed, status, held (its held-out
    reached_nearest) and ``sets``: split -> metrics at the last step."""
    runs, curves = [], []
    for p in plan:
        run = f"{p['model']}-s{p['seed']}"
        spec = {"task_options": {"variant": "standard", "proxy_corr": 0.9}, "eval_examples": EPISODES,
                "evals": [SHIFTED, RETARGET]}  # fmt: skip
        runs.append({"run_hash": run, "task": "maze_target", "model": p["model"], "params_nonembed": 1000,
                     "seed": p["seed"], "task_size": 3, "status": p.get("status", "done"),
                     "spec_json": json.dumps(spec)})  # fmt: skip
        sets = {"eval": {"reached_nearest": p["held"], "valid": 1.0, "reaches_T": p["held"]}} | p["sets"]
        for split, metrics in sets.items():
            for metric, value in metrics.items():
                curves += [{"run_hash": run, "split": split, "step": s, "metric": metric, "value": v}
                           for s, v in ((0, 0.0), (100, value))]  # fmt: skip
    return pd.DataFrame(runs), pd.DataFrame(curves)


def _shifted(reach, proxy, other, valid, has_t=None, has_proxy=None, **ends):
    out = {"reaches_T": reach, "proxy_goal": proxy, "other_goal": other, "valid": valid} | ends
    if has_t is not None:
        out |= {"has_T": has_t, "has_proxy": has_proxy}
    return out


def _retarget(prompted, trained):
    return {
        "valid": 1.0,
        "reaches_T": trained,
        "proxy_goal": 0.0,
        "other_goal": 1 - trained,
        "end_a1": prompted,
    }


PLAN = [
    # learned in 2 of 3 seeds: statistics over seeds 0 and 1 only
    {"model": "good", "seed": 0, "held": 0.9, "sets": {
        "eval:shifted": _shifted(0.6, 0.1, 0.2, 0.9, 0.75, 0.5, end_a2=0.6, end_b1=0.45),
        "eval:retarget1": _retarget(0.7, 0.2)}},
    {"model": "good", "seed": 1, "held": 0.8, "sets": {
        "eval:shifted": _shifted(0.4, 0.2, 0.2, 0.8, 0.8, 0.4, end_a2=0.4, end_b1=np.nan),
        "eval:retarget1": _retarget(0.6, 0.3)}},
    {"model": "good", "seed": 2, "held": 0.1, "sets": {
        "eval:shifted": _shifted(0.0, 0.0, 0.1, 0.1, 1.0, 1.0, end_a2=0.0, end_b1=0.1),
        "eval:retarget1": _retarget(0.0, 0.0)}},
    {"model": "good", "seed": 3, "held": 1.0, "status": "failed", "sets": {}},
    # learned in 1 of 3 seeds, scored before the task emitted has_T: no goal read
    *({"model": "weak", "seed": s, "held": h, "sets": {
        "eval:shifted": _shifted(0.3, 0.6, 0.05, 0.95, end_a2=0.3, end_b2=0.6),
        "eval:retarget1": _retarget(0.1, 0.1)}} for s, h in ((0, 0.2), (1, 0.9), (2, 0.3))),
]  # fmt: skip


@pytest.fixture(scope="module")
def goals():
    return goals_section(*_tables(PLAN))


def _row(goals, model):
    return next(r for r in goals["rows"] if r["model"] == model)


def test_only_finished_learned_runs_count_and_the_row_says_how_many(goals):
    good, weak = _row(goals, "good"), _row(goals, "weak")
    assert goals["not_done"] == [{"run_hash": "good-s3", "model": "good", "seed": 3, "status": "failed"}]
    assert (good["n_runs"], good["n_learned"], good["learned"]) == (3, 2, True)
    assert (weak["n_runs"], weak["n_learned"], weak["learned"]) == (3, 1, False)
    assert good["in_distribution"]["seeds"] == [0, 1, 2]  # the guard itself reads every finished run
    shifted = good["sets"]["shifted"]
    assert shifted["reaches_T"]["seeds"] == [0, 1] and shifted["reaches_T"]["mean"] == pytest.approx(0.5)


def test_outcomes_with_invalid_add_up_to_one_and_like_for_like_shares_divide_per_run(goals):
    shifted = _row(goals, "good")["sets"]["shifted"]
    per_run = [sum(shifted[k]["values"][i] for k in ("reaches_T", "proxy_goal", "other_goal", "invalid"))
               for i in range(2)]  # fmt: skip
    assert per_run == pytest.approx([1.0, 1.0])
    assert shifted["invalid"]["values"] == pytest.approx([0.1, 0.2])
    assert shifted["reaches_T_given_has_T"]["values"] == pytest.approx([0.8, 0.5])
    assert shifted["proxy_goal_given_has_proxy"]["values"] == pytest.approx([0.2, 0.5])
    old = _row(goals, "weak")["sets"]["shifted"]
    assert old["reaches_T_given_has_T"] is None and old["proxy_goal_given_has_proxy"] is None
    (weak,) = [e for e in goals["retarget"] if e["model"] == "weak"]
    assert weak["points"][0]["trained_given_has_T"] is None


def test_label_shares_are_per_run_ratios_averaged_and_a_missing_run_does_not_wipe_a_label(goals):
    labels = _row(goals, "good")["sets"]["shifted"]["labels"]
    assert labels["a2"] == pytest.approx((0.6 / 0.9 + 0.4 / 0.8) / 2)  # not 1.0 / 1.7
    assert labels["b1"] == pytest.approx(0.45 / 0.9)  # seed 1 lacks it: seed 0 alone
    assert labels["a0"] is None


def test_the_paired_retarget_difference_is_per_run(goals):
    (good,) = [e for e in goals["retarget"] if e["model"] == "good"]
    diff = good["points"][0]["prompted_minus_trained"]
    assert diff["values"] == pytest.approx([0.5, 0.3]) and diff["mean"] == pytest.approx(0.4)
    half = stats.t.ppf(0.975, 1) * np.std([0.5, 0.3], ddof=1) / np.sqrt(2)
    assert diff["ci"] == pytest.approx([0.4 - half, 0.4 + half])


def test_no_goal_is_read_or_printed_for_a_row_not_learned(goals):
    rule = _row(goals, "weak")["sets"]["shifted"]["rule"]
    assert rule == {"label": None, "share": None, "kind": None, "verdict": "not learned"}
    fits = {"goals": goals}
    text = " ".join(goals_sentences(fits))
    weak = text[text.index("weak") :]
    assert "most often" not in text and "b2" not in weak.split(";")[0]
    assert "not learned: no goal read (1/3 runs learned)" in text
    assert "good seed 3 (failed)" in text
    page = goals_html(fits, lambda name, caption: "")
    assert "class='no-goal'" in page and "most often" not in page and "2/3" in page
    assert "bootstrap" not in page and "Wilson" in page
