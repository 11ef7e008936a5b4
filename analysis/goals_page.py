"""The goals section's words (`analysis.goals`): findings bullets and the HTML section with its tables."""

from __future__ import annotations

import html

from analysis.goals import VALID

VERDICT_WORDS = {
    "T": "the trained rule T",
    "proxy": "the proxy",
    "prompted": "the prompted rule",
    "other": "another label",
    "mixed": "no single label (mixed)",
    "ambiguous": "not told apart",
    "not learned": "not learned: no goal read",
    "invalid": "mostly invalid paths: no goal read",
}


def _stat(stat: dict | None) -> str:
    if not stat or stat.get("mean") is None:
        return "n/a"
    ci = stat.get("ci")
    return f"{stat['mean']:.2f}" + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "")


NO_GOAL = ("not learned", "invalid")  # verdicts under which no label or share is read as a goal


def _no_goal(entry: dict) -> bool:
    return entry["rule"]["verdict"] in NO_GOAL


def _learned_runs(row: dict) -> str:
    return f"{row['n_learned']}/{row['n_runs']} runs learned"


def _rule(rule: dict) -> str:
    if rule.get("label") is None:
        return VERDICT_WORDS.get(rule["verdict"], rule["verdict"])
    text = f"{rule['label']} ({rule['share']:.2f})"
    if rule["verdict"] == "ambiguous":
        return f"{text}, not told apart from {rule['runner_up']} ({rule['runner_up_share']:.2f})"
    if rule["verdict"] == "mixed":
        return f"{VERDICT_WORDS['mixed']}; most often {text}"
    return f"{text}: {VERDICT_WORDS[rule['verdict']]}"


def _invalid(valid: dict) -> str:
    """A warning where most episodes are not valid paths (shares of all episodes are then small
    because the model cannot read the prompt, not because it pursues another goal)."""
    mean = (valid or {}).get("mean")
    return f" (only {mean:.2f} valid)" if mean is not None and mean < VALID else ""


def _demos(n: int) -> str:
    return f"{n} demo" + ("" if n == 1 else "s")


def goals_sentences(fits: dict) -> list[str]:
    """Findings bullets: the goal pursued per shifted set, retargeting, avoided cells, unlearned rows."""
    goals = fits.get("goals")
    if not goals:
        return []
    learned = goals["thresholds"]["learned"]
    out = []
    shifted = sorted(
        {
            s
            for r in goals["rows"]
            for s, e in r["sets"].items()
            if s != "held-out" and e["variant"] not in ("retarget", "anti_target")
        }
    )
    for name in shifted:
        bits = [_shifted_bit(r, r["sets"][name]) for r in goals["rows"] if name in r["sets"]]
        out.append(
            f"Which goal does a maze_target model pursue on {name} (T' = the label most valid episodes "
            f"end on; seed mean [95% interval over runs]; in parentheses, of the mazes that have a cell "
            f"of that label)? " + "; ".join(bits) + "."
        )
    retarget = [_retarget_bit(e) for e in goals["retarget"]]
    if retarget:
        out.append(
            "Does prompting with demonstrations retarget the search (share of episodes ending on the "
            "prompted rule's label vs on the trained rule T's label; both of all episodes)? "
            + "; ".join(retarget)
            + "."
        )
    avoided = [
        f"{r['condition']} {r['model']} on {name}: {_stat(e['visits_avoided'])}"
        for r in goals["rows"]
        for name, e in r["sets"].items()
        if e["variant"] == "anti_target"
    ]
    if avoided:
        out.append("How often do anti_target paths step on an avoided cell? " + "; ".join(avoided) + ".")
    if goals["not_learned"]:
        out.append(
            f"Not learned (in-distribution reached_nearest < {learned:g} in more than half the runs), so "
            f"where their episodes end is not read as a goal: {', '.join(goals['not_learned'])}."
        )
    if goals.get("not_done"):
        out.append(f"Left out, not finished: {_not_done(goals['not_done'])}.")
    return out


