"""Is a jump in exact accuracy a metric artefact (Schaeffer et al. 2023)?

Exact match over an n-token answer is close to the product of the per-token probabilities, so it
rises steeply as the loss falls without any new capability. The null model predicts each evaluation
point's exact accuracy from the model's own probabilities of the true answer:

    null:        exact = P^a
    alternative: exact = P^a + (1 - P^a) h sigmoid((L0 - x) / w)

P is the probability of the whole true answer (``answer_prob``, the mean over examples of the
per-example sequence probability); without it, the per-token geometric mean exp(answer_logprob),
whose power a then plays the role of the answer length n. a = 1 is Schaeffer's null exactly; a free
a also absorbs greedy decoding beating sampling (a model that puts 0.6 on each right token decodes
the right path every time). The alternative adds an excess that switches on below a loss L0: a
capability the per-token probabilities do not carry. For the search-carrying loss (``decision_loss``)
P = exp(-decision_loss).

Test: binomial deviances of the two fits, quasi-likelihood F = ((D0 - D1) / 3) / phi with the
dispersion phi = max(1, D1 / (m - 4)) from the larger model (checkpoints of one run re-use one
evaluation set, so the points scatter more than binomially), p from F(3, m - 4). The verdict uses
``alpha`` divided by the number of sizes tested (Bonferroni), which keeps false positives on
artefact-only data at or below 1 in 20 sweeps (measured in the tests). A significant excess smaller
than ``MIN_EXCESS`` (5 points of accuracy at its largest) is reported but is no evidence of a
capability: with a hundred evaluation points any one-parameter null misses by a little somewhere.
Intervals on the excess resample whole runs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import expit, xlogy
from scipy.stats import f as f_dist

from analysis.fit import one_thread, resamples
from analysis.per_size import size_key

ALPHA = 0.01
MIN_POINTS = 12
MIN_RUNS = 2
MIN_EXACT = 0.1  # exact accuracy that never leaves the floor has no jump to explain
MIN_EXCESS = 0.05


def null_probability(points: pd.DataFrame, loss: str = "loss") -> tuple[np.ndarray, str] | None:
    """P per point for the loss column ``loss`` and the name of its source, or None."""
    if loss != "loss":
        return (np.exp(-points[loss].to_numpy(float)), f"exp(-{loss})") if loss in points else None
    if "answer_prob" in points and points["answer_prob"].notna().all():
        return points["answer_prob"].to_numpy(float), "answer_prob"
    if "answer_logprob" in points and points["answer_logprob"].notna().all():
        return np.exp(points["answer_logprob"].to_numpy(float)), "exp(answer_logprob)"
    return None


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
    """Binomial NLL and its gradient; ``null``: theta = (log a,) and no excess."""
    full = np.concatenate([theta, [-50.0, 0.0, 0.0]]) if null else theta
    mu, jac = _alt_mu_and_jacobian(full, logp, x)
    mu = np.clip(mu, 1e-9, 1 - 1e-9)
    dmu = -(k / mu - (n - k) / (1 - mu))
    grad = dmu @ jac
    return _binomial_nll(mu, k, n), grad[:1] if null else grad


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


def _fit(x, logp, k, n, starts=None):
    """(null, alternative) optimisation results on one set of points."""
    null_starts = [np.array([v]) for v in (-1.0, 0.0, 1.0)]
    null = _minimize(lambda t: _nll_and_grad(t, logp, x, k, n, True), null_starts)
    if starts is None:
        span = np.ptp(x) + 1e-12
        starts = [np.array([null.x[0], h, c, np.log(w * span)]) for h in (-2.0, 0.0, 2.0)
                  for c in np.quantile(x, np.linspace(0.1, 0.9, 5)) for w in (0.03, 0.1, 0.3)]  # fmt: skip
    alt = _minimize(lambda t: _nll_and_grad(t, logp, x, k, n, False), starts)
    return null, alt


def _max_excess(theta, logp, x) -> float:
    """Largest excess of exact accuracy over the null part of the alternative, at the data's points."""
    base = _null_mu(theta, logp)
    return float(np.max(_alt_mu(theta, logp, x) - base))


def artefact_test(x, p, exact, n_eval, groups, n_boot: int = 0, alpha: float = ALPHA, seed: int = 0) -> dict:
    """One problem size: ``x`` the loss, ``p`` the null's probability of the answer per point,
    ``exact`` the observed accuracy over ``n_eval`` examples, ``groups`` the run of each point.
    Returns the verdict (``artefact``, ``beyond artefact``, ``undetermined``), the statistic, and the
    fitted null and excess."""
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
    excess = _max_excess(alt.x, logp, x)
    beyond = p_value < alpha and excess >= MIN_EXCESS
    out = {"verdict": "beyond artefact" if beyond else "artefact", "p_value": p_value, "alpha": alpha,
           "F": stat, "dispersion": phi, "deviance_null": d0, "deviance_alt": d1, "n_points": len(x),
           "n_runs": int(len(np.unique(groups))), "null_exponent_a": float(np.exp(null.x[0])),
           "excess": {"max": excess, "min_of_interest": MIN_EXCESS, "h": float(expit(alt.x[1])),
                      "loss_threshold": float(alt.x[2]), "width": float(np.exp(alt.x[3]))}}  # fmt: skip
    if n_boot:
        out["excess"]["max_ci"] = _excess_interval(x, logp, k, n, groups, alt.x, n_boot, seed)
    return out


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


def _excess_interval(x, logp, k, n, groups, theta, n_boot, seed) -> list[float] | None:
    """95% percentile interval of the maximal excess, resampling whole runs."""
    draws = []
    for rows in resamples(len(x), groups, n_boot, seed):
        _, alt = _fit(x[rows], logp[rows], k[rows], n[rows], starts=[theta])
        if alt is not None:
            draws.append(_max_excess(alt.x, logp[rows], x[rows]))
    return np.percentile(draws, [2.5, 97.5]).tolist() if draws else None


def artefact_by_size(points: pd.DataFrame, n_boot: int = 0, alpha: float = ALPHA) -> dict:
    """Per (task, size): the test on ``loss`` and, where the store has it, on ``decision_loss``.
    ``points``: the evaluation table (`analysis.records.eval_wide`) with step > 0."""
    groups = list(points.groupby(["task", "task_size"]))
    level = alpha / max(len(groups), 1)  # Bonferroni over the sizes tested
    out = {}
    for (task, size), group in groups:
        group = group.dropna(subset=["exact", "loss"])
        per_loss = {}
        for loss in ("loss", "decision_loss"):
            null = null_probability(group, loss) if loss in group else None
            if null is None or group[loss].isna().any():
                continue
            result = artefact_test(group[loss], null[0], group["exact"], group["eval_examples"],
                                   group["run_hash"], n_boot=n_boot, alpha=level)  # fmt: skip
            per_loss[loss] = {**result, "null_source": null[1]}
        out[size_key(task, size, points["task"].nunique())] = per_loss
    return out


def predicted_exact(group: pd.DataFrame, result: dict, loss: str = "loss") -> np.ndarray | None:
    """The null's exact accuracy per point (P^a), for the predicted-vs-observed plot."""
    null = null_probability(group, loss)
    if null is None or "null_exponent_a" not in result:
        return None
    return null[0] ** result["null_exponent_a"]
