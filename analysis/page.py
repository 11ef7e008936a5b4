"""The report's words: the findings paragraph (numbers with their intervals, also kept in fits.json)
and the HTML page, one section per question, every figure closed, every number traced to fits.json."""

from __future__ import annotations

import base64
import html
from pathlib import Path

from analysis.progress import progress_html


def _num(value, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}g}"


def _ci(ci, digits: int = 3) -> str:
    return f" [{_num(ci[0], digits)}, {_num(ci[1], digits)}]" if ci else ""


def _big(value: float) -> str:
    return f"{value:,.0f}" if value < 1e6 else f"{value:.3g}"


def _star(star: dict, grid=None) -> str:
    """A crossing with its interval; interval ends beyond the grid are shown as bounds."""
    if star.get("status") != "inside":
        return star.get("bound") or "undetermined"
    text = _big(star["value"])
    if "ci" in star:
        lo, hi = star["ci"]
        left = f"< {_big(grid[0])}" if grid and lo < grid[0] else _big(lo)
        right = f"> {_big(grid[1])}" if grid and hi > grid[1] else _big(hi)
        text += f" [{left}, {right}]"
    return text


def findings(fits: dict) -> str:
    """One paragraph in words and numbers, each with its interval where it has one."""
    if "everything" in fits.get("not_fitted", {}):
        return f"Nothing could be fitted: {fits['not_fitted']['everything']}."
    parts = [
        _sweep_sentence(fits),
        _threshold_sentence(fits),
        _artefact_sentence(fits),
        _boundary_sentence(fits),
    ]
    return " ".join(p for p in parts if p)


def _sweep_sentence(fits: dict) -> str:
    sizes = list(fits["per_size"])
    status = ", ".join(f"{n} {s}" for s, n in fits["status"].items())
    return f"{fits['n_runs']} runs ({status}) over problem size(s) {', '.join(sizes)}."


def _threshold_sentence(fits: dict) -> str:
    bits = []
    for size, entry in fits["per_size"].items():
        tr = entry["transition"]
        if "threshold" in tr:
            kind = "a sharp transition" if tr["transition"] else "no sharp transition"
            bits.append(f"size {size}: {kind}, L* = {tr['threshold']:.3f}{_ci(tr.get('threshold_ci'))} "
                        f"(delta BIC {tr['delta_bic']:.0f})")  # fmt: skip
        else:
            bits.append(f"size {size}: not fitted")
    law = fits["threshold_vs_length"]
    text = "Exact accuracy against loss, per size: " + "; ".join(bits) + "."
    if law.get("per_size"):
        values = ", ".join(f"{r['L*n']:.2f}{_ci(r['L*n_ci'])}" for r in law["per_size"])
        text += f" L* times the answer length: {values}, {law['verdict']}"
        if "power_law" in law:
            text += f"; L* ~ n^{-law['power_law']['k']:.2f} (the null predicts n^-1)"
        text += "."
    return text


def _artefact_sentence(fits: dict) -> str:
    bits = []
    for size, tests in fits["artefact"].items():
        for loss, test in tests.items():
            label = f"size {size} ({'per-token loss' if loss == 'loss' else loss})"
            if test["verdict"] == "beyond artefact":
                ex = test["excess"]
                size_ci = f"{ex['max']:.2f}{_ci(ex.get('max_ci'), 2)}"
                bits.append(f"{label}: beyond artefact, exact accuracy up to {size_ci} above the null below "
                            f"loss {ex['loss_threshold']:.2f} (p = {test['p_value']:.1e})")  # fmt: skip
            elif test["verdict"] == "artefact":
                small = test["p_value"] < test["alpha"]  # significant, but below the excess of interest
                note = (
                    f"; excess {test['excess']['max']:.2f} < {test['excess']['min_of_interest']:g}"
                    if small
                    else ""
                )
                bits.append(f"{label}: artefact (p = {test['p_value']:.2g}{note})")
            else:
                bits.append(f"{label}: undetermined ({test['reason']})")
    if not bits:
        return ""
    return (
        "Against the metric-artefact null (exact = P^a from the model's own answer probabilities): "
        + "; ".join(bits)
        + "."
    )


