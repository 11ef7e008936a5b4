"""The goals section (issue 32) on a planted store whose metrics are maze_target's own scores of
scripted policies: a model that follows T (and is retargeted by one demonstration), one that
follows the proxy, and a random walker that has not learned the task."""

from __future__ import annotations

import inspect
import json

import numpy as np
import pandas as pd
import pytest

from analysis.goals import DEFAULTS, read_rule, run_info
from analysis.goals_page import goals_html, goals_sentences
from analysis.report import build_report
from search_scaling.tasks import get_task
from search_scaling.tasks.maze import policies
from search_scaling.tasks.maze.target import MazeTarget
from tests.unit.analysis.synthetic import _run_row, write_store

SIZE, N = 3, 64
EVALS = [{"name": "shifted", "options": {"variant": "shifted"}, "size": None}] + [
    {"name": f"retarget{k}", "options": {"variant": "retarget", "n_demos": k}, "size": None} for k in (0, 1)
]


# the demonstration-trained arm of sweeps/maze_goals.yaml: two demonstrations of T (a2) before each
# training query; its retarget sets demonstrate a1
PROMPT_OPTIONS = {"variant": "retarget", "retarget": "a2", "n_demos": 2, "tokenization": "grid"}
PROMPT_EVALS = [
    {"name": f"retarget{k}", "options": {"variant": "retarget", "retarget": "a1", "n_demos": k}, "size": None}
    for k in (0, 1)
]
ANTI_OPTIONS = {"variant": "anti_target", "tokenization": "grid"}


def scripted(kind: str, split: str, batch):
    """The completions of each planted model: ``T`` walks to the nearest a2 cell (to the prompted
    rule's cell once a retarget prompt shows one demonstration), ``proxy`` to the nearest b2 cell,
    ``random`` anywhere, ``prompt`` to the nearest cell of the rule its prompt demonstrates,
    ``blind`` to the nearest a2 cell through avoided cells."""
    if kind == "prompt":
        return policies.true_rule(batch)
    if kind == "blind":
        return policies.to_label(batch, SIZE, "a2")
    if kind == "T":
        return (
            policies.true_rule(batch) if split == "eval:retarget1" else policies.to_label(batch, SIZE, "a2")
        )
    if kind == "proxy":
        return policies.to_label(batch, SIZE, "b2")
    return policies.random_walk(batch, SIZE, np.random.default_rng(7))


def planted_run(kind: str, proxy_corr: float | dict, params: int, seed: int, evals=EVALS):
    """(run row, curve rows, {split: mean scores}): the policy scored by the task on the held-out set
    (the training distribution) and the named sets, written at steps 0 (chance) and 100; trained on
    ``standard`` at ``proxy_corr``, or on the options given instead."""
    if isinstance(proxy_corr, dict):
        options = proxy_corr
    else:
        options = {"variant": "standard", "tokenization": "grid", "proxy_corr": proxy_corr}
    sets = {"eval": options} | {f"eval:{e['name']}": {**options, **e["options"]} for e in evals}
    rows, scores = [], {}
    for i, (split, opts) in enumerate(sets.items()):
        task = get_task("maze_target", **opts)
        batch = task.generate(N, SIZE, np.random.default_rng(100 * seed + i))
        scores[split] = {
            k: float(np.nanmean(v)) for k, v in task.score(batch, scripted(kind, split, batch)).items()
        }
        scores[split]["loss"] = 0.1 if kind != "random" else 2.0
        for step, values in ((0, {m: 0.0 for m in scores[split]} | {"loss": 3.0}), (100, scores[split])):
            point = {"step": step, "tokens": step * 1000, "flops": 6.0 * params * step * 1000, "split": split}
            rows += [{**point, "metric": m, "value": v, "wall_time": float(step)} for m, v in values.items()]
    row = _run_row(f"{kind}-{options.get('proxy_corr')}-r{seed}", SIZE, params, seed, scores["eval"])
    spec = {"task": "maze_target", "size": SIZE, "seed": seed, "eval_examples": N, "task_options": options,
            "evals": evals}  # fmt: skip
    row |= {"task": "maze_target", "model": f"{kind}-model", "spec_json": json.dumps(spec)}
    return row, rows, scores


PLANTED = (
    ("T", 0.5, 1000, EVALS),
    ("proxy", 0.95, 3000, EVALS),
    ("random", 0.95, 1000, EVALS),
    ("prompt", PROMPT_OPTIONS, 1000, PROMPT_EVALS),
    ("blind", ANTI_OPTIONS, 1000, []),
)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("goals")
    planted = [planted_run(*p[:3], seed, p[3]) for p in PLANTED for seed in (0, 1)]
    store = write_store(tmp / "store", [(row, rows) for row, rows, _ in planted])
    fits = build_report(store, "syn", tmp / "report", n_boot=20)
    return fits, tmp / "report", {row["run_hash"]: scores for row, _, scores in planted}


