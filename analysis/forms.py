"""Named scaling-law forms. Each maps unconstrained internal parameters ``theta`` to ``log y`` (fits
are done on log residuals) and back to the published parameter names.

| form | equation | parameters |
| --- | --- | --- |
| power | y = A x^-alpha | A, alpha |
| saturating | y = E + A x^-alpha | E, A, alpha |
| chinchilla | L = E + A N^-alpha + B D^-beta | E, A, B, alpha, beta |
| bnsl (k breaks) | y = a + b x^-c0 prod_i (1 + (x/d_i)^(1/f_i))^(-c_i f_i) | a, b, c0, c1, d1, f1, ... |

BNSL parameters are kept to the ranges where they mean what the form says (``Form.bounds``): the
exponents c0, c_i >= 0 (a falling curve whose every break steepens it; flattening is the floor a's
job), every break d_i inside the x range of the data, and the sharpness f_i in [0.01, 5]. Without
these, a 16-point fit spent its extra parameters on a break outside the data or a negative exponent.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy.optimize import nnls
from scipy.special import logsumexp


@dataclass(frozen=True)
class Form:
    name: str
    names: tuple[str, ...]
    n_inputs: int = 1
    huber_delta: float | None = None  # None: least squares on log residuals

    def log_predict(self, theta: np.ndarray, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def to_params(self, theta: np.ndarray) -> dict[str, float]:
        raise NotImplementedError

    def jacobian(self, theta: np.ndarray, X: np.ndarray) -> np.ndarray | None:
        """d log y / d theta, [n, len(theta)]; None: the optimizer differentiates numerically."""
        return None

    def starts(self, X: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
        raise NotImplementedError

    def bounds(self, X: np.ndarray) -> list[tuple[float | None, float | None]] | None:
        """Box bounds on theta for L-BFGS-B (None: unbounded)."""
        return None

    def predict(self, theta: np.ndarray, X: np.ndarray) -> np.ndarray:
        return np.exp(self.log_predict(theta, X))


class Power(Form):
    """y = A x^-alpha; theta = (log A, alpha)."""

    def log_predict(self, theta, X):
        return theta[0] - theta[1] * np.log(X[:, 0])

    def to_params(self, theta):
        return {"A": float(np.exp(theta[0])), "alpha": float(theta[1])}

    def jacobian(self, theta, X):
        return np.column_stack([np.ones(len(X)), -np.log(X[:, 0])])

    def starts(self, X, y):
        slope, intercept = np.polyfit(np.log(X[:, 0]), np.log(y), 1)
        return [np.array([intercept, -slope])]


class Saturating(Form):
    """y = E + A x^-alpha; theta = (log E, log A, alpha)."""

    def log_predict(self, theta, X):
        return np.logaddexp(theta[0], theta[1] - theta[2] * np.log(X[:, 0]))

    def to_params(self, theta):
        return {"E": float(np.exp(theta[0])), "A": float(np.exp(theta[1])), "alpha": float(theta[2])}

    def jacobian(self, theta, X):
        logx = np.log(X[:, 0])
        w = _softmax([np.full(len(X), theta[0]), theta[1] - theta[2] * logx])
        return np.column_stack([w[0], w[1], -w[1] * logx])

    def starts(self, X, y):
        return _nnls_starts(y, [X[:, 0]], np.linspace(0.02, 2.0, 60)[:, None], keep=4)


class Chinchilla(Form):
    """L = E + A N^-alpha + B D^-beta, in log-sum-exp form (Hoffmann et al. 2022; Besiroglu et al.
    2024); theta = (log E, log A, log B, alpha, beta). X columns: N, D."""

    def log_predict(self, theta, X):
        e, a, b, alpha, beta = theta
        terms = np.stack([np.full(len(X), e), a - alpha * np.log(X[:, 0]), b - beta * np.log(X[:, 1])])
        return logsumexp(terms, axis=0)

    def to_params(self, theta):
        e, a, b, alpha, beta = theta
        return {"E": float(np.exp(e)), "A": float(np.exp(a)), "B": float(np.exp(b)),
                "alpha": float(alpha), "beta": float(beta)}  # fmt: skip

    def jacobian(self, theta, X):
        e, a, b, alpha, beta = theta
        logn, logd = np.log(X[:, 0]), np.log(X[:, 1])
        w = _softmax([np.full(len(X), e), a - alpha * logn, b - beta * logd])
        return np.column_stack([w[0], w[1], w[2], -w[1] * logn, -w[2] * logd])

    def starts(self, X, y):
        grid = np.array(list(itertools.product(np.linspace(0.05, 1.2, 24), repeat=2)))
        return _nnls_starts(y, [X[:, 0], X[:, 1]], grid, keep=6)


class BNSL(Form):
    """Broken neural scaling law with k breaks (Caballero et al. 2022). theta = (log a, log b, c0,
    then per break c_i, log d_i, log f_i); a is kept positive (log-parametrised)."""

    MAX_EXPONENT = 50.0
    SHARPNESS = (0.01, 5.0)

    def __init__(self, breaks: int):
        names = ("a", "b", "c0") + tuple(f"{p}{i}" for i in range(1, breaks + 1) for p in ("c", "d", "f"))
        super().__init__(f"bnsl{breaks}" if breaks != 1 else "bnsl", names)
        object.__setattr__(self, "breaks", breaks)

    def _terms(self, theta, logx):
        """Per break: (c, f, z, softplus z) with z = (log x - log d) / f."""
        out = []
        for i in range(self.breaks):
            c, logd, logf = theta[3 + 3 * i : 6 + 3 * i]
            f = np.exp(logf)
            z = (logx - logd) / f
            out.append((c, f, z, np.logaddexp(0.0, z)))
        return out

    def log_predict(self, theta, X):
        logx = np.log(X[:, 0])
        body = theta[1] - theta[2] * logx
        for c, f, _, softplus in self._terms(theta, logx):
            body = body - c * f * softplus
        return np.logaddexp(theta[0], body)

    def jacobian(self, theta, X):
        logx = np.log(X[:, 0])
        w_floor = np.exp(theta[0] - self.log_predict(theta, X))  # share of the floor a in y
        w_body = 1.0 - w_floor
        cols = [w_floor, w_body, -w_body * logx]
        for c, f, z, softplus in self._terms(theta, logx):
            sig = np.exp(z - softplus)  # expit(z), overflow-free
            cols += [-w_body * f * softplus, w_body * c * sig, -w_body * c * f * (softplus - z * sig)]
        return np.column_stack(cols)

    def bounds(self, X):
        lo, hi = float(np.log(X[:, 0].min())), float(np.log(X[:, 0].max()))
        per_break = [(0.0, self.MAX_EXPONENT), (lo, hi), tuple(np.log(self.SHARPNESS))]
        return [(None, None), (None, None), (0.0, self.MAX_EXPONENT)] + per_break * self.breaks

    def to_params(self, theta):
        """Named parameters, breaks in increasing d (the product is symmetric in them)."""
        out = {"a": float(np.exp(theta[0])), "b": float(np.exp(theta[1])), "c0": float(theta[2])}
        triples = sorted((theta[3 + 3 * i : 6 + 3 * i] for i in range(self.breaks)), key=lambda t: t[1])
        for i, (c, logd, logf) in enumerate(triples):
            out |= {f"c{i + 1}": float(c), f"d{i + 1}": float(np.exp(logd)), f"f{i + 1}": float(np.exp(logf))}
        return out

    def breaks_inside(self, theta, X, margin: float = 0.02) -> bool:
        """Every break away from the ends of the data's log-x range (a break pinned at a bound
        is a smooth curve in disguise)."""
        lo, hi = np.log(X[:, 0].min()), np.log(X[:, 0].max())
        pad = margin * (hi - lo)
        logd = theta[4 : 3 + 3 * self.breaks : 3]
        return bool(np.all((logd > lo + pad) & (logd < hi - pad)))

    def starts(self, X, y):
        logx = np.log(X[:, 0])
        floor = np.log(max(y.min() * 0.5, 1e-12))
        quantiles = np.quantile(logx, np.linspace(0.1, 0.9, 7))
        per_break = list(itertools.product((0.5, 2.0, 8.0), quantiles, np.log([0.05, 0.3, 1.0])))
        out = []
        for combo in itertools.combinations(per_break, self.breaks):
            if self.breaks > 1 and not all(combo[i][1] < combo[i + 1][1] for i in range(self.breaks - 1)):
                continue
            for c0 in (0.0, 0.3):
                head = [floor, np.log(y.max()) + c0 * logx.min(), c0]
                out.append(np.array(head + [v for b in combo for v in b]))
        return out


def _softmax(rows: list[np.ndarray]) -> np.ndarray:
    """Weights of each term of a log-sum-exp, per point: the gradient of logsumexp(rows)."""
    stacked = np.stack(rows)
    return np.exp(stacked - logsumexp(stacked, axis=0))


def _nnls_starts(y: np.ndarray, xs: list[np.ndarray], exponent_grid: np.ndarray, keep: int) -> list:
    """Linear parameters by non-negative least squares (E, A, B >= 0) for each exponent vector in
    the grid; the best ``keep`` by log residual become L-BFGS starts."""
    scored = []
    for exps in exponent_grid:
        design = np.column_stack([np.ones(len(y))] + [x**-e for x, e in zip(xs, exps)])
        coef, _ = nnls(design / y[:, None], np.ones(len(y)))  # relative residuals ~ log residuals
        pred = design @ coef
        if np.any(pred <= 0):
            continue
        scored.append((float(np.sum((np.log(pred) - np.log(y)) ** 2)), coef, exps))
    scored.sort(key=lambda s: s[0])
    floor = 1e-8 * float(np.min(y))
    return [np.concatenate([np.log(np.maximum(coef, floor)), exps]) for _, coef, exps in scored[:keep]]


POWER = Power("power", ("A", "alpha"))
SATURATING = Saturating("saturating", ("E", "A", "alpha"))
CHINCHILLA = Chinchilla("chinchilla", ("E", "A", "B", "alpha", "beta"), n_inputs=2, huber_delta=1e-3)
FORMS: dict[str, Form] = {f.name: f for f in (POWER, SATURATING, CHINCHILLA, BNSL(1), BNSL(2))}
ONE_INPUT_FORMS = ("power", "saturating", "bnsl", "bnsl2")