def _given(stat: dict | None) -> str:
    """A like-for-like share in parentheses (none on stores scored before the task emitted has_T)."""
    return f" ({_stat(stat)})" if stat and stat.get("mean") is not None else ""


def _shifted_bit(row: dict, entry: dict) -> str:
    name = f"{row['condition']} {row['model']}"
    if _no_goal(entry):  # the shares of a model that cannot do the task are not findings
        return f"{name}: {_rule(entry['rule'])} ({_learned_runs(row)})"
    return (
        f"{name}: {_rule(entry['rule'])}, reaches_T {_stat(entry['reaches_T'])}"
        f"{_given(entry.get('reaches_T_given_has_T'))}, proxy_goal {_stat(entry['proxy_goal'])}"
        f"{_given(entry.get('proxy_goal_given_has_proxy'))}"
    )


def _retarget_bit(e: dict) -> str:
    name = f"{e['condition']} {e['model']}"
    if not e["learned"]:
        return f"{name}: {VERDICT_WORDS['not learned']} ({e['n_learned']}/{e['n_runs']} runs learned)"
    return f"{name}: " + ", ".join(
        f"{_demos(p['n_demos'])} {_stat(p['prompted'])} vs {_stat(p['trained'])}"
        f"{_invalid(p['valid'])}, paired difference {_stat(p['prompted_minus_trained'])}"
        for p in e["points"]
    )


def _not_done(runs: list[dict]) -> str:
    return ", ".join(f"{r['model']} seed {r['seed']} ({r['status']})" for r in runs)


def _cells(values, grey: bool = False) -> str:
    """A table row; ``grey``: a row whose shares are shown for completeness, not read as a goal."""
    start = "<tr class='no-goal' style='color:#999'>" if grey else "<tr>"
    return start + "".join(f"<td>{html.escape(str(v))}</td>" for v in values) + "</tr>"


def goals_rows(goals: dict) -> str:
    rows = []
    for r in goals["rows"]:
        flag = "" if r["learned"] else " (not learned)"
        for name, e in r["sets"].items():
            avoided = _stat(e["visits_avoided"]) if e["variant"] == "anti_target" else ""
            rows.append(
                _cells(
                    [
                        r["condition"],
                        r["model"],
                        f"{r['params']:,}",
                        _stat(r["in_distribution"]) + flag,
                        f"{r['n_learned']}/{r['n_runs']}",
                        name,
                        _stat(e["reaches_T"]),
                        _stat(e.get("reaches_T_given_has_T")),
                        _stat(e["proxy_goal"]),
                        _stat(e.get("proxy_goal_given_has_proxy")),
                        _stat(e["other_goal"]),
                        _stat(e["invalid"]),
                        _rule(e["rule"]),
                        avoided,
                    ],
                    grey=_no_goal(e),
                )
            )
    return "".join(rows)


def retarget_rows(goals: dict) -> str:
    rows = []
    for e in goals["retarget"]:
        for p in e["points"]:
            rows.append(
                _cells(
                    [
                        e["condition"],
                        e["model"],
                        p["set"],
                        p["n_demos"],
                        _stat(p["prompted"]),
                        _stat(p["prompted_nearest"]),
                        _stat(p["trained"]),
                        _stat(p.get("trained_given_has_T")),
                        _stat(p["prompted_minus_trained"]),
                        _stat(p["valid"]),
                        f"{e['n_learned']}/{e['n_runs']}",
                        "" if e["learned"] else "not learned: no goal read",
                    ],
                    grey=not e["learned"],
                )
            )
    return "".join(rows)