def _row(fits: dict, model: str) -> dict:
    return next(r for r in fits["goals"]["rows"] if r["model"] == model)


def _mean(scores: dict, kind: str, split: str, metric: str) -> float:
    return np.mean([s[split][metric] for run, s in scores.items() if run.startswith(f"{kind}-")])


def test_the_true_rule_model_goes_to_T_under_shift_and_to_the_prompt_after_one_demo(report):
    fits, _, scores = report
    row = _row(fits, "T-model")
    assert row["learned"] and row["in_distribution"]["mean"] == pytest.approx(1.0)
    assert row["condition"] == "size 3, proxy_corr=0.5, variant=standard" and row["seeds"] == [0, 1]
    shifted = row["sets"]["shifted"]
    assert shifted["reaches_T"]["mean"] == 1.0 and shifted["proxy_goal"]["mean"] == 0.0
    assert shifted["rule"] | {} == shifted["rule"] and shifted["rule"]["label"] == "a2"
    assert shifted["rule"]["verdict"] == "T" and shifted["labels"]["a2"] == pytest.approx(1.0)
    (entry,) = [e for e in fits["goals"]["retarget"] if e["model"] == "T-model"]
    assert [p["n_demos"] for p in entry["points"]] == [0, 1]
    zero, one = entry["points"]
    assert zero["prompted"]["mean"] == 0.0  # an a2 cell never has the prompted shape a1
    assert zero["prompted_nearest"]["mean"] == 0.0
    assert zero["trained"]["mean"] == pytest.approx(_mean(scores, "T", "eval:retarget0", "reaches_T"))
    assert one["prompted"]["mean"] == 1.0 and one["trained"]["mean"] == 0.0
    assert row["sets"]["retarget1"]["rule"]["verdict"] == "prompted"


def test_the_proxy_model_follows_the_proxy_under_shift(report):
    fits, _, scores = report
    row = _row(fits, "proxy-model")
    assert row["learned"]  # at proxy_corr 0.95 the nearest b2 cell is mostly the nearest a2 cell
    shifted = row["sets"]["shifted"]
    assert shifted["rule"]["label"] == "b2" and shifted["rule"]["verdict"] == "proxy"
    for metric in ("reaches_T", "proxy_goal", "other_goal"):
        assert shifted[metric]["mean"] == pytest.approx(_mean(scores, "proxy", "eval:shifted", metric))
        lo, hi = shifted[metric]["ci"]
        assert lo <= shifted[metric]["mean"] <= hi
    assert shifted["proxy_goal"]["mean"] > 0.7 > shifted["reaches_T"]["mean"]
    # in distribution a2 and b2 nearly coincide: the held-out set cannot tell the two rules apart
    assert row["sets"]["held-out"]["rule"]["verdict"] in ("ambiguous", "proxy")


def test_a_model_that_has_not_learned_the_task_is_flagged_not_read(report):
    fits, out, _ = report
    row = _row(fits, "random-model")
    assert not row["learned"] and row["in_distribution"]["mean"] < 0.5
    assert all(e["rule"]["verdict"] == "not learned" for e in row["sets"].values())
    assert fits["goals"]["not_learned"] == ["size 3, proxy_corr=0.95, variant=standard random-model"]
    assert any("Not learned" in f and "random-model" in f for f in fits["findings"])
    on_disk = json.loads((out / "fits.json").read_text())
    assert on_disk["goals"]["rows"][0]["sets"]["shifted"]["rule"]["label"] == "a2"
    page = (out / "index.html").read_text()
    assert "id='goals'" in page and "id='retarget-table'" in page and "(not learned)" in page
    for name in ("goals_shares.png", "goals_rule.png", "goals_retarget.png"):
        assert (out / name).stat().st_size > 5_000


def test_shifted_shares_are_drawn_against_the_training_proxy_corr(report):
    fits, out, _ = report
    lines = {ln["model"]: ln for ln in fits["goals"]["vs_proxy_corr"]}
    assert set(lines) == {"T-model", "proxy-model", "random-model"}  # standard-trained rows only
    proxy = lines["proxy-model"]
    assert proxy["set"] == "shifted" and proxy["condition"] == "size 3, variant=standard"
    (point,) = proxy["points"]
    assert point["proxy_corr"] == 0.95 and point["learned"]
    assert point["proxy_goal"] == _row(fits, "proxy-model")["sets"]["shifted"]["proxy_goal"]
    assert point["reaches_T_given_has_T"]["mean"] >= point["reaches_T"]["mean"]
    assert (out / "goals_proxy_corr.png").stat().st_size > 5_000
    assert "goals_proxy_corr.png" in (out / "index.html").read_text()


