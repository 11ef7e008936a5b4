"""What a hyperparameter search leaves: the trial table, the best values per group and the LR law
(`summarise`), and the tuned spec that `search-scaling sweep` runs (`tuned_section`,
`write_tuned_spec`)."""

from __future__ import annotations

from pathlib import Path

from search_scaling.store import Stores
from search_scaling.sweep.spec import SweepSpec
from search_scaling.sweep.tune_plan import SUFFIX, _required, baseline_values, tune_groups


def summarise(sweep: SweepSpec, stores: Stores, trials: dict) -> dict:
    """The trial table, the best values per group and the LR law, from the store."""
    from analysis.tuning import best_per_group, lr_law, trial_table

    tune = _required(sweep)
    runs = stores.parquet.runs(sweep=sweep.name + SUFFIX)
    baselines = {g.key: baseline_values(g, tune) for g in tune_groups(sweep)} if tune.baseline else {}
    table = trial_table(runs, trials, list(tune.space), tune.metric, baselines)
    best = best_per_group(table, tune.mode) if len(table) else table
    law = (
        lr_law(table, tune.mode)
        if "lr" in tune.space and len(table)
        else {"fitted": False, "reason": "lr is not searched"}
    )
    return {"table": table, "best": best, "law": law}


def tuned_section(sweep: SweepSpec, best, law: dict) -> dict:
    """The ``tuned:`` table of the tuned spec: per group, the best values."""
    tune = _required(sweep)
    entries = []
    for row in best.itertuples(index=False):
        entry = {"model": row.model}
        if tune.per == "cell":
            entry["size"] = int(row.group.rsplit("-", 1)[1])
        entry.update({k: _plain(getattr(row, k)) for k in tune.space})
        entries.append(entry)
    section = {"entries": entries}
    if law.get("fitted"):
        section["lr_law"] = {
            "coefficient": float(f"{law['coefficient']:.4g}"),
            "exponent": float(f"{law['exponent']:.4g}"),
            "exponent_interval": [float(f"{v:.4g}") for v in law["exponent_interval"]],
            "params_range": [int(v) for v in law["params_range"]],
        }
    return section


def write_tuned_spec(sweep: SweepSpec, section: dict, path: Path | None = None) -> Path:
    """``<spec>.tuned.yaml``: the original spec (its name + ``-tuned``, without ``tune:``) plus the
    ``tuned:`` table; `search-scaling sweep` runs it unchanged."""
    import yaml

    from search_scaling.sweep.spec import StrictLoader

    source = Path(sweep.path)
    raw = yaml.load(source.read_text(encoding="utf-8"), Loader=StrictLoader)  # noqa: S506 -- a SafeLoader
    raw.pop("tune", None)
    raw["name"] = f"{sweep.name}-tuned"
    raw["tuned"] = section
    path = path or source.with_name(f"{source.stem}.tuned.yaml")
    header = (
        f"# Written by `search-scaling tune {source}`: the spec with the best values of its search\n"
        f"# (sweep {sweep.name}{SUFFIX}) in `tuned:`. Models without an entry take lr_law's learning rate.\n"
    )
    path.write_text(header + yaml.safe_dump(raw, sort_keys=False, default_flow_style=None))
    return path


def _plain(value):
    return value.item() if hasattr(value, "item") else value