def goals_html(fits: dict, fig) -> str:
    """The section, or "" when the store has no maze_target runs. ``fig(name, caption)`` embeds a figure."""
    goals = fits.get("goals")
    if not goals:
        return ""
    t = goals["thresholds"]
    method = (
        f"Each row is one training condition and one model; numbers are means over its finished runs "
        f"(seeds), read at each run's last evaluation, with a 95% interval: a Student t interval over "
        f"runs, clipped to [0, 1] and widened where needed to a Wilson interval on the runs' pooled "
        f"episodes (so seeds that agree still carry the sampling noise of the episodes scored). Every "
        f"episode ends on T's label (reaches_T), on the proxy's (proxy_goal), elsewhere (other_goal) or "
        f"is no valid path (invalid); the four add up to 1. Episodes are drawn for their own rule, so a "
        f"maze can lack any cell of T's or the proxy's label: the columns 'given a T cell' and 'given a "
        f"proxy cell' divide by the share of mazes that have one, to compare the two goals like for like. "
        f"T' is the label on which the largest share of valid episodes ends (per run, then averaged), "
        f"named a rule where that share is at least {t['rule_share']:g} and at least {t['ambiguous']:g} "
        f"above the runner-up. A run whose in-distribution reached_nearest (the held-out set, its "
        f"training distribution) is below {t['learned']:g} has not learned the task: its episodes end "
        f"anywhere, so it is left out of the set statistics (learned runs: n learned / n); a row with "
        f"fewer than half its runs learned reads no goal (greyed), nor does a set where fewer than "
        f"{t['valid']:g} of the episodes are valid paths (the model cannot read that set)."
    )
    not_done = ""
    if goals.get("not_done"):
        not_done = (
            f"<p id='goals-not-done'>Left out, not finished: {html.escape(_not_done(goals['not_done']))}.</p>"
        )
    retarget = ""
    if goals["retarget"]:
        retarget = (
            "<h3 id='retarget'>Retargeting by demonstrations</h3>"
            + fig(
                "goals_retarget.png",
                "share of episodes ending on the prompted rule's label (solid, circles), on the trained "
                "rule T's label (dashed, squares) and of valid paths "
                "(dotted, triangles) against the number of demonstrations, colour: model size; seed mean, "
                "95% interval over runs",
            )
            + "<table id='retarget-table'><tr><th>condition</th><th>model</th><th>set</th><th>demos</th>"
            "<th>ends on the prompted rule</th><th>reaches its nearest cell (reached_nearest)</th>"
            "<th>ends on the trained rule (reaches_T)</th><th>reaches_T given a T cell</th>"
            "<th>prompted - trained (paired per run)</th><th>valid</th><th>learned runs</th>"
            "<th>note</th></tr>"
            f"{retarget_rows(goals)}</table>"
        )
    proxy_corr = ""
    if goals.get("vs_proxy_corr"):
        proxy_corr = fig(
            "goals_proxy_corr.png",
            "on each shifted set, the share of episodes ending on T's label (solid, circles) and on the "
            "proxy's (dashed, squares) against the proxy correlation in training, one line per model "
            "(colour: size); seed mean, 95% interval over runs; hollow: not learned",
        )
    return (
        "<h2 id='goals'>Goals under shift: which goal does the model pursue?</h2>"
        f"<p>{html.escape(method)}</p>"
        + proxy_corr
        + fig(
            "goals_shares.png",
            "where episodes end (T, proxy, elsewhere; visits to avoided cells on "
            "anti_target) against model size, one panel per evaluation set and training condition; black "
            "diamonds: in-distribution reached_nearest; hollow: not learned",
        )
        + fig(
            "goals_rule.png",
            "share of valid episodes ending on each label (a: shape, b: colour), one "
            "panel per evaluation set; the column labels name T, the proxy and a retarget set's prompt; "
            "hatched red: a set on which fewer than half the episodes are valid paths (no goal read); "
            "grey: a set the row was not scored on",
        )
        + "<table id='goals-table'><tr><th>condition</th><th>model</th><th>non-embedding parameters</th>"
        "<th>in-distribution reached_nearest</th><th>learned runs</th><th>set</th><th>reaches_T</th>"
        "<th>reaches_T given a T cell</th><th>proxy_goal</th><th>proxy_goal given a proxy cell</th>"
        "<th>other_goal</th><th>invalid</th><th>T' (share of valid episodes)</th><th>visits_avoided</th>"
        f"</tr>{goals_rows(goals)}</table>{retarget}{not_done}"
    )
