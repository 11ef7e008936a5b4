"""The report's words: the findings (one bullet per question, numbers with their intervals, also in
fits.json) and the HTML page, one section per question, every figure closed, every number traced."""

from __future__ import annotations

import base64
import html
from pathlib import Path

from analysis.goals_page import goals_html, goals_sentences
from analysis.page_tables import (
    budget_sentence,
    compute_rows,
    compute_sentence,
    depth_section,
    depth_sentence,
    stratum_rows,
    stratum_sentence,
)
from analysis.progress import progress_html


def _num(value, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}g}"


def _ci(ci, digits: int = 3) -> str:
    return f" [{_num(ci[0], digits)}, {_num(ci[1], digits)}]" if ci else ""


def _big(value: float) -> str:
    return f"{value:,.0f}" if value < 1e6 else f"{value:.3g}"


def _star(star: dict, grid=None) -> str:
    """A crossing with its interval; interval ends beyond the grid are shown as bounds; "(budget-
    limited)" where a run that ended on its step cap could move it."""
    budget = " (budget-limited)" if star.get("budget_limited") else ""
    if star.get("status") != "inside":
        return (star.get("bound") or "undetermined") + budget
    text = _big(star["value"])
    if "ci" in star:
        lo, hi = star["ci"]
        left = f"< {_big(grid[0])}" if grid and lo < grid[0] else _big(lo)
        right = f"> {_big(grid[1])}" if grid and hi > grid[1] else _big(hi)
        text += f" [{left}, {right}]"
    return text + budget


def findings(fits: dict) -> list[str]:
    """One bullet per question: the numbers with their intervals and what they mean."""
    if "everything" in fits.get("not_fitted", {}):
        return [f"Nothing could be fitted: {fits['not_fitted']['everything']}."]
    parts = [_sweep_sentence(fits), _threshold_sentence(fits), _artefact_sentence(fits),
             _constancy_sentence(fits), _boundary_sentence(fits), budget_sentence(fits),
             compute_sentence(fits), depth_sentence(fits), stratum_sentence(fits),
             _progress_sentence(fits), *goals_sentences(fits)]  # fmt: skip
    return [p for p in parts if p]


def _sweep_sentence(fits: dict) -> str:
    status = ", ".join(f"{n} {s}" for s, n in fits["status"].items())
    text = f"The sweep: {fits['n_runs']} runs ({status}) in group(s) {', '.join(fits['per_size'])}."
    if fits.get("code_version_warning"):
        text += f" Warning: {fits['code_version_warning']}."
    return text


def _threshold_sentence(fits: dict) -> str:
    bits = []
    for size, entry in fits["per_size"].items():
        tr = entry["transition"]
        if tr.get("transition"):
            where = f"{tr['threshold']:.3f}{_ci(tr.get('threshold_ci'))}"
            bits.append(f"size {size}: a sharp transition at L* = {where} "
                        f"(delta BIC {tr['delta_bic']:.0f})")  # fmt: skip
        elif "reason" in tr:
            bits.append(f"size {size}: {tr['reason']}, so no threshold")
        else:
            bits.append(f"size {size}: not fitted ({tr.get('error')})")
    return ("Does exact accuracy jump against the held-out loss? " + "; ".join(bits) + ". L* is the loss "
            "(nats per answer token) at the middle of the jump, reported only where there is one."
            )  # fmt: skip


def _artefact_sentence(fits: dict) -> str:
    bits = []
    for size, tests in fits["artefact"].items():
        for loss, test in tests.items():
            label = f"size {size} ({'per-token loss' if loss == 'loss' else loss})"
            bits.append(f"{label}: {test['verdict']}, {test['reason']}")
    if not bits:
        return ""
    return ("Is the jump beyond the metric artefact (exact = P^a from the model's own per-example "
            "probabilities)? " + "; ".join(bits) + ". 'artefact' means the gap to the null is shown smaller "
            f"than {_margin(fits)} of accuracy, 'beyond artefact' that it is shown larger, 'below null' that "
            "accuracy falls short of the null, 'undetermined' neither.")  # fmt: skip


