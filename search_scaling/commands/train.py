"""`search-scaling train`: one run through the stores, its curve printed as it goes."""

from __future__ import annotations

import argparse
import sys

from search_scaling.commands.args import _parse_options, _stores


def cmd_train(args: argparse.Namespace) -> int:
    """Train one run through the stores, print its curve as it goes and a summary at the end."""
    from search_scaling.store import record_run
    from search_scaling.training import RunSpec

    names = ("task", "size", "model", "seed", "steps", "tokens", "batch_size", "lr", "loss_mask",
             "eval_points", "eval_examples", "precision", "train_sampling", "keep_checkpoints",
             "progress")  # fmt: skip
    fields = {k: getattr(args, k) for k in names if getattr(args, k) is not None}
    if args.init_from:
        run, _, step = args.init_from.partition("@")
        fields["init_from"] = {"run": run, "step": _parse_options([f"step={step}"], "--init-from")["step"]
                               if step else None}  # fmt: skip
    fields["freeze"] = args.freeze
    spec = RunSpec(**fields, task_options=_parse_options(args.option, "--option"),
                   model_options=_parse_options(args.model_option, "--model-option"))  # fmt: skip
    cfg, stores = spec.model_config, _stores(args)
    print(f"run {spec.run_hash}: {spec.task} {spec.task_obj.size_name}={spec.size}, model {spec.model} "
          f"(n_layers={cfg.n_layers}, d_model={cfg.d_model}), seed {spec.seed}")  # fmt: skip
    try:
        result = record_run(spec, stores, verbose=True)
    except KeyboardInterrupt:
        print(f"\ninterrupted: run {spec.run_hash} released (ledger: failed, 'interrupted'); the same "
              "command trains it again", file=sys.stderr)  # fmt: skip
        return 130
    except Exception as err:  # noqa: BLE001 -- the ledger has it; one clear message, exit non-zero
        return _did_not_finish(stores, spec.run_hash, err)
    if result is None:
        return _nothing_to_do(stores, spec.run_hash)
    seconds = result.train_seconds
    print(f"\nstatus {result.status}: {result.steps} steps, {result.tokens:,} tokens in {seconds:.1f}s "
          f"({result.tokens / max(seconds, 1e-9):,.0f} tokens/s); "
          f"{result.scale['params_nonembed']:,} non-embedding parameters")  # fmt: skip
    for key, value in result.final.items():
        print(f"  {key:16s} {value:.4f}")
    print(f"curves: {stores.root}/curves   checkpoint: {result.checkpoint}")
    return 0 if result.status == "done" else 1


def _nothing_to_do(stores, run_hash: str) -> int:
    """0 when the run is finished; 1 when another live worker holds it (it is not done yet)."""
    from search_scaling.store.ledger import FINISHED

    row = stores.ledger.get(run_hash)
    if row["status"] in FINISHED:
        print(f"nothing to do: the ledger has this run as {row['status']!r} (store {stores.root})")
        return 0
    print(f"not started: run {run_hash} is {row['status']!r} under {row['owner']!r} (last heartbeat "
          f"{row['heartbeat_at']}); it is taken over once that heartbeat is stale",
          file=sys.stderr)  # fmt: skip
    return 1


def _did_not_finish(stores, run_hash: str, err: Exception) -> int:
    from search_scaling.store.recorder import describe

    try:  # the ledger itself may be what failed
        status = (stores.ledger.get(run_hash) or {}).get("status")
    except Exception:  # noqa: BLE001
        status = "unknown"
    retry = "; the same command trains it again" if status == "failed" else ""
    print(f"search-scaling train: run {run_hash} did not finish: {describe(err)}\n"
          f"ledger: {status!r}{retry}", file=sys.stderr)  # fmt: skip
    return 1
