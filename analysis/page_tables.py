"""The page's parts about how runs ended and what they solved: budget-limited cells, compute to
target, exact accuracy by stratum (findings bullets and table rows; `analysis.page` lays them out)."""

from __future__ import annotations

import html


def _num(value, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}g}"


def budget_sentence(fits: dict) -> str:
    stops = fits.get("stops")
    if not stops:
        return ""
    reasons = stops["stop_reasons"]
    unknown = sum(n for r, n in reasons.items() if r.startswith("unknown"))
    parts = [f"{n} ended on {r}" for r, n in reasons.items() if not r.startswith("unknown")]
    if unknown:
        parts.append(f"{unknown} recorded no stop reason (runs from before stop rules, or unfinished)")
    how = ", ".join(parts)
    cells = "; ".join(
        f"size {g} at {', '.join(f'{p:,}' for p in ps)}" for g, ps in stops["budget_limited"].items()
    )
    text = f"Did the runs end on their stop rules or on the step cap? Of the runs, {how}. "
    if not cells and unknown:
        return (
            text + "No cell is known to have ended on its step cap; for runs without a reason it is unknown."
        )
    if not cells:
        return text + "No cell ended on the step cap (budget)."
    return text + (f"Budget-limited cells (a run ended on its step cap, so more training could raise its "
                   f"accuracy), in non-embedding parameters: {cells}. A crossing marked budget-limited could "
                   "lie at fewer parameters; those cells are hatched in the phase diagram.")  # fmt: skip


def compute_sentence(fits: dict) -> str:
    table = fits.get("compute_to_target")
    if not table:
        return ""
    bits = []
    for group, targets in table.items():
        for level, entry in targets.items():
            bits.append(f"size {group}, {level}%: {_cost(entry)}")
    return ("What is the least training compute that reaches 50% and 90% exact accuracy (each model's median "
            "over seeds, the cheapest model)? " + "; ".join(bits) + ".")  # fmt: skip


def _cost(entry: dict) -> str:
    if not entry["reached"]:
        return entry["reason"]
    text = f"{entry['flops']:.3g} FLOPs ({entry['model']}, step {entry['step']:,.0f}, "
    text += f"{entry['seeds_reached']} seeds)"
    cut = ", ".join(f"{p:,}" for p in entry["smaller_budget_limited"])
    if cut:
        text += f", maybe less: smaller models ({cut} parameters) ran out of budget before it"
    return text


def stratum_sentence(fits: dict) -> str:
    bits = []
    for group, kinds in fits.get("by_stratum", {}).items():
        for kind, table in kinds.items():
            model = table["models"][table["largest"]]
            bits.append(f"size {group} by {kind} ({model['model']}): {_strata(model['mean'])}")
    if not bits:
        return ""
    return ("Which paths does the largest model solve (final exact accuracy by detour, in steps beyond the "
            "Manhattan distance, and by the number of decisions on the path)? " + "; ".join(bits)
            + ".")  # fmt: skip


def _strata(mean: dict) -> str:
    return ", ".join(f"{k}: {_num(v, 2)}" for k, v in mean.items())


def stratum_rows(fits: dict) -> str:
    rows = []
    for group, kinds in fits.get("by_stratum", {}).items():
        for kind, table in kinds.items():
            for params, model in table["models"].items():
                largest = " (largest)" if params == table["largest"] else ""
                cells = [
                    group,
                    kind,
                    f"{model['model']}{largest}",
                    f"{int(params):,}",
                    _strata(model["mean"]),
                ]
                rows.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    return (
        "".join(rows)
        or '<tr><td colspan="5">no exact_detour_&lt;d&gt; or exact_dec_&lt;k&gt; in the store</td></tr>'
    )


def compute_rows(fits: dict) -> str:
    rows = []
    for group, targets in fits.get("compute_to_target", {}).items():
        for level, e in targets.items():
            if e["reached"]:
                cut = ", ".join(f"{p:,}" for p in e["smaller_budget_limited"])
                note = (
                    f"smaller models at {cut} parameters ran out of budget first: maybe less" if cut else ""
                )
                cells = [group, f"{level}%", f"{e['flops']:.3g}", e["model"], f"{e['step']:,.0f}",
                         e["seeds_reached"], note]  # fmt: skip
            else:
                cells = [group, f"{level}%", "not reached", "", "", "", e["reason"]]
            rows.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
    return "".join(rows)


def _depth(smallest: dict) -> str:
    if smallest.get("depth") is None or "bound" in smallest:
        text = smallest.get("bound", "undetermined")
    else:
        text = str(smallest["depth"])
        ci = smallest.get("ci")
        if ci and ci != [smallest["depth"]] * 2:
            text += f" [{ci[0]}, {ci[1] if ci[1] is not None else '> grid'}]"
    return text + (" (budget-limited)" if smallest.get("budget_limited") else "")


def _law_text(law: dict) -> str:
    if law.get("form") is None:
        return f"no law ({law['reason']})"
    p, slope = law["params"], "k" if law["form"] == "power" else "b"
    ci = law.get(f"{slope}_ci")
    interval = f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else ""
    other = max(law["delta"].values())
    if law["form"] == "power":
        equation = f"L*_50 = {p['A']:.3g} n^k, k = {p['k']:.2f}{interval}"
    else:
        equation = f"L*_50 = {p['a']:.3g} + b ln n, b = {p['b']:.2f}{interval}"
    return f"{law['form']} ({equation}; {law['criterion'].split(' ')[0]} prefers it by {other:.1f})"


