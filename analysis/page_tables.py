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
    how = ", ".join(f"{n} on {r}" for r, n in stops["stop_reasons"].items())
    cells = "; ".join(
        f"size {g} at {', '.join(f'{p:,}' for p in ps)}" for g, ps in stops["budget_limited"].items()
    )
    text = f"Did the runs end on their stop rules or on the step cap? They ended {how}. "
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
