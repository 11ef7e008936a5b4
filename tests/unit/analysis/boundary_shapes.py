"""Final-accuracy tables whose phase boundary is known, for curves that are not logistic in ln N.

A run at model size N (u = log10 N) of maze size n has exact accuracy Binomial(E, f(u + e)) / E, with
f a shape centred at c_n (drawn uniformly over one grid spacing above ``LOWEST[n]``, so that coverage
is averaged over where the truth falls between model sizes) and e ~ Normal(0, JITTER) the run's own
offset (seeds differ as much as a model 10% larger or smaller). The seed-mean curve is
g(u) = E_e f(u + e); the truth N*_q is where g crosses q, found by Gauss-Hermite quadrature and root
finding (not read off f: the jitter moves the crossing of an asymmetric shape).

Shapes (u relative to c_n):
- ``logistic``: sigmoid(u / 0.15), the form the old estimator assumed;
- ``step``: sigmoid(u / 0.01), a jump much narrower than the grid's spacing;
- ``slow concave``: 1 - exp(-u / 0.3) for u > 0, else 0: rises at once, saturates slowly;
- ``asymmetric``: the Gompertz curve exp(-exp(-u / 0.2)), slow to leave 0, quick to reach 1.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.polynomial.hermite_e import hermegauss
from scipy.optimize import brentq
from scipy.special import expit

GRID = (1e3, 2e3, 4e3, 8e3, 1.6e4, 3.2e4, 6.4e4)  # model sizes 0.3 decades apart
LOWEST = {3: 3.1, 4: 3.45, 5: 3.75}  # c_n - U(0, 0.301): every crossing stays inside the grid
EVAL_EXAMPLES = 256
JITTER = 0.04  # log10: about 10% in N

SHAPES = {
    "logistic": lambda u: expit(u / 0.15),
    "step": lambda u: expit(u / 0.01),
    "slow concave": lambda u: np.where(u > 0, -np.expm1(-np.maximum(u, 0) / 0.3), 0.0),
    "asymmetric": lambda u: np.exp(-np.exp(-u / 0.2)),
}


def seed_mean(shape: str, u):
    """g(u) = E_e f(u + e), e ~ Normal(0, JITTER), by 41-point Gauss-Hermite quadrature."""
    nodes, weights = hermegauss(41)
    values = SHAPES[shape](np.add.outer(np.atleast_1d(u), JITTER * nodes))
    return values @ weights / weights.sum()


def truth(shape: str, centre: float, level: float) -> float:
    """The true N*_level of a size centred at ``centre``: where the seed-mean curve crosses ``level``."""
    return 10 ** brentq(lambda u: seed_mean(shape, u - centre)[0] - level, 2.0, 6.0, xtol=1e-9)


def final_table(shape: str, seed: int, seeds: int = 3, grid=GRID) -> tuple[pd.DataFrame, dict[int, float]]:
    """(one row per run: task_size, params_nonembed, seed, run_hash, exact, as `final_eval` gives;
    each size's centre c_n)."""
    rng = np.random.default_rng(seed)
    centres = {size: low + rng.uniform(0, np.log10(2)) for size, low in LOWEST.items()}
    rows = []
    for size, centre in centres.items():
        for n_params in grid:
            for run_seed in range(seeds):
                u = np.log10(n_params) - centre + rng.normal(0, JITTER)
                exact = rng.binomial(EVAL_EXAMPLES, float(SHAPES[shape](u))) / EVAL_EXAMPLES
                rows.append({"task_size": size, "params_nonembed": n_params, "seed": run_seed, "exact": exact,
                             "run_hash": f"s{size}-n{n_params:g}-r{run_seed}"})  # fmt: skip
    return pd.DataFrame(rows), centres