def depth_sentence(fits: dict) -> str:
    depth = fits.get("depth")
    if not depth:
        return ""
    bits = []
    for group, widths in depth["groups"].items():
        per = ", ".join(f"width {w}: {_depth(e['smallest_50'])} (90%: {_depth(e['smallest_90'])})"
                        for w, e in widths.items())  # fmt: skip
        bits.append(f"size {group}: {per}")
    laws = "; ".join(f"width {w}{'' if f == 'all' else f' ({f})'}: {_law_text(law)}"
                     for f, per in depth["laws"].items() for w, law in per.items())  # fmt: skip
    compared = depth.get("equal_params", {})
    summary = compared.get("summary")
    verdicts = (
        ", ".join(f"{v}: {n}" for v, n in summary.items()) if summary else "no pairs of equal parameters"
    )
    capped = sum(p["budget_limited"] for pairs in compared.get("groups", {}).values() for p in pairs)
    if capped:  # a verdict from runs cut by their step cap could change with more steps
        verdicts += f" ({capped} of them with a run ended on its step cap)"
    return ("How many layers does a maze size need (the smallest depth reaching 50% exact, at each width, "
            "[its range over resampled seeds])? " + "; ".join(bits)
            + f". Layers-needed law: {laws}. At equal parameters, deep-narrow against shallow-wide "
            f"(pairs by verdict): {verdicts}.")  # fmt: skip


def depth_section(fits: dict, figure: str) -> str:
    depth = fits.get("depth")
    if not depth:
        return ""
    rows = []
    for group, widths in depth["groups"].items():
        for width, e in widths.items():
            star = e["star_50"]
            crossing = (
                f"{star['value']:.2f} [{star['ci'][0]:.3g}, {star['ci'][1]:.3g}]" if "value" in star else ""
            )
            note = e.get("reason", "")
            if e.get("budget_limited_depths"):
                note += f"runs ended on their step cap at depth(s) {e['budget_limited_depths']}"
            cells = [group, width, _depth(e["smallest_50"]), _depth(e["smallest_90"]), crossing,
                     _params_star(fits, group), note]  # fmt: skip
            rows.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
    laws = "".join(f"<li>width {html.escape(w)}: {html.escape(_law_text(law))}</li>"
                   for per in depth["laws"].values() for w, law in per.items())  # fmt: skip
    return (f'<h2 id="depth">Depth: how many layers does a maze size need?</h2>{figure}'
            '<table id="depth-table"><tr><th>size</th><th>width (d_model)</th><th>smallest depth to 50% '
            "[range over seeds]</th><th>smallest depth to 90%</th><th>L*_50 (interpolated) [95%]</th>"
            f"<th>N*_50 (parameters, all shapes)</th><th>note</th></tr>{''.join(rows)}</table>"
            "<p>The layers-needed law (L*_50 against maze size n, per width):</p>"
            f"<ul>{laws}</ul>{_equal_params_table(depth)}{_one_depth(depth)}")  # fmt: skip


def _equal_params_table(depth: dict) -> str:
    """Deep-narrow against shallow-wide shapes of equal parameters (`analysis.equal_params`)."""
    compared = depth.get("equal_params", {})
    rows = []
    for group, pairs in compared.get("groups", {}).items():
        for p in pairs:
            seeds = "; ".join(
                f"{name} " + " ".join(f"{v:.2f}" for v in p["exact"][name]) for name in ("deep", "wide")
            )
            params = f"{p['params']['deep']:,} / {p['params']['wide']:,}"
            ci = f" [{p['ci'][0]:+.3f}, {p['ci'][1]:+.3f}]" if p["ci"] else ""
            cells = [group, f"{p['deep']} vs {p['wide']}", params, f"{p['difference']:+.3f}{ci}",
                     p["verdict"], seeds, "yes" if p["budget_limited"] else ""]  # fmt: skip
            rows.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
    if not rows:
        return ""
    return ("<p>At equal parameters, does depth or width move the boundary? Each deep-narrow shape against "
            "the shallow-wide shape with the same non-embedding parameters (within "
            f"{compared['tolerance']:.0%}): the difference of final exact accuracy (deep minus wide, seed "
            "means) with a 95% Welch t interval over the seeds. 'neither resolved' is not evidence "
            "of no effect; 'both solved' / 'both failed' pairs sit at a ceiling or floor with no resolved "
            "difference (a resolved one still reads depth or width); 'too few runs': a shape with a single "
            "run, no interval.</p>"
            '<table id="equal-params-table"><tr><th>size</th><th>shapes (deep vs wide)</th>'
            "<th>parameters</th><th>exact difference [95%]</th><th>verdict</th><th>exact per seed</th>"
            "<th>budget-limited</th></tr>"
            f"{''.join(rows)}</table>")  # fmt: skip


def _one_depth(depth: dict) -> str:
    left = depth.get("widths_with_one_depth") or {}
    if not left:
        return ""
    text = "; ".join(f"size {g}: {', '.join(map(str, ws))}" for g, ws in left.items())
    return f"<p>Widths run at one depth only, left out of this section: {html.escape(text)}.</p>"


def _params_star(fits: dict, group: str) -> str:
    """The group's N*_50 from the boundary (parameters), as the page prints it elsewhere."""
    info = fits.get("groups", {}).get(group, {})
    key = f"params ({info['family']})" if info.get("family") else "params"
    star = (
        fits.get("boundary", {})
        .get(key, {})
        .get("sizes", {})
        .get(str(info.get("size")), {})
        .get("star_50", {})
    )
    if star.get("status") == "inside":
        return f"{star['value']:,.0f}"
    return star.get("bound", "")