def test_a_demonstration_trained_row_reads_its_accuracy_on_its_training_task_and_its_prompt_as_a1(report):
    fits, out, scores = report
    row = _row(fits, "prompt-model")
    # labelled by the options that matter for a retarget-trained row; the standard rows' labels
    # leave out retarget (unused by their variant) though it varies between conditions
    assert row["condition"] == "size 3, proxy_corr=0.9, retarget=a2, variant=retarget"
    assert _row(fits, "T-model")["condition"] == "size 3, proxy_corr=0.5, variant=standard"
    # in-distribution: the held-out set, two demonstrations of a2, not a retarget set
    held = _mean(scores, "prompt", "eval", "reached_nearest")
    assert row["in_distribution"]["mean"] == pytest.approx(held) == 1.0
    # its prompt demonstrates T itself: T (told apart from the proxy b2 or not), never "prompted"
    assert row["sets"]["held-out"]["rule"]["kind"] == "T"
    # on the retarget sets (a1 demonstrated): prompted = ends on a1, prompted_nearest = reached_nearest
    # (the nearest a1 cell), trained = reaches_T (ends on a2)
    (entry,) = [e for e in fits["goals"]["retarget"] if e["model"] == "prompt-model"]
    assert [p["set"] for p in entry["points"]] == ["retarget0", "retarget1"]  # not the held-out set
    for p in entry["points"]:
        split = f"eval:{p['set']}"
        assert p["prompted"]["mean"] == pytest.approx(_mean(scores, "prompt", split, "end_a1")) == 1.0
        nearest = _mean(scores, "prompt", split, "reached_nearest")
        assert p["prompted_nearest"]["mean"] == pytest.approx(nearest) == 1.0
        assert p["trained"]["mean"] == pytest.approx(_mean(scores, "prompt", split, "reaches_T")) == 0.0
        assert row["sets"][p["set"]]["rule"] | {} == row["sets"][p["set"]]["rule"]
        assert row["sets"][p["set"]]["rule"]["label"] == "a1"
        assert row["sets"][p["set"]]["rule"]["verdict"] == "prompted"


def test_an_anti_target_row_shows_its_visits_to_avoided_cells(report):
    fits, out, scores = report
    row = _row(fits, "blind-model")
    assert row["condition"] == "size 3, proxy_corr=0.9, variant=anti_target"
    held = row["sets"]["held-out"]
    want = _mean(scores, "blind", "eval", "visits_avoided")
    assert held["visits_avoided"]["mean"] == pytest.approx(want) and 0 < want < 1
    assert held["reaches_T"]["mean"] == pytest.approx(_mean(scores, "blind", "eval", "reaches_T"))
    assert held["rule"]["label"] == "a2" and held["rule"]["kind"] == "T"
    assert row["learned"] == (row["in_distribution"]["mean"] >= 0.5)
    assert any("avoided cell" in f and "blind-model" in f for f in fits["findings"])
    assert "blind-model" not in json.dumps(fits["goals"]["retarget"])


def test_labels_keep_an_option_unused_by_the_variant_where_leaving_it_out_would_merge_conditions():
    def runs(*option_sets):
        specs = [json.dumps({"task_options": {"variant": "standard", **o}}) for o in option_sets]
        hashes = [f"r{i}" for i in range(len(specs))]
        fixed = {"model": "L1-D8", "params_nonembed": 100, "seed": 0, "task_size": 3}
        return pd.DataFrame({"run_hash": hashes, **fixed, "spec_json": specs})

    merged = run_info(runs({"retarget": "a1"}, {"retarget": "a3"}))["condition"]
    assert list(merged) == ["size 3, retarget=a1", "size 3, retarget=a3"]
    apart = run_info(runs({"retarget": "a1", "proxy_corr": 0.5}, {"retarget": "a3", "proxy_corr": 0.8}))
    assert list(apart["condition"]) == ["size 3, proxy_corr=0.5", "size 3, proxy_corr=0.8"]


def test_rules_are_read_only_when_a_label_dominates():
    options = {**DEFAULTS, "variant": "shifted"}
    shares = dict.fromkeys(("a0", "a1", "a2", "a3", "b0", "b1", "b2", "b3"), 0.25)
    assert read_rule(shares, options, learned=True)["verdict"] == "mixed"
    assert read_rule(shares | {"a2": 0.97, "b2": 0.93}, options, True)["verdict"] == "ambiguous"
    assert read_rule(shares | {"b3": 0.8}, options, True) | {} == {
        "label": "b3", "share": 0.8, "kind": "other", "verdict": "other", "runner_up": "a0",
        "runner_up_share": 0.25}  # fmt: skip
    assert read_rule(shares | {"a2": 0.9}, options, False)["verdict"] == "not learned"
    assert read_rule(shares | {"a2": 0.9}, options, True, valid=0.1)["verdict"] == "invalid"
    assert goals_sentences({}) == [] and goals_html({}, None) == ""


def test_the_section_s_task_defaults_are_the_task_s():
    params = inspect.signature(MazeTarget.__init__).parameters
    assert {k: params[k].default for k in DEFAULTS} == DEFAULTS
