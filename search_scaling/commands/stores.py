"""Commands on a store's contents: `inspect` (a run's answer to a held-out example), `export` (one
sweep into a compact store) and `mlflow-sync` (backfill MLflow from Parquet)."""

from __future__ import annotations

import argparse

from search_scaling.commands.args import _stores


def cmd_inspect(args: argparse.Namespace) -> int:
    """Print one held-out example of a run, the model's greedy answer and whether it is right."""
    stores = _stores(args, create=False)
    run_hash = stores.parquet.match_run(args.run_hash)  # any unique prefix; found before torch loads
    from search_scaling.loader import inspect_example, load_run

    ablate = [_ablation(text) for text in args.ablate]
    print(inspect_example(load_run(stores, run_hash, args.step), args.example, args.set, ablate))
    return 0


def _ablation(text: str) -> dict:
    """``--ablate``'s value: a hook name (zero ablation) or a YAML mapping (an `interventions` entry)."""
    import yaml

    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ValueError(f"--ablate {text!r}: a hook name or a YAML mapping such as '{{hook: "
                         f"blocks.0.hook_attn_out, op: zero}}' ({err})") from None  # fmt: skip
    return {"hook": value, "op": "zero"} if isinstance(value, str) else value


def cmd_export(args: argparse.Namespace) -> int:
    """Copy one sweep's runs and curves into a compact store that `report --store` rebuilds from."""
    import sys

    from search_scaling.store import Stores
    from search_scaling.store.export import export_sweep, ledger_if_any

    stores = Stores.resolve(args.store, mlflow=False, create=False)
    done = export_sweep(stores.root, args.sweep, args.out, ledger_if_any(stores), args.allow_unfinished)
    if done["unfinished"]:
        print(f"warning: {len(done['unfinished'])} unfinished cell(s) exported as they stand "
              "(--allow-unfinished)", file=sys.stderr)  # fmt: skip
    print(f"exported {done['runs']} runs, {done['curve_rows']:,} curve rows ({done['bytes'] / 1e6:.2f} MB) "
          f"to {done['out']}")  # fmt: skip
    return 0


def cmd_mlflow_sync(args: argparse.Namespace) -> int:
    """Backfill MLflow from the Parquet store (after MLflow was down, or into a new server)."""
    from search_scaling.store.mirror import MirrorUnavailable
    from search_scaling.store.recorder import sync_mlflow

    try:
        logged = sync_mlflow(_stores(args, create=False), args.sweep)
    except MirrorUnavailable as err:  # already bounded in time and redacted
        raise ValueError(f"MLflow unavailable ({err}); nothing was changed, try again later") from None
    print(f"{len(logged)} runs checked, {sum(logged.values())} curve points logged")
    return 0
