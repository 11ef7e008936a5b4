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


def _rule(rule: dict) -> str:
    if rule.get("label") is None:
        return rule["verdict"]
    text = f"{rule['label']} ({rule['share']:.2f})"
    if rule["verdict"] == "ambiguous":
        return f"{text}, not told apart from {rule['runner_up']} ({rule['runner_up_share']:.2f})"
    if rule["verdict"] in ("mixed", "not learned", "invalid"):
        return f"{VERDICT_WORDS[rule['verdict']]}; most often {text}"
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
        bits = [
            f"{r['condition']} {r['model']}: {_rule(r['sets'][name]['rule'])}, reaches_T "
            f"{_stat(r['sets'][name]['reaches_T'])}, proxy_goal {_stat(r['sets'][name]['proxy_goal'])}"
            for r in goals["rows"]
            if name in r["sets"]
        ]
        out.append(
            f"Which goal does a maze_target model pursue on {name} (T' = the label most valid episodes "
            f"end on; seed mean [95% interval over runs])? " + "; ".join(bits) + "."
        )
    retarget = [
        f"{e['condition']} {e['model']}: "
        + ", ".join(
            f"{_demos(p['n_demos'])} {_stat(p['prompted'])} vs {_stat(p['trained'])}{_invalid(p['valid'])}"
            for p in e["points"]
        )
        + ("" if e["learned"] else " (not learned)")
        for e in goals["retarget"]
    ]
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
            f"Not learned (in-distribution reached_nearest < {learned:g}), so where their episodes "
            f"end is not read as a goal: {', '.join(goals['not_learned'])}."
        )
    return out


def _cells(values) -> str:
    return "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in values) + "</tr>"


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
                        name,
                        _stat(e["reaches_T"]),
                        _stat(e["proxy_goal"]),
                        _stat(e["other_goal"]),
                        _stat(e["valid"]),
                        _rule(e["rule"]),
                        avoided,
                        len(r["runs"]),
                    ]
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
                        _stat(p["valid"]),
                        "" if e["learned"] else "not learned",
                    ]
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
        f"Each row is one training condition and one model; numbers are seed means with 95% bootstrap "
        f"intervals over runs, read at each run's last evaluation. T' is the label on which the largest "
        f"share of valid episodes ends, named a rule where that share is at least {t['rule_share']:g} and "
        f"at least {t['ambiguous']:g} above the runner-up. A model whose in-distribution reached_nearest "
        f"(the held-out set, its training distribution) is below {t['learned']:g} has not learned the task: "
        f"its episodes end anywhere and no goal is read from them; nor is one read on a set where fewer than "
        f"{t['valid']:g} of the episodes are valid paths (the model cannot read that set)."
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
            "<th>ends on the trained rule (reaches_T)</th><th>valid</th>"
            "<th>note</th></tr>"
            f"{retarget_rows(goals)}</table>"
        )
    return (
        "<h2 id='goals'>Goals under shift: which goal does the model pursue?</h2>"
        f"<p>{html.escape(method)}</p>"
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
        "<th>in-distribution reached_nearest</th><th>set</th><th>reaches_T</th><th>proxy_goal</th>"
        "<th>other_goal</th><th>valid</th><th>T' (share of valid episodes)</th><th>visits_avoided</th>"
        f"<th>runs</th></tr>{goals_rows(goals)}</table>{retarget}"
    )