def _margin(fits: dict) -> str:
    tests = [t for per in fits["artefact"].values() for t in per.values() if "margin" in t]
    return f"{tests[0]['margin']:g}" if tests else "the margin"


def _constancy_sentence(fits: dict) -> str:
    law = fits["threshold_vs_length"]
    if not law.get("per_size"):
        return f"{CONSTANCY_QUESTION} Undetermined: {law.get('reason')}."
    values = ", ".join(f"{r['L50n']:.2f}{_ci(r['L50n_ci'], 2)} (size {r['size']})" for r in law["per_size"])
    text = f"{CONSTANCY_QUESTION} L_50 n = {values}: {law['verdict']}"
    if "p_value" in law:
        text += f" (heterogeneity p = {law['p_value']:.2g})"
    if "power_law" in law:
        text += f"; L_50 ~ n^{-law['power_law']['k']:.2f} (the null predicts n^-1)"
    return text + ". L_50 is the loss where exact accuracy crosses 50% (a monotone fit, no sigmoid assumed)."


CONSTANCY_QUESTION = "Does the 50% crossing scale as 1/n, as the artefact null predicts?"


def _boundary_sentence(fits: dict) -> str:
    out = []
    for scale, result in fits["boundary"].items():
        kind, _, family = scale.partition(" ")
        name = ("N*_50 (parameters)" if kind == "params" else "C*_50 (FLOPs)") + (
            f" {family}" if family else ""
        )
        stars = ", ".join(
            f"{_star(e.get('star_50', {}), e.get('grid'))} (size {s}"
            + (f": {e['reason']})" if e.get("reason") else ")")
            for s, e in result["sizes"].items()
        )
        law = result["law"]
        text = f"{name}: {stars}"
        if law.get("gamma") is not None:
            gamma = f"{law['gamma']:.2f}{_ci(law.get('gamma_ci'))}"
            text += f"; growth exponent gamma = {gamma} over sizes {law['sizes_used']}"
            text += f" ({law['note']})" if law.get("note") else ""
        else:
            text += f"; no growth law ({law.get('reason')})"
        if law.get("lower_bound_gamma") is not None:
            text += f", gamma >= {law['lower_bound_gamma']:.1f} from the sizes beyond the grid"
        out.append(text)
    return ("How many parameters and how much compute does a size need for 50% exact accuracy, and how fast "
            "does that grow (N* ~ n^gamma)? " + ". ".join(out) + ". " + BOUNDARY_METHOD)  # fmt: skip


BOUNDARY_METHOD = ("N*_50 is read off a monotone fit of final exact accuracy against log parameters (no "
                   "sigmoid assumed); its interval spans the model sizes either side of the crossing, over "
                   "resampled seeds, because the data do not say where between them it lies.")  # fmt: skip


def _progress_sentence(fits: dict) -> str:
    measures = fits.get("progress", {}).get("measures", {})
    if not measures:
        return ""
    bits = []
    for name, entry in measures.items():
        summary = entry["summary"]
        if not entry["used"]:
            bits.append(f"{name}: no lead time ({entry['baseline']['note']})")
        elif "median_log10_lead" in summary:
            lead = f"{summary['median_log10_lead']:+.2f}{_ci(summary['ci95'], 2)}"
            caveat = f" (caveat: {entry['caveat']})" if "caveat" in entry else ""
            bits.append(f"{name}: median log10 lead {lead} over {summary['n_with_lead']} runs{caveat}")
        else:
            bits.append(f"{name}: no lead time (no run with both a jump and a rising measure)")
    return ("Did a progress measure move before exact accuracy (positive lead: it did; 1 = ten times "
            "earlier)? " + "; ".join(bits) + ".")  # fmt: skip


