"""What the reproduction scripts share (`search_tasks_repro.py`, `causal_repro.py`): a shipped spec
with its budget shortened for a check, its cells run through the sweep runner (unfinished ones only,
so a stopped reproduction resumes), the figures saved, and the command line.

Run from the repository root (imports `search_scaling`); matplotlib uses the Agg backend.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import yaml  # noqa: E402

HERE = Path(__file__).parent
SWEEPS = HERE.parent / "sweeps"
OUT = HERE / "results"


def load_spec(name: str, steps: int | None, tag: str):
    """``sweeps/<name>.yaml``, with the budget replaced by ``steps`` (and the name tagged) if given."""
    from search_scaling.sweep.spec import parse_sweep

    path = SWEEPS / f"{name}.yaml"
    raw = yaml.safe_load(path.read_text())
    if steps is not None:
        raw["budget"] = {"steps": steps}
    if tag:
        raw["name"] = f"{raw['name']}-{tag}"
    return parse_sweep(raw, str(path))


def run_cells(sweep, store: str):
    """Run the sweep's unfinished cells; (its curves, the stores)."""
    from search_scaling.store import Stores
    from search_scaling.sweep.runner import run_sweep

    stores = Stores.resolve(store, mlflow=False)
    start = time.perf_counter()
    counts = run_sweep(sweep, stores)
    print(f"sweep {sweep.name}: {dict(counts)} in {time.perf_counter() - start:.0f} s", flush=True)
    curves = stores.parquet.curves(sweep=sweep.name)
    return curves[curves["run_hash"].isin(sweep.run_hashes)], stores


def save_figure(fig, out: Path) -> None:
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    print(f"wrote {out}")


def arguments(doc: str, parts) -> argparse.Namespace:
    """The reproductions' command line; also keeps every Ray they start local."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--part", choices=[*parts, "all"], default="all")
    p.add_argument("--steps", type=int, help="replace the specs' budget (a check, not the measurement)")
    p.add_argument("--tag", default="", help="suffix of the sweep name and of the output files")
    p.add_argument("--store", default="runs/repro")
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args()
    os.environ.setdefault("RAY_ADDRESS", "local")  # never join a cluster this machine has registered
    args.out.mkdir(parents=True, exist_ok=True)
    args.parts = list(parts) if args.part == "all" else [args.part]
    args.suffix = f"_{args.tag}" if args.tag else ""
    return args
