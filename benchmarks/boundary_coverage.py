"""Coverage of the phase-boundary intervals (analysis.boundary) on curves of four shapes whose N*_50 and
N*_90 are known (tests/unit/analysis/boundary_shapes.py): the share of 95% intervals that hold the truth,
next to the share the bootstrap spread of the interpolated crossing alone (``sampling_ci``) would hold,
and the point estimate's error. The unit test runs the same with 15 draws and 20 resamples.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/boundary_coverage.py --draws 100 --resamples 200
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from analysis.boundary import crossing
from tests.unit.analysis.boundary_shapes import SHAPES, final_table, truth


def one_shape(shape: str, draws: int, resamples: int, seeds: int) -> dict:
    hits, sampling, errors, widths = {50: [], 90: []}, [], [], []
    for draw in range(draws):
        table, centres = final_table(shape, seed=draw, seeds=seeds)
        for size, runs in table.groupby("task_size"):
            model = runs["params_nonembed"]
            found = crossing(model, runs["exact"], runs["run_hash"], model, n_boot=resamples, seed=draw)
            for level in (50, 90):
                star, true = found[f"star_{level}"], truth(shape, centres[size], level / 100)
                inside = star["status"] == "inside"
                hits[level].append(inside and star["ci"][0] <= true <= star["ci"][1])
                if inside and "sampling_ci" in star:
                    sampling.append(star["sampling_ci"][0] <= true <= star["sampling_ci"][1])
                if inside and level == 50:
                    errors.append(np.log10(star["value"] / true))
                    widths.append(np.diff(star["log10_ci"])[0])  # inf where it reaches past the grid
    return {"cover_50": np.mean(hits[50]), "cover_90": np.mean(hits[90]), "sampling_only": np.mean(sampling),
            "median_log10_error": np.median(errors), "median_abs_log10_error": np.median(np.abs(errors)),
            "median_width_log10": np.median(widths), "intervals": len(hits[50]) + len(hits[90])}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=100)
    parser.add_argument("--resamples", type=int, default=200)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    print("| shape | 50% covered | 90% covered | sampling-only covered | median log10 error of N*_50 "
          "(abs) | median interval width (decades) | intervals |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    start = time.perf_counter()
    for shape in SHAPES:
        r = one_shape(shape, args.draws, args.resamples, args.seeds)
        print(f"| {shape} | {r['cover_50']:.3f} | {r['cover_90']:.3f} | {r['sampling_only']:.3f} | "
              f"{r['median_log10_error']:+.3f} ({r['median_abs_log10_error']:.3f}) | "
              f"{r['median_width_log10']:.2f} | {r['intervals']} |")  # fmt: skip
    print(f"{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