GLOSSARY = """<h2 id="glossary">Glossary</h2><dl>
<dt>held-out loss</dt><dd>mean negative log-likelihood per answer token on the held-out set, in nats.</dd>
<dt>decision loss</dt><dd>the same loss at the answer tokens where the path has a choice (a maze cell with
more than one way on); P for its null is the mean over examples of each example's probability of all its
decision tokens (<code>decision_prob</code>).</dd>
<dt>P^a (the artefact null)</dt><dd>predicted exact accuracy from the model's own probabilities of the true
answer (P, averaged over examples), raised to a fitted power a (a = 1: exact match is the product of the
per-token probabilities).</dd>
<dt>excess, deficit, margin</dt><dd>the largest gap of accuracy above (excess) or below (deficit) the null,
with 95% intervals over runs; verdicts compare the intervals with the margin.</dd>
<dt>L*</dt><dd>the loss at the middle of a sharp jump of exact accuracy (a sigmoid's midpoint), only where a
jump was found. L_50: the loss where accuracy crosses 50%, from a monotone fit.</dd>
<dt>N*_50, N*_90, C*_50</dt><dd>non-embedding parameters (or training FLOPs) at which final exact accuracy
crosses 50% (90%), interpolated on a monotone fit in log parameters; its interval runs from the model size
below the crossing to the one above it (over resampled seeds): no shape between them is assumed;
"&gt; x" / "&lt; x": beyond the grid of models run.</dd>
<dt>gamma</dt><dd>the growth exponent of N*_50 ~ n^gamma across problem sizes n (within one task and data
condition).</dd>
<dt>log10 lead</dt><dd>log10 of the step at which accuracy reached half its rise over the step at which the
measure did: positive means the measure moved first; its resolution is one evaluation interval.</dd>
</dl>"""


def _figure(out: Path, name: str, caption: str) -> str:
    if not (out / name).exists():
        return ""
    data = base64.b64encode((out / name).read_bytes()).decode()
    return (f'<figure><img alt="{name}" src="data:image/png;base64,{data}">'
            f"<figcaption><b>{name}</b>: {html.escape(caption)}</figcaption></figure>")  # fmt: skip


def _per_size_rows(fits: dict) -> str:
    rows = []
    lengths = {r["size"]: r for r in fits.get("threshold_vs_length", {}).get("per_size", [])}
    for size, entry in fits.get("per_size", {}).items():
        tr = entry["transition"]
        tests = fits["artefact"].get(size, {})
        threshold = (
            _num(tr["threshold"]) + _ci(tr.get("threshold_ci")) if tr.get("transition") else "no transition"
        )
        l50 = lengths.get(size, {})
        cells = [size, threshold, _num(tr.get("delta_bic"), 4), _num(entry.get("answer_len")),
                 _num(l50.get("L50n")) + _ci(l50.get("L50n_ci"))]  # fmt: skip
        for loss in ("loss", "decision_loss"):
            test = tests.get(loss, {})
            ex, de = test.get("excess", {}), test.get("deficit", {})
            detail = (
                f" (p = {test['p_value']:.2g}; excess {ex['max']:.3f}{_ci(ex.get('max_ci'))}; "
                f"deficit {de['max']:.3f}{_ci(de.get('max_ci'))})"
                if "p_value" in test
                else f" ({test['reason']})"
                if test.get("verdict") == "not tested"
                else ""
            )
            cells.append(test.get("verdict", "not tested") + detail)
        rows.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    return "".join(rows)


def _boundary_rows(fits: dict) -> str:
    rows = []
    for scale, result in fits.get("boundary", {}).items():
        for size, entry in result["sizes"].items():
            grid = entry.get("grid")
            stars = [_star(entry.get(f"star_{q}", {}), grid) for q in ("50", "90")]
            note = entry.get("reason", "")
            if entry.get("budget_limited_models"):
                models = ", ".join(f"{p:,}" for p in entry["budget_limited_models"])
                note = (note + "; " if note else "") + f"runs ended on their step cap at {models} parameters"
            cells = [scale, size, *stars, note]
            rows.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
    return "".join(rows)