def _boundary_sentence(fits: dict) -> str:
    out = []
    for scale, name in (("params", "N*_50 (parameters)"), ("compute", "C*_50 (FLOPs)")):
        result = fits["boundary"][scale]
        stars = ", ".join(
            f"{_star(e.get('star_50', {}), e.get('grid'))} (size {s})" for s, e in result["sizes"].items()
        )
        law = result["law"]
        text = f"{name}: {stars}"
        if law.get("gamma") is not None:
            gamma = f"{law['gamma']:.2f}{_ci(law.get('gamma_ci'))}"
            text += f"; growth exponent gamma = {gamma} over sizes {law['sizes_used']}"
        else:
            text += f"; no growth law ({law.get('reason')})"
        if law.get("lower_bound_gamma") is not None:
            text += f", gamma >= {law['lower_bound_gamma']:.1f} from the sizes beyond the grid"
        out.append(text)
    return "Phase boundary: " + ". ".join(out) + "."


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
        cells = [size, _num(tr.get("threshold")) + _ci(tr.get("threshold_ci")), _num(tr.get("delta_bic"), 4),
                 _num(entry.get("answer_len")), _num(lengths.get(size, {}).get("L*n"))]  # fmt: skip
        for loss in ("loss", "decision_loss"):
            test = tests.get(loss, {})
            ex = test.get("excess", {})
            detail = (
                f" (p = {test['p_value']:.2g}; excess {ex['max']:.2f}{_ci(ex.get('max_ci'), 2)})"
                if "p_value" in test
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
            cells = [scale, size, *stars, entry.get("reason", "")]
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
            for name, value in (fit.get("params") or {}).items():
                lo, hi = fit.get("ci", {}).get(name, [float("nan")] * 2)
                rows.append(f"<tr><td>{what}, size {size}</td><td>{fit['form']}</td><td>{name}</td>"
                            f"<td>{value:.4g}</td><td>[{lo:.4g}, {hi:.4g}]</td></tr>")  # fmt: skip
    for scale, result in fits.get("boundary", {}).items():
        law = result["law"]
        if law.get("gamma") is not None:
            lo, hi = law.get("gamma_ci") or [float("nan")] * 2
            rows.append(f"<tr><td>{scale}*_50 vs problem size</td><td>{law['form']}</td><td>gamma</td>"
                        f"<td>{law['gamma']:.4g}</td><td>[{lo:.4g}, {hi:.4g}]</td></tr>")  # fmt: skip
    return "".join(rows)


def render_html(fits: dict, out: Path) -> str:
    missing = "".join(
        f"<li><b>{html.escape(k)}</b>: {html.escape(str(v))}</li>" for k, v in fits["not_fitted"].items()
    )
    fig = lambda name, caption: _figure(out, name, caption)  # noqa: E731
    return PAGE.format(
        sweep=html.escape(fits["sweep"]),
        findings=html.escape(fits["findings"]),
        code=html.escape(", ".join(fits["code_version"])),
        per_size_rows=_per_size_rows(fits),
        boundary_rows=_boundary_rows(fits),
        fit_rows=_fit_rows(fits),
        missing=missing or "<li>nothing: every question had enough data</li>",
        fig_accuracy=fig(
            "accuracy_vs_loss.png",
            "top: exact accuracy against loss per size (colour: model size), "
            "the size's sigmoid, L* (dashed) with its interval (band), the artefact null (grey x); "
            "bottom: the null's prediction against the observation",
        ),  # fmt: skip
        fig_phase=fig(
            "phase_diagram.png",
            "final exact accuracy: seed mean (colour, first line), each seed "
            "(second line); red: N*_50 with its interval, or its bound",
        ),  # fmt: skip
        fig_boundary=fig(
            "boundary_law.png",
            "crossings of 50% and 90% exact accuracy against problem size, "
            "with intervals; open triangles: bounds (beyond the grid); line and band: the power law "
            "and gamma's interval",
        ),  # fmt: skip
        fig_curves=fig(
            "training_curves.png",
            "held-out loss and exact accuracy over training, one panel per "
            "size; colour: model size, one line per seed",
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
<p id="summary">{findings}</p>
<p>Code version: {code}. Intervals: 95%, bootstrap over runs.</p>
<h2 id="transitions">Per problem size: where does exact accuracy jump, and is it a metric artefact?</h2>
{fig_accuracy}
<table id="per-size"><tr><th>size</th><th>L* [95%]</th><th>delta BIC (sigmoid vs smooth)</th>
<th>answer length n</th><th>L* n</th><th>artefact test: loss</th><th>artefact test: decision loss</th></tr>
{per_size_rows}</table>
<h2 id="boundary">Phase boundary: how many parameters, how much compute per problem size?</h2>
{fig_phase}
{fig_boundary}
<table id="boundary-table"><tr><th>scale</th><th>size</th><th>50% crossing [95%]</th>
<th>90% crossing [95%]</th><th>note</th></tr>
{boundary_rows}</table>
<h2 id="curves">Training curves</h2>
{fig_curves}
<h2 id="scaling">Loss against parameters and compute</h2>
{fig_params}
{fig_compute}
{progress}
<h2>Fitted parameters (95% bootstrap intervals over runs)</h2>
<table id="fits"><tr><th>what</th><th>form</th><th>parameter</th><th>value</th><th>interval</th></tr>
{fit_rows}</table>
<h2 id="not-fitted">What could not be fitted, and why</h2>
<ul>{missing}</ul>
<p>All numbers, with the run hashes they came from: <a href="fits.json">fits.json</a>.</p>
</body></html>"""
