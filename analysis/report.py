"""`build_report(store, sweep, out)`: plots, fitted parameters with intervals, and ``fits.json``,
gathered in a self-contained ``index.html`` (PNGs embedded). Every number names the runs it came
from and the code version that produced them."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from analysis.fit import bootstrap, fit_form  # noqa: E402
from analysis.progress import progress_html, progress_section  # noqa: E402
from analysis.records import eval_wide, final_eval, read_store  # noqa: E402
from analysis.transitions import fit_transition, plateau_drop  # noqa: E402


def build_report(store, sweep: str, out, n_boot: int = 200) -> dict:
    runs, curves = read_store(store, sweep)
    wide, final = eval_wide(curves), final_eval(curves)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    fits = {"sweep": sweep, "store": str(store), "code_version": sorted(set(runs["code_version"])),
            "runs": sorted(runs["run_hash"]), "n_runs": len(runs)}  # fmt: skip
    fits["loss_vs_params"] = loss_vs_params(final, out / "loss_vs_params.png", n_boot)
    fits["accuracy_vs_loss"] = accuracy_vs_loss(wide, out / "accuracy_vs_loss.png", n_boot)
    fits["phase_diagram"] = phase_diagram(final, out / "phase_diagram.png")
    fits["training_curves"] = training_curves(wide, out / "training_curves.png")
    fits["progress"] = progress_section(curves, out)  # lead times of the progress measures + panel
    (out / "fits.json").write_text(json.dumps(fits, indent=1, default=float))
    (out / "index.html").write_text(render_html(fits, out))
    return fits


def loss_vs_params(final, path: Path, n_boot: int) -> dict:
    """Final held-out loss against non-embedding parameters, one fit per problem size (a power law,
    or the saturating law when there are enough model sizes), bootstrapped over runs."""
    fig, ax = plt.subplots(figsize=(6, 4.2))
    result = {}
    for size, group in final.groupby("task_size"):
        x, y = group["params_nonembed"].to_numpy(float), group["loss"].to_numpy(float)
        line = ax.scatter(x, y, label=f"size {size}", s=18)
        if len(np.unique(x)) < 3 or np.any(y <= 0):
            reason = "fewer than 3 model sizes"
            result[str(size)] = {"form": None, "reason": reason, "runs": list(group.run_hash)}
            continue
        form = "saturating" if len(np.unique(x)) >= 5 else "power"
        fit = fit_form(form, x, y)
        bootstrap(fit, x, y, n=n_boot, groups=group["run_hash"].to_numpy())
        grid = np.geomspace(x.min(), x.max(), 100)
        ax.plot(grid, fit.predict(grid), color=line.get_facecolor()[0])
        result[str(size)] = {**fit.to_json(), "runs": list(group.run_hash)}
    ax.set(xscale="log", yscale="log", xlabel="non-embedding parameters", ylabel="final held-out loss")
    ax.legend(fontsize=8)
    _save(fig, path)
    return result


def accuracy_vs_loss(wide, path: Path, n_boot: int) -> dict:
    """Exact accuracy against loss over every evaluation point of every run (binomial, n = the held-out
    set), then the continuous companion (per-token probability of the true answer) against training
    compute, next to exact accuracy against the same compute: does the jump survive?"""
    pts = wide.dropna(subset=["loss", "exact"])
    pts = pts[pts["step"] > 0]
    fig, ax = plt.subplots(figsize=(6, 4.2))
    for size, group in pts.groupby("task_size"):
        ax.scatter(group["loss"], group["exact"], s=10, alpha=0.6, label=f"size {size}")
    result = {"n_points": len(pts), "runs": sorted(pts["run_hash"].unique())}
    try:
        fit = fit_transition(pts["loss"], pts["exact"], n_eval=pts["eval_examples"], n_boot=n_boot)
        result["transition"] = fit.to_json()
        grid = np.linspace(pts["loss"].min(), pts["loss"].max(), 200)
        sig = fit.floor + (fit.ceiling - fit.floor) / (1 + np.exp((grid - fit.threshold) / fit.width))
        ax.plot(grid, sig, color="black", lw=1.5, label="sigmoid fit")
        ax.axvline(fit.threshold, color="crimson", ls="--", label=f"L* = {fit.threshold:.3f}")
        compute = np.log10(pts["flops"].clip(lower=1))
        exact = fit_transition(compute, pts["exact"], n_eval=pts["eval_examples"])
        result["exact_vs_log_flops"] = exact.to_json()
        per_token = np.exp(pts["answer_logprob"])
        result["companion_vs_log_flops"] = fit_transition(compute, per_token).to_json()
        result["jump_survives_companion"] = bool(result["companion_vs_log_flops"]["transition"])
    except ValueError as err:
        result["transition"] = {"error": str(err)}
    ax.set(xlabel="held-out loss (answer tokens)", ylabel="exact-path accuracy")
    ax.legend(fontsize=8)
    _save(fig, path)
    return result


def phase_diagram(final, path: Path) -> dict:
    """Final exact accuracy over (model size x problem size), with the 50% boundary per size."""
    table = final.pivot_table(index="task_size", columns="params_nonembed", values="exact", aggfunc="mean")
    fig, ax = plt.subplots(figsize=(6, 4.2))
    image = ax.imshow(table.to_numpy(), origin="lower", aspect="auto", cmap="viridis", vmin=0, vmax=1)
    ax.set_xticks(range(len(table.columns)), [f"{c:,}" for c in table.columns], rotation=30, fontsize=8)
    ax.set_yticks(range(len(table.index)), [str(i) for i in table.index])
    for (i, j), value in np.ndenumerate(table.to_numpy()):
        ax.text(j, i, f"{value:.2f}", ha="center", va="center", color="white" if value < 0.6 else "black")
    ax.set(xlabel="non-embedding parameters", ylabel="problem size")
    fig.colorbar(image, label="exact accuracy (final)")
    _save(fig, path)
    boundary = {}
    for size, row in table.iterrows():
        above = [p for p, v in row.items() if v >= 0.5]
        boundary[str(size)] = min(above) if above else None
    return {"exact": {str(k): {str(c): v for c, v in row.items()} for k, row in table.iterrows()},
            "params_for_50pct": boundary}  # fmt: skip


def training_curves(wide, path: Path) -> dict:
    """Loss against step for every run, with the loss-only plateau-then-drop step marked, and how
    close it lands to the step where exact accuracy first reaches half its final value."""
    fig, ax = plt.subplots(figsize=(6, 4.2))
    result = {}
    for run, group in wide.groupby("run_hash"):
        group = group[group["step"] > 0].sort_values("step")
        label = f"{group.model.iloc[0]} size {group.task_size.iloc[0]}"
        (line,) = ax.plot(group["step"], group["loss"], lw=1, label=label)
        found = plateau_drop(group["step"], group["loss"])
        best = group["exact"].max()
        half = group[group["exact"] >= 0.5 * best]["step"] if best > 0.1 else []
        if found.get("verdict") == "drop":
            ax.axvline(found["step"], color=line.get_color(), ls=":", lw=1)
            if len(half):
                found["acc_half_step"] = float(half.iloc[0])
                found["log10_error"] = float(np.log10(found["step"] / half.iloc[0]))
        result[run] = found
    ax.set(xscale="log", yscale="log", xlabel="step", ylabel="held-out loss")
    ax.legend(fontsize=6, ncol=2)
    _save(fig, path)
    return result


def _save(fig, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def render_html(fits: dict, out: Path) -> str:
    def img(name: str) -> str:
        data = base64.b64encode((out / name).read_bytes()).decode()
        return f'<figure><img alt="{name}" src="data:image/png;base64,{data}"><figcaption>{name}</figcaption>'

    rows = []
    for size, fit in fits["loss_vs_params"].items():
        for name, value in (fit.get("params") or {}).items():
            lo, hi = fit.get("ci", {}).get(name, [float("nan")] * 2)
            rows.append(f"<tr><td>loss vs params, size {size}</td><td>{fit['form']}</td><td>{name}</td>"
                        f"<td>{value:.4g}</td><td>[{lo:.4g}, {hi:.4g}]</td></tr>")  # fmt: skip
    tr = fits["accuracy_vs_loss"].get("transition", {})
    if "threshold" in tr:
        lo, hi = tr.get("threshold_ci") or [float("nan")] * 2
        rows.append(f"<tr><td>exact vs loss</td><td>sigmoid</td><td>L*</td><td>{tr['threshold']:.4g}</td>"
                    f"<td>[{lo:.4g}, {hi:.4g}]</td></tr>")  # fmt: skip
    verdict = ("a transition" if tr.get("transition") else "no sharp transition") if tr else "not fitted"
    where = f" at L* = {tr['threshold']:.3f}" if "threshold" in tr else ""
    figures = "".join(img(n) for n in ("loss_vs_params.png", "accuracy_vs_loss.png", "phase_diagram.png",
                                      "training_curves.png"))  # fmt: skip
    return PAGE.format(
        sweep=html.escape(fits["sweep"]),
        n_runs=fits["n_runs"],
        verdict=verdict,
        where=where,
        code=html.escape(", ".join(fits["code_version"])),
        figures=figures,
        rows="".join(rows),
        progress=progress_html(fits["progress"], out),
    )


PAGE = """<!doctype html><html><head><meta charset="utf-8">
<title>search-scaling report: {sweep}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:auto}} figure{{display:inline-block;margin:8px}}
img{{width:520px}} table{{border-collapse:collapse}} td,th{{border:1px solid #ccc;padding:3px 8px}}</style>
</head><body>
<h1>Sweep <code>{sweep}</code></h1>
<p id="summary">{n_runs} runs; exact accuracy vs loss: <b>{verdict}</b>{where}. Code version: {code}.</p>
{figures}
<h2>Fitted parameters (95% bootstrap intervals over runs)</h2>
<table id="fits"><tr><th>what</th><th>form</th><th>parameter</th><th>value</th><th>interval</th></tr>
{rows}</table>
{progress}
<p>All numbers, with the run hashes they came from: <a href="fits.json">fits.json</a>.</p>
</body></html>"""