def _fit_rows(fits: dict) -> str:
    rows = []
    frontier = {s: e.get("fit", {}) for s, e in fits.get("loss_vs_compute", {}).items()}
    for what, table in (
        ("loss vs params", fits.get("loss_vs_params", {})),
        ("loss-compute frontier", frontier),
    ):
        for size, fit in table.items():
            if fit.get("degenerate"):  # listed under what could not be fitted
                continue
            for name, value in (fit.get("params") or {}).items():
                ci = fit.get("ci", {}).get(name)
                interval = f"[{ci[0]:.4g}, {ci[1]:.4g}]" if ci and all(map(_finite, ci)) else "no interval"
                rows.append(f"<tr><td>{what}, size {size}</td><td>{fit['form']}</td><td>{name}</td>"
                            f"<td>{value:.4g}</td><td>{interval}</td></tr>")  # fmt: skip
    for scale, result in fits.get("boundary", {}).items():
        law = result["law"]
        if law.get("gamma") is not None:
            lo, hi = law.get("gamma_ci") or [float("nan")] * 2
            rows.append(f"<tr><td>{scale}*_50 vs problem size</td><td>{law['form']}</td><td>gamma</td>"
                        f"<td>{law['gamma']:.4g}</td><td>[{lo:.4g}, {hi:.4g}]</td></tr>")  # fmt: skip
    return "".join(rows)


def _estimator(fits: dict) -> str:
    names = {r.get("estimator") for r in fits.get("boundary", {}).values() if r.get("estimator")}
    return "; ".join(sorted(names)) or "none (no boundary fitted)"


def _finite(value) -> bool:
    return value is not None and value == value and abs(value) != float("inf")


def render_html(fits: dict, out: Path) -> str:
    missing = "".join(
        f"<li><b>{html.escape(k)}</b>: {html.escape(str(v))}</li>" for k, v in fits["not_fitted"].items()
    )
    fig = lambda name, caption: _figure(out, name, caption)  # noqa: E731
    return PAGE.format(
        sweep=html.escape(fits["sweep"]),
        findings="".join(f"<li>{html.escape(f)}</li>" for f in fits["findings"]),
        code=html.escape(", ".join(fits["code_version"]))
        + (
            f' <b class="warning">Warning: {html.escape(fits["code_version_warning"])}.</b>'
            if fits.get("code_version_warning")
            else ""
        ),  # fmt: skip
        glossary=GLOSSARY,
        per_size_rows=_per_size_rows(fits),
        boundary_rows=_boundary_rows(fits),
        fit_rows=_fit_rows(fits),
        boundary_estimator=html.escape(_estimator(fits)),
        compute_rows=compute_rows(fits),
        stratum_rows=stratum_rows(fits),
        depth=depth_section(
            fits,
            fig(
                "depth_width.png",
                "final exact accuracy over depth and width per size: seed mean (colour, first line), seeds "
                "in seed order (second line); red triangle: the smallest depth reaching 50% at that width; "
                "hatched: budget-limited",
            ),
        ),
        goals=goals_html(fits, fig),
        fig_strata=fig(
            "exact_by_stratum.png",
            "final exact accuracy against detour (steps beyond the Manhattan distance) and against the "
            "number of decisions on the path, one panel per size; colour: model size (legend), line: seed "
            "mean, points: seeds",
        ),
        missing=missing or "<li>nothing: every question had enough data</li>",
        fig_accuracy=fig(
            "accuracy_vs_loss.png",
            "top: exact accuracy against held-out loss per size (colour: model size), "
            "the sigmoid, L* (dashed) and its interval (band) only where a transition was found, the "
            "artefact "
            "null (grey x); bottom: the null's prediction against the observation (dashed: equality), "
            "titled with the verdict",
        ),  # fmt: skip
        fig_phase=fig(
            "phase_diagram.png",
            "final exact accuracy: seed mean (colour, first line), each seed in "
            "seed order (second line); red diamond: N*_50 with its interval (the model sizes either side); "
            "boxed note: its bound; hatched cells and hollow diamonds: budget-limited (a run ended on its "
            "step cap)",
        ),  # fmt: skip
        fig_boundary=fig(
            "boundary_law.png",
            "crossings of 50% and 90% exact accuracy against problem size, "
            "with intervals; open triangles: bounds (beyond the grid); hollow circles: budget-limited "
            "crossings; line and band: the power law and gamma's interval",
        ),  # fmt: skip
        fig_curves=fig(
            "training_curves.png",
            "held-out loss (nats per answer token, its own axis per size) and exact "
            "accuracy over training, one panel per size; colour: model size (legend), one line per seed",
        ),  # fmt: skip
        progress=progress_html(fits["progress"], out) if "progress" in fits else "",
        fig_params=fig("loss_vs_params.png", "final loss against parameters per size, with its law"),
        fig_compute=fig(
            "loss_vs_compute.png",
            "loss against training compute: every evaluation point, the frontier (red) and its law (black)",
        ),  # fmt: skip
    )


