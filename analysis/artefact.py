"""Is a jump in exact accuracy a metric artefact (Schaeffer et al. 2023)?

Exact match over an n-token answer is close to the product of the per-token probabilities, so it
rises steeply as the loss falls without any new capability. The null model predicts each evaluation
point's exact accuracy from the model's own probabilities of the true answer:

    null:        exact = P^a
    alternative: exact = P^a + (1 - P^a) h sigmoid((L0 - x) / w)

P must be the mean over examples of each example's probability (of the whole answer: ``answer_prob``;
of its decision tokens: ``decision_prob``). A geometric mean (exp(answer_logprob), exp(-decision_loss))
under-predicts exact accuracy when examples vary in length and difficulty (Jensen), so a null built
on one is biased towards "beyond artefact": it is used for the per-token loss only when the store has
nothing better, marked ``null_biased``, and can then not say "beyond artefact"; the decision loss is
not tested at all without ``decision_prob``. a = 1 is Schaeffer's null exactly; a free a also absorbs
greedy decoding beating sampling. The alternative adds an excess that switches on below a loss L0.

Significance: binomial deviances of the two fits, quasi-likelihood F = ((D0 - D1) / 3) / phi with the
dispersion phi = max(1, D1 / (m - 4)) (checkpoints of one run re-use one evaluation set), p from
F(3, m - 4), at ``alpha`` divided by the number of groups tested (Bonferroni).

Size, with 95% intervals that resample whole runs: the *excess*, the largest gap of the alternative's
prediction over the null's at the data's points, and the *deficit*, the largest shortfall of the
observed accuracy under the null's prediction, averaged within ``N_BINS`` bins of the loss (the
one-sided alternative cannot fit it). Verdicts say what was shown, against the margin ``MARGIN`` (5
points of accuracy):

- ``below null``: the deficit's lower bound at or above the margin: the null misfits from below, and
  as a free a then lowers the null elsewhere, an excess there is no evidence (checked first);
- ``beyond artefact``: significant, and the excess's lower bound at or above the margin;
- ``artefact``: excess and deficit both shown small (upper bounds under the margin);
- ``undetermined``: anything else (an interval that reaches the margin, too little data), with why.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import expit, xlogy
from scipy.stats import f as f_dist

from analysis.fit import one_thread, resamples
from analysis.groups import add_groups

ALPHA = 0.01
MIN_POINTS = 12
MIN_RUNS = 2
MIN_EXACT = 0.1  # exact accuracy that never leaves the floor has no jump to explain
MARGIN = 0.05
N_BINS = 5
# The null's P per loss column: the per-example mean (unbiased) first, then a geometric mean (biased).
NULLS = {"loss": (("answer_prob", False), ("answer_logprob", True)),
         "decision_loss": (("decision_prob", False),)}  # fmt: skip


def null_probability(points: pd.DataFrame, loss: str = "loss") -> tuple[np.ndarray, str, bool] | None:
    """(P per point, the name of its source, whether it is a biased geometric mean) for the loss
    column ``loss``, or None when the store has no per-point quantity that makes the null."""
    for column, biased in NULLS.get(loss, ()):
        if column in points and points[column].notna().all():
            values = points[column].to_numpy(float)
            return (np.exp(values), f"exp({column})", True) if biased else (values, column, False)
    return None


def why_untested(loss: str) -> str:
    if loss == "decision_loss":
        return ("unavailable: the store has no per-example decision probability (decision_prob); the "
                "geometric mean exp(-decision_loss) under-predicts exact accuracy when examples vary, "
                "so a test on it would be biased towards 'beyond artefact'")  # fmt: skip
    return "unavailable: the store has neither answer_prob nor answer_logprob"


def _binomial_nll(mu, k, n):
    mu = np.clip(mu, 1e-9, 1 - 1e-9)
    return -float(np.sum(xlogy(k, mu) + xlogy(n - k, 1 - mu)))


def _deviance(nll, k, n):
    """2 (nll - nll of the saturated model)."""
    return 2 * (nll - _binomial_nll(k / n, k, n))


def _null_mu(theta, logp):
    return np.exp(np.exp(theta[0]) * logp)


def _alt_mu(theta, logp, x):
    base = _null_mu(theta, logp)
    return base + (1 - base) * expit(theta[1]) * expit((theta[2] - x) / np.exp(theta[3]))


def _alt_mu_and_jacobian(theta, logp, x):
    """mu [m] and d mu / d theta [m, 4] of the alternative (its first column is the null's)."""
    a, s, w = np.exp(theta[0]), expit(theta[1]), np.exp(theta[3])
    z = (theta[2] - x) / w
    base, g = np.exp(a * logp), expit(z)
    mu = base + (1 - base) * s * g
    slope = (1 - base) * s * g * (1 - g)
    d_base = base * logp * a * (1 - s * g)
    jac = np.column_stack([d_base, (1 - base) * g * s * (1 - s), slope / w, -slope * z])
    return mu, jac


def _nll_and_grad(theta, logp, x, k, n, null: bool):
    """Binomial NLL and its gradient; ``null``: theta = (log a,) and no excess (mu = P^a, d mu /
    d log a = mu a log P: half the fits are the null's, so it skips the alternative's Jacobian)."""
    if null:
        a = np.exp(theta[0])
        mu = np.exp(a * logp)
        jac = (mu * a * logp)[:, None]
    else:
        mu, jac = _alt_mu_and_jacobian(theta, logp, x)
    mu = np.clip(mu, 1e-9, 1 - 1e-9)
    dmu = -(k / mu - (n - k) / (1 - mu))
    return _binomial_nll(mu, k, n), dmu @ jac


def _minimize(fun, starts, keep: int = 4):
    """``fun`` returns (value, gradient); the best of L-BFGS-B runs from the ``keep`` best starts."""
    values = np.array([fun(t)[0] for t in starts])
    best = None
    with one_thread(), np.errstate(all="ignore"):
        for i in np.argsort(values)[:keep]:
            res = minimize(fun, starts[i], jac=True, method="L-BFGS-B")
            if np.isfinite(res.fun) and (best is None or res.fun < best.fun):
                best = res
    return best


def _fit(x, logp, k, n, starts=None, null_start=None):
    """(null, alternative) optimisation results on one set of points."""
    null_starts = [null_start] if null_start is not None else [np.array([v]) for v in (-1.0, 0.0, 1.0)]
    null = _minimize(lambda t: _nll_and_grad(t, logp, x, k, n, True), null_starts)
    if starts is None:
        span = np.ptp(x) + 1e-12
        starts = [np.array([null.x[0], h, c, np.log(w * span)]) for h in (-2.0, 0.0, 2.0)
                  for c in np.quantile(x, np.linspace(0.1, 0.9, 5)) for w in (0.03, 0.1, 0.3)]  # fmt: skip
    alt = _minimize(lambda t: _nll_and_grad(t, logp, x, k, n, False), starts)
    return null, alt


def _excess(null_theta, alt_theta, logp, x) -> float:
    """Largest gap of the alternative's prediction over the null's, at the data's points."""
    return float(np.max(_alt_mu(alt_theta, logp, x) - _null_mu(null_theta, logp)))


def _deficit(null_theta, logp, x, exact) -> float:
    """Largest shortfall of the observed accuracy under the null, averaged within bins of the loss."""
    gap = _null_mu(null_theta, logp) - exact
    return float(max(np.mean(gap[rows]) for rows in np.array_split(np.argsort(x), N_BINS)))


def artefact_test(x, p, exact, n_eval, groups, n_boot: int = 200, alpha: float = ALPHA,
                  seed: int = 0) -> dict:  # fmt: skip
    """One group: ``x`` the loss, ``p`` the null's probability of the answer per point, ``exact``
    the observed accuracy over ``n_eval`` examples, ``groups`` the run of each point. Returns the
    verdict (see the module), the statistic, the fitted null, the excess and deficit with intervals."""
    x, p, exact = (np.asarray(v, float) for v in (x, p, exact))
    n = np.broadcast_to(np.asarray(n_eval, float), exact.shape)
    groups = np.asarray(groups)
    why = _undetermined(x, exact, groups, n)
    if why:
        return {"verdict": "undetermined", "reason": why, "n_points": len(x)}
    logp, k = np.log(np.clip(p, 1e-300, 1)), np.round(exact * n)
    null, alt = _fit(x, logp, k, n)
    d0, d1 = _deviance(null.fun, k, n), _deviance(min(alt.fun, null.fun), k, n)
    dof = len(x) - 4
    phi = max(1.0, d1 / dof)
    stat = max(d0 - d1, 0.0) / 3 / phi
    p_value = float(f_dist.sf(stat, 3, dof))
    out = {"p_value": p_value, "alpha": alpha, "F": stat, "dispersion": phi, "deviance_null": d0,
           "deviance_alt": d1, "n_points": len(x), "n_runs": int(len(np.unique(groups))),
           "null_exponent_a": float(np.exp(null.x[0])), "margin": MARGIN,
           "excess": {"max": _excess(null.x, alt.x, logp, x), "h": float(expit(alt.x[1])),
                      "loss_threshold": float(alt.x[2]), "width": float(np.exp(alt.x[3]))},
           "deficit": {"max": _deficit(null.x, logp, x, exact)}}  # fmt: skip
    if n_boot:
        excess_ci, deficit_ci = _intervals(x, logp, k, n, groups, (null.x, alt.x), n_boot, seed)
        out["excess"]["max_ci"], out["deficit"]["max_ci"] = excess_ci, deficit_ci
    return {"verdict": verdict(out)[0], "reason": verdict(out)[1], **out}


def verdict(test: dict) -> tuple[str, str]:
    """(verdict, one sentence why) from a test's p-value and the intervals of its excess and deficit."""
    excess, deficit = test["excess"].get("max_ci"), test["deficit"].get("max_ci")
    if excess is None or deficit is None:
        return "undetermined", "no interval on the excess (no bootstrap resamples)"
    ex, de, margin = _pm(test["excess"]), _pm(test["deficit"]), test["margin"]
    if deficit[0] >= margin:  # first: with a free exponent a, a deficit also shows as an excess elsewhere
        return "below null", (f"exact accuracy falls short of the null by {de}: the null over-predicts, so "
                              f"no excess over it (here {ex}) can be read as a capability")  # fmt: skip
    if test["p_value"] < test["alpha"] and excess[0] >= margin:
        return "beyond artefact", f"excess {ex}, its lower bound at or above the margin {margin:g}"
    if excess[1] < margin and deficit[1] < margin:
        return "artefact", f"excess {ex} and deficit {de} both under the margin {margin:g}"
    return "undetermined", (f"excess {ex}, deficit {de}: an interval reaches the margin {margin:g}, "
                            "so the gap is shown neither small nor large")  # fmt: skip


def _pm(part: dict) -> str:
    lo, hi = part["max_ci"]
    return f"{part['max']:.3f} [{lo:.3f}, {hi:.3f}]"


def _undetermined(x, exact, groups, n) -> str | None:
    if not np.all(np.isfinite(n) & (n > 0)):
        return "the number of evaluation examples (eval_examples) is unknown: no binomial test"
    if len(x) < MIN_POINTS:
        return f"{len(x)} evaluation points < {MIN_POINTS}"
    if len(np.unique(groups)) < MIN_RUNS:
        return f"{len(np.unique(groups))} run(s) < {MIN_RUNS}"
    if exact.max() < MIN_EXACT:
        return f"exact accuracy never reaches {MIN_EXACT:g} (max {exact.max():.3f}): no jump to explain"
    return None


def _intervals(x, logp, k, n, groups, thetas, n_boot, seed) -> tuple[list[float] | None, list[float] | None]:
    """95% percentile intervals of the excess and the deficit, resampling whole runs."""
    excess, deficit = [], []
    for rows in resamples(len(x), groups, n_boot, seed):
        null, alt = _fit(x[rows], logp[rows], k[rows], n[rows], starts=[thetas[1]], null_start=thetas[0])
        if null is not None and alt is not None:
            excess.append(_excess(null.x, alt.x, logp[rows], x[rows]))
            deficit.append(_deficit(null.x, logp[rows], x[rows], k[rows] / n[rows]))
    ci = lambda d: np.percentile(d, [2.5, 97.5]).tolist() if d else None  # noqa: E731
    return ci(excess), ci(deficit)


def artefact_by_size(points: pd.DataFrame, n_boot: int = 200, alpha: float = ALPHA) -> dict:
    """Per group (`analysis.groups`: task, data condition, size): the test on ``loss`` and on
    ``decision_loss`` where the store has that loss (untested, with why, where it lacks the per-example
    null). ``points``: the evaluation table (`analysis.records.eval_wide`) with step > 0."""
    points = points if "group" in points else add_groups(points)
    groups = list(points.groupby("group", sort=False))
    level = alpha / max(len(groups), 1)  # Bonferroni over the groups tested
    out = {}
    order = lambda item: (item[1]["family"].iloc[0], item[1]["task_size"].iloc[0])  # noqa: E731
    for key, group in sorted(groups, key=order):
        group = group.dropna(subset=["exact", "loss"])
        per_loss = {}
        for loss in ("loss", "decision_loss"):
            if loss not in group or group[loss].isna().any():
                continue
            null = null_probability(group, loss)
            if null is None:
                per_loss[loss] = {"verdict": "not tested", "reason": why_untested(loss)}
                continue
            result = artefact_test(group[loss], null[0], group["exact"], group["eval_examples"],
                                   group["run_hash"], n_boot=n_boot, alpha=level)  # fmt: skip
            per_loss[loss] = {**result, "null_source": null[1], "null_biased": null[2]}
            if null[2] and result["verdict"] == "beyond artefact":
                why = f"{result['reason']}, but against {null[1]}, a geometric mean biased towards 'beyond'"
                per_loss[loss] |= {"verdict": "undetermined", "reason": why}
        out[key] = per_loss
    return out


def predicted_exact(group: pd.DataFrame, result: dict, loss: str = "loss") -> np.ndarray | None:
    """The null's exact accuracy per point (P^a), for the predicted-vs-observed plot."""
    null = null_probability(group, loss)
    if null is None or "null_exponent_a" not in result:
        return None
    return null[0] ** result["null_exponent_a"]
