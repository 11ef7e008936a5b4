"""The Chinchilla joint fit with 1,000 bootstrap resamples on Epoch's 240 points: wall time.

    python benchmarks/fit_bootstrap.py [--resamples 1000]

Compared in the same run with the same fit using numerical gradients (what L-BFGS-B does when
given none), the real alternative to the analytic Jacobian used here.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import fit as fitmod
from analysis.fit import bootstrap, fit_form

KEYS = ("E", "alpha", "beta")
DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "published" / "chinchilla_svg_extracted.csv"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--resamples", type=int, default=1000)
    p.add_argument("--data", type=Path, default=DATA)
    args = p.parse_args()
    d = pd.read_csv(args.data).sort_values("loss").iloc[:-5]
    n = d["Model Size"].to_numpy()
    X, y = np.column_stack([n, d["Training FLOP"].to_numpy() / (6 * n)]), d["loss"].to_numpy()
    start = time.perf_counter()
    fit = fit_form("chinchilla", X, y)
    first = time.perf_counter() - start
    bootstrap(fit, X, y, n=args.resamples)
    total = time.perf_counter() - start
    p_ = fit.params
    print(f"joint fit {first:.1f}s + {args.resamples} resamples {total - first:.1f}s = {total:.1f}s; "
          f"E {p_['E']:.4f} alpha {p_['alpha']:.5f} beta {p_['beta']:.5f}")  # fmt: skip
    print("95% CI: " + ", ".join(f"{k} [{v[0]:.3f}, {v[1]:.3f}]" for k, v in fit.ci.items() if k in KEYS))
    per_resample = (total - first) / args.resamples
    original = fitmod._objective

    def numeric(form, X, logy):  # the same objective, gradients left to the optimizer
        objective, jac = original(form, X, logy)
        return ((lambda t: objective(t)[0]) if jac else objective), False

    fitmod._objective = numeric
    try:
        few = max(10, args.resamples // 10)
        start = time.perf_counter()
        bootstrap(fit_form("chinchilla", X, y, starts=[fit.theta]), X, y, n=few)
        numeric_per = (time.perf_counter() - start) / few
    finally:
        fitmod._objective = original
    print(f"per resample: analytic gradient {1000 * per_resample:.1f} ms, "
          f"numerical {1000 * numeric_per:.1f} ms ({numeric_per / per_resample:.1f}x)")  # fmt: skip


if __name__ == "__main__":
    main()
