"""Fitting scaling laws: robust log-residual objective, multi-start L-BFGS-B, bootstrap confidence
intervals, held-out extrapolation and model selection.

Two traps measured on these machines shape the code (see the project's pitfalls notes): L-BFGS-B's
stopping rule is relative to max(|f|, 1), so a Huber objective of ~1e-3 stopped early at a wrong
optimum: the objective here is divided by delta. Multi-threaded BLAS made each optimizer step tens of
times slower on 2 shared cores: fits run with BLAS pinned to one thread.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize
from threadpoolctl import ThreadpoolController

from analysis import checks
from analysis.forms import CHINCHILLA, FORMS, ONE_INPUT_FORMS, Form

_THREADPOOLS: list[ThreadpoolController] = []


def one_thread():
    """A context with BLAS pinned to one thread. The controller scans the loaded libraries once:
    a fresh ``threadpool_limits`` per fit cost about 30 ms, more than a small fit itself."""
    if not _THREADPOOLS:
        _THREADPOOLS.append(ThreadpoolController())
    return _THREADPOOLS[0].limit(limits=1)


@dataclass
class FitResult:
    form: str
    params: dict[str, float]
    objective: float
    n_points: int
    theta: np.ndarray
    rss_log: float  # sum of squared log residuals (for BIC / AICc)
    ci: dict[str, list[float]] = field(default_factory=dict)
    derived: dict[str, float] = field(default_factory=dict)
    holdout: dict | None = None
    evidence: dict | None = None

    @property
    def k(self) -> int:
        return len(self.theta)

    @property
    def bic(self) -> float:
        n = self.n_points
        return n * np.log(max(self.rss_log, 1e-300) / n) + self.k * np.log(n)

    @property
    def aicc(self) -> float:
        n, k = self.n_points, self.k
        if n - k - 1 <= 0:  # the small-sample correction is undefined: no evidence for this form
            return float("inf")
        return n * np.log(max(self.rss_log, 1e-300) / n) + 2 * k + 2 * k * (k + 1) / (n - k - 1)

    def predict(self, X) -> np.ndarray:
        return FORMS[self.form].predict(self.theta, _as_matrix(X))

    def to_json(self) -> dict:
        out = {"form": self.form, "params": self.params, "ci": self.ci, "objective": self.objective,
               "n_points": self.n_points, "bic": self.bic, "aicc": self.aicc}  # fmt: skip
        for key in ("derived", "holdout", "evidence"):
            if getattr(self, key):
                out[key] = getattr(self, key)
        if self.form.startswith("bnsl"):
            out["break"] = {k: v for k, v in self.params.items() if k.startswith("d")}
        return out


def _as_matrix(X) -> np.ndarray:
    X = np.asarray(X, dtype=float)
    return X[:, None] if X.ndim == 1 else X


def _objective(form: Form, X: np.ndarray, logy: np.ndarray):
    """Sum of squared log residuals, or of Huber losses divided by delta (so that L-BFGS-B's
    relative tolerance does not stop it early). Returns f, or (f, gradient) when the form has an
    analytic Jacobian; and f alone (to screen starts without paying for gradients)."""
    delta = form.huber_delta

    def value_and_slope(r):
        if delta is None:
            return float(np.sum(r**2)), 2 * r
        a = np.abs(r)
        value = np.sum(np.where(a <= delta, 0.5 * r**2, delta * (a - 0.5 * delta))) / delta
        return float(value), np.clip(r, -delta, delta) / delta

    def f(theta):
        return value_and_slope(form.log_predict(theta, X) - logy)[0]

    def f_and_grad(theta):
        value, slope = value_and_slope(form.log_predict(theta, X) - logy)
        return value, slope @ form.jacobian(theta, X)

    has_jacobian = form.jacobian(np.zeros(len(form.names)), X[:1]) is not None
    return (f_and_grad, True, f) if has_jacobian else (f, False, f)


def fit_form(form: str | Form, X, y, starts: list[np.ndarray] | None = None) -> FitResult:
    """Fit ``form`` to (X, y) from its start grid (or the given starts); the best optimum wins."""
    form = FORMS[form] if isinstance(form, str) else form
    X, y = _as_matrix(X), np.asarray(y, dtype=float)
    if X.shape[1] != form.n_inputs:
        raise ValueError(f"form {form.name!r} takes {form.n_inputs} input column(s), got {X.shape[1]}")
    if len(y) != len(X):
        raise ValueError(f"x and y must have the same number of rows, got {len(X)} and {len(y)}")
    if len(y) <= len(form.names):
        raise ValueError(f"form {form.name!r} has {len(form.names)} parameters but only {len(y)} points")
    checks.positive("x", X)
    checks.positive("y", y)
    logy = np.log(y)
    objective, jac, value = _objective(form, X, logy)
    bounds = form.bounds(X)
    best = None
    with one_thread(), np.errstate(all="ignore"):
        for theta0 in _screen(value, starts if starts is not None else form.starts(X, y)):
            res = minimize(objective, theta0, jac=jac, method="L-BFGS-B", bounds=bounds,
                           options={"maxiter": 5000, "maxfun": 20000})  # fmt: skip
            if np.isfinite(res.fun) and (best is None or res.fun < best.fun):
                best = res
    if best is None:
        raise RuntimeError(f"form {form.name!r}: no start converged")
    rss = float(np.sum((form.log_predict(best.x, X) - logy) ** 2))
    result = FitResult(form.name, form.to_params(best.x), float(best.fun), len(y), best.x, rss)
    if form is CHINCHILLA:
        result.derived = compute_optimal(result.params)
    return result


def _screen(objective, starts: list[np.ndarray], keep: int = 8) -> list[np.ndarray]:
    """The ``keep`` starts with the lowest objective: grids can be large (BNSL), L-BFGS runs are not."""
    if len(starts) <= keep:
        return starts
    values = np.array([objective(t) for t in starts])
    values[~np.isfinite(values)] = np.inf
    return [starts[i] for i in np.argsort(values)[:keep]]


def compute_optimal(p: dict[str, float]) -> dict[str, float]:
    """With C = 6 N D: N*(C) = G (C/6)^a and D*(C) = G^-1 (C/6)^b, where a = beta / (alpha + beta),
    b = alpha / (alpha + beta), G = (alpha A / (beta B))^(1 / (alpha + beta)) (Hoffmann et al. 2022, D.2)."""
    alpha, beta = p["alpha"], p["beta"]
    G = (alpha * p["A"] / (beta * p["B"])) ** (1 / (alpha + beta))
    return {"a_N_exponent": beta / (alpha + beta), "b_D_exponent": alpha / (alpha + beta), "G": G}


def bootstrap(result: FitResult, X, y, n: int = 1000, groups=None, seed: int = 0, level: float = 0.95):
    """Percentile intervals from ``n`` resamples. With ``groups`` (e.g. run ids) whole groups are
    resampled, so several checkpoints of one run never pose as independent points. No interval
    (``ci`` left empty) when ``n`` is 0 or no resample could be refitted."""
    n = checks.count("bootstrap resamples", n, minimum=0)
    X, y = _as_matrix(X), np.asarray(y, dtype=float)
    samples = []
    for rows in resamples(len(y), groups, n, seed):
        try:
            refit = fit_form(result.form, X[rows], y[rows], starts=[result.theta])
        except (ValueError, RuntimeError):
            continue
        samples.append({**refit.params, **refit.derived})
    lo, hi = 100 * (1 - level) / 2, 100 * (1 + level) / 2
    keys = list(result.params) + list(result.derived)
    result.ci = {k: np.percentile([s[k] for s in samples], [lo, hi]).tolist() for k in keys if samples}
    return samples


def resamples(n_points: int, groups, n_boot: int, seed: int = 0):
    """Row indices of ``n_boot`` bootstrap resamples: of points, or of whole groups (runs)."""
    groups = np.arange(n_points) if groups is None else np.asarray(groups)
    ids, inverse = np.unique(groups, return_inverse=True)
    members = [np.nonzero(inverse == i)[0] for i in range(len(ids))]
    rng = np.random.default_rng(seed)
    for _ in range(n_boot):
        yield np.concatenate([members[i] for i in rng.integers(0, len(ids), len(ids))])


def holdout_largest(form: str, X, y, n_largest: int = 1, n_boot: int = 200, seed: int = 0) -> dict:
    """Fit without the ``n_largest`` largest values of the first input, predict them: log-space error
    and whether a 95% prediction interval (bootstrap of the fit plus residual scatter) covers them."""
    X, y = _as_matrix(X), np.asarray(y, dtype=float)
    n_largest = checks.count("n_largest", n_largest, minimum=1)
    n_boot = checks.count("n_boot", n_boot, minimum=1)
    if len(np.unique(X[:, 0])) <= n_largest:
        raise ValueError(f"holding out the {n_largest} largest x leaves nothing to fit: "
                         f"{len(np.unique(X[:, 0]))} distinct x")  # fmt: skip
    cut = np.sort(np.unique(X[:, 0]))[-n_largest]
    train, test = X[:, 0] < cut, X[:, 0] >= cut
    fitted = fit_form(form, X[train], y[train])
    samples = []
    rng = np.random.default_rng(seed)
    idx = np.nonzero(train)[0]
    for _ in range(n_boot):
        rows = rng.choice(idx, len(idx))
        try:
            samples.append(np.log(fit_form(form, X[rows], y[rows], starts=[fitted.theta]).predict(X[test])))
        except (ValueError, RuntimeError):
            continue
    if not samples:
        raise RuntimeError(f"holdout: none of {n_boot} bootstrap refits of {form!r} converged")
    sigma = np.sqrt(fitted.rss_log / max(fitted.n_points - fitted.k, 1))
    draws = np.array(samples) + rng.normal(0, sigma, size=(len(samples), int(test.sum())))
    lo, hi = np.percentile(draws, [2.5, 97.5], axis=0)
    logpred, logtrue = np.log(fitted.predict(X[test])), np.log(y[test])
    return {"n_train": int(train.sum()), "n_test": int(test.sum()),
            "rmse_log": float(np.sqrt(np.mean((logpred - logtrue) ** 2))),
            "covered": bool(np.all((logtrue >= lo) & (logtrue <= hi))),
            "predicted": np.exp(logpred).tolist(), "actual": y[test].tolist()}  # fmt: skip


EVIDENCE_MARGIN = 2.0  # AICc units: a more flexible form must beat every simpler one by more than this


def select(X, y, forms=ONE_INPUT_FORMS, criterion: str = "aicc", margin: float = EVIDENCE_MARGIN):
    """Fit every form; return the simplest (fewest parameters) whose criterion (AICc by default,
    which penalises flexible forms properly at small n; or BIC) is within ``margin`` of the best.
    A BNSL fit whose break sits at the edge of the data is no evidence of a break: it is kept in
    the evidence but never chosen. The evidence per form: the criterion, its difference to the best,
    and the Akaike/Schwarz weight exp(-delta/2) normalised."""
    X, fits, why = _as_matrix(X), {}, {}
    for name in forms:
        try:
            fits[name] = fit_form(name, X, y)
        except (ValueError, RuntimeError) as err:
            why[name] = str(err)
    if not fits:
        raise ValueError("no form could be fitted: " + "; ".join(f"{k}: {v}" for k, v in why.items()))
    scores = {n: float(getattr(f, criterion)) for n, f in fits.items()}
    eligible = {n: s for n, s in scores.items() if np.isfinite(s) and _breaks_inside(fits[n], X)}
    if not eligible:
        raise ValueError(f"no form has enough points for {criterion}: " + ", ".join(
            f"{n} ({fits[n].k} parameters, {fits[n].n_points} points)" for n in fits))  # fmt: skip
    best_score = min(eligible.values())
    simplest = min((n for n, s in eligible.items() if s <= best_score + margin), key=lambda n: fits[n].k)
    deltas = {n: s - best_score for n, s in scores.items()}
    weights = {n: float(np.exp(-d / 2)) if np.isfinite(d) else 0.0 for n, d in deltas.items()}
    total = sum(weights.values()) or 1.0
    result = fits[simplest]
    result.evidence = {
        n: {criterion: scores[n], "delta": deltas[n], "weight": weights[n] / total,
            "eligible": n in eligible} for n in fits
    }  # fmt: skip
    result.evidence["rule"] = {"criterion": criterion, "margin": margin, "chosen": simplest}
    return result


def _breaks_inside(fit: FitResult, X: np.ndarray) -> bool:
    form = FORMS[fit.form]
    return not hasattr(form, "breaks_inside") or form.breaks_inside(fit.theta, X)
