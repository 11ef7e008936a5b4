"""Transitions: does accuracy jump, where, and can the loss alone tell?

- `fit_transition`: accuracy (or a continuous companion metric) against loss as a sigmoid with floor
  and ceiling, y = floor + (ceil - floor) / (1 + exp((x - x*) / w)), fitted by binomial likelihood
  when the number of evaluation examples is known (else Gaussian), against smooth alternatives
  (linear, and a logistic curve in x without floor/ceiling). "transition" needs both a better
  sigmoid (delta BIC > 10) and a sharp one: its 10-90% width 2 ln(9) w under a quarter of the x range.
- `loss_break_across_scale`: a BNSL break vs a saturating power law on loss alone, by the rule of
  `analysis.fit.select` (AICc, the simpler form within the evidence margin, breaks inside the data).
- `plateau_drop`: within one run, a loss plateau followed by a drop, located in steps.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, xlogy

from analysis import checks
from analysis.fit import one_thread, resamples, select

SHARP_FRACTION = 0.25
MIN_DELTA_BIC = 10.0
WIDTH_10_90 = 2 * np.log(9)


@dataclass
class Transition:
    threshold: float
    width: float
    floor: float
    ceiling: float
    transition: bool
    delta_bic: float  # best smooth alternative minus sigmoid (positive favours the sigmoid)
    sharpness: float  # 10-90% width over the x range
    n_points: int
    likelihood: str
    threshold_ci: list[float] | None = None

    def to_json(self) -> dict:
        out = asdict(self)
        out["statistic"] = {"delta_bic": self.delta_bic, "width_10_90_over_range": self.sharpness}
        return out


def _sigmoid(theta, x):
    floor = expit(theta[0])
    ceil = floor + (1 - floor) * expit(theta[1])
    return floor + (ceil - floor) * expit(-(x - theta[2]) / np.exp(theta[3]))


def _nll(pred, y, n):
    if n is None:  # Gaussian with the variance profiled out
        return 0.5 * len(y) * np.log(np.mean((y - pred) ** 2) + 1e-300)
    p = np.clip(pred, 1e-9, 1 - 1e-9)  # a straight line may leave [0, 1]: clip it
    k = y * n
    return -float(np.sum(xlogy(k, p) + xlogy(n - k, 1 - p)))


def _best(nll, starts, keep: int = 6):
    """The best L-BFGS-B optimum from the ``keep`` starts with the lowest objective (a grid of 27
    starts, each optimised with numerical gradients, made the per-size fits of a report slow)."""
    if len(starts) > keep:
        values = np.array([nll(t) for t in starts])
        values[~np.isfinite(values)] = np.inf
        starts = [starts[i] for i in np.argsort(values)[:keep]]
    best = None
    with one_thread():
        for theta0 in starts:
            res = minimize(nll, theta0, method="L-BFGS-B")
            if np.isfinite(res.fun) and (best is None or res.fun < best.fun):
                best = res
    return best


def _fit_sigmoid(x, y, n, starts=None):
    span = x.max() - x.min()
    if starts is None:
        starts = [np.array([-3.0, 0.0, c, np.log(w * span)])
                  for c in np.quantile(x, np.linspace(0.1, 0.9, 9)) for w in (0.02, 0.1, 0.3)]  # fmt: skip
    return _best(lambda t: _nll(_sigmoid(t, x), y, n), starts)


def _fit_smooth(x, y, n):
    starts = [np.array([np.mean(y), 0.0]), np.array([1.0, -1.0 / (np.ptp(x) + 1e-12)])]
    linear = _best(lambda t: _nll(t[0] + t[1] * x, y, n), starts)
    logistic = _best(lambda t: _nll(expit(t[0] + t[1] * x), y, n),
                     [np.array([0.0, -1.0]), np.array([0.0, 1.0]), np.array([3.0, -1.0])])  # fmt: skip
    return min((r for r in (linear, logistic) if r is not None), key=lambda r: r.fun)


def fit_transition(x, y, n_eval=None, n_boot: int = 0, seed: int = 0, groups=None) -> Transition:
    """``x``: loss (or any scale variable), ``y``: accuracy in [0, 1] (or a continuous metric in
    [0, 1] with ``n_eval=None``); ``n_eval``: evaluation examples per point (a whole number or an
    array of them); ``groups``: the run of each point, so that the bootstrap resamples whole runs
    (checkpoints of one run are not independent). NaNs, values outside [0, 1] and negative counts
    raise ValueError naming them."""
    x, y = checks.finite("x", x), checks.within("y", y, 0.0, 1.0, "accuracies")
    n = None if n_eval is None else np.broadcast_to(checks.counts("n_eval", n_eval), y.shape)
    n_boot = checks.count("n_boot", n_boot)
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same length, got {len(x)} and {len(y)}")
    if len(x) < 6 or len(np.unique(x)) < 2:
        raise ValueError(f"a transition fit needs at least 6 points and 2 distinct x, got {len(x)} points "
                         f"and {len(np.unique(x))} distinct x")  # fmt: skip
    sig, smooth = _fit_sigmoid(x, y, n), _fit_smooth(x, y, n)
    logn = np.log(len(x))
    delta_bic = (2 * smooth.fun + 2 * logn) - (2 * sig.fun + 4 * logn)
    width = float(np.exp(sig.x[3]))
    sharpness = WIDTH_10_90 * width / (x.max() - x.min())
    floor = float(expit(sig.x[0]))
    ceil = floor + (1 - floor) * float(expit(sig.x[1]))
    inside = x.min() <= sig.x[2] <= x.max()
    sharp = bool(delta_bic > MIN_DELTA_BIC and sharpness < SHARP_FRACTION and inside)
    kind = "gaussian" if n is None else "binomial"
    result = Transition(float(sig.x[2]), width, floor, ceil, sharp, float(delta_bic), float(sharpness),
                        len(x), kind)  # fmt: skip
    if n_boot:
        draws = []
        for rows in resamples(len(x), groups, n_boot, seed):
            res = _fit_sigmoid(x[rows], y[rows], None if n is None else n[rows], starts=[sig.x])
            if res is not None:
                draws.append(res.x[2])
        result.threshold_ci = np.percentile(draws, [2.5, 97.5]).tolist() if draws else None
    return result


def loss_break_across_scale(x, loss, min_points: int = 8) -> dict:
    """Loss alone, across scale: one-break BNSL vs saturating power law, chosen by the same rule as
    ``fit --form auto``. Returns the verdict ("break", "smooth" or "undetermined"), the AICc
    difference (positive favours the break) and the break location."""
    x, loss = np.asarray(x, float), np.asarray(loss, float)
    if len(np.unique(x)) < min_points:
        return {"verdict": "undetermined", "reason": f"{len(np.unique(x))} distinct scales < {min_points}"}
    chosen = select(x, loss, forms=("saturating", "bnsl"))
    score = {n: chosen.evidence.get(n, {}).get("aicc", np.inf) for n in ("saturating", "bnsl")}
    delta = score["saturating"] - score["bnsl"] if np.isfinite(score["bnsl"]) else -np.inf
    out = {"verdict": "break" if chosen.form == "bnsl" else "smooth", "delta_aicc": float(delta)}
    if chosen.form == "bnsl":
        out |= {"break": chosen.params["d1"], "sharpness_f": chosen.params["f1"]}
    return out


def plateau_drop(steps, loss, min_points: int = 6, flat: float = 0.15, steep: float = 0.3) -> dict:
    """One run's loss curve: a plateau, then a drop. In log-log coordinates, fits continuous
    piecewise-linear curves with one and two breaks and keeps the better by BIC; a plateau-then-drop
    is a segment flatter than ``flat`` followed by one steeper than ``steep`` (and at least 3x
    steeper), with the broken fit beating a straight line by delta BIC > 10. Returns the step where
    the drop starts (the last such break)."""
    steps, loss = np.asarray(steps, float), np.asarray(loss, float)
    keep = (steps > 0) & (loss > 0)
    t, y = np.log(steps[keep]), np.log(loss[keep])
    n = len(t)
    if n < min_points:
        return {"verdict": "undetermined", "reason": f"{n} points < {min_points}"}
    line_rss = _rss(np.column_stack([np.ones(n), t]), y)[0]
    best = None
    for knots in [(k,) for k in t[1:-1]] + [(a, b) for i, a in enumerate(t[1:-1]) for b in t[i + 2 : -1]]:
        design = np.column_stack([np.ones(n), t] + [np.maximum(t - k, 0) for k in knots])
        rss, coef = _rss(design, y)
        bic = n * np.log(rss / n + 1e-300) + (2 + 2 * len(knots)) * np.log(n)
        if best is None or bic < best[0]:
            best = (bic, knots, np.cumsum(coef[1:]))  # slopes of the successive segments
    bic, knots, slopes = best
    delta = n * np.log(line_rss / n + 1e-300) + 2 * np.log(n) - bic
    drops = [i for i in range(len(knots)) if _is_drop(slopes[i], slopes[i + 1], flat, steep)]
    found = delta > MIN_DELTA_BIC and drops
    out = {"verdict": "drop" if found else "smooth", "delta_bic": float(delta),
           "slopes": [float(v) for v in slopes], "breaks": [float(np.exp(k)) for k in knots]}  # fmt: skip
    if found:
        out["step"] = float(np.exp(knots[drops[-1]]))
    return out


def _is_drop(before: float, after: float, flat: float, steep: float) -> bool:
    return before > -flat and after < -steep and after < 3 * min(before, 0) - 1e-12


def _rss(design: np.ndarray, y: np.ndarray):
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    return float(np.sum((design @ coef - y) ** 2)), coef