PAGE = """<!doctype html><html><head><meta charset="utf-8">
<title>search-scaling report: {sweep}</title>
<style>body{{font-family:sans-serif;max-width:1200px;margin:auto;padding:0 12px;line-height:1.4}}
figure{{display:block;margin:14px 0}} img{{max-width:100%;height:auto}}
figcaption{{font-size:90%;color:#333}} table{{border-collapse:collapse;margin:8px 0}}
td,th{{border:1px solid #ccc;padding:3px 8px;font-size:90%}}</style>
</head><body>
<h1>Sweep <code>{sweep}</code></h1>
<ul id="summary">{findings}</ul>
<p>Code version: {code}. Intervals: 95%, bootstrap over runs.</p>
<h2 id="transitions">Per problem size: where does exact accuracy jump, and is it a metric artefact?</h2>
{fig_accuracy}
<table id="per-size"><tr><th>size</th><th>L* [95%]</th><th>delta BIC (sigmoid vs smooth)</th>
<th>answer length n</th><th>L_50 n [95%]</th><th>artefact test: loss</th>
<th>artefact test: decision loss</th></tr>
{per_size_rows}</table>
<h2 id="boundary">Phase boundary: how many parameters, how much compute per problem size?</h2>
{fig_phase}
{fig_boundary}
<p>Estimator: {boundary_estimator}.</p>
<table id="boundary-table"><tr><th>scale</th><th>size</th><th>50% crossing [95%]</th>
<th>90% crossing [95%]</th><th>note</th></tr>
{boundary_rows}</table>
<h3 id="compute-to-target">Compute to target: the least training FLOPs that reach 50% and 90% exact</h3>
<table id="compute-table"><tr><th>size</th><th>target</th><th>least FLOPs (median over seeds)</th>
<th>model</th><th>step</th><th>seeds reaching it</th><th>note</th></tr>
{compute_rows}</table>
{depth}
{goals}
<h2 id="curves">Training curves</h2>
{fig_curves}
<h2 id="scaling">Loss against parameters and compute</h2>
{fig_params}
{fig_compute}
<h2 id="strata">Exact accuracy by detour and by decisions</h2>
{fig_strata}
<table id="stratum-table"><tr><th>size</th><th>by</th><th>model</th><th>non-embedding parameters</th>
<th>final exact accuracy per stratum (seed mean)</th></tr>
{stratum_rows}</table>
{progress}
<h2>Fitted parameters (95% bootstrap intervals over runs)</h2>
<table id="fits"><tr><th>what</th><th>form</th><th>parameter</th><th>value</th><th>interval</th></tr>
{fit_rows}</table>
<h2 id="not-fitted">What could not be fitted, and why</h2>
<ul>{missing}</ul>
{glossary}
<p>All numbers, with the run hashes they came from: <a href="fits.json">fits.json</a>.</p>
</body></html>"""
