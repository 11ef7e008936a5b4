"""`search-scaling validate`: a sweep spec checked and its cells listed (hash, sizes, budget, FLOPs,
kept weights, tuned values, stop rules, packs)."""

from __future__ import annotations

import argparse

from search_scaling.commands.args import _stores


def cmd_validate(args: argparse.Namespace) -> int:
    """Validate a sweep spec and print its cells: run hash, sizes, parameters, budget, FLOPs."""
    from search_scaling.models import param_counts
    from search_scaling.sweep import preflight
    from search_scaling.sweep.packs import check_memory
    from search_scaling.sweep.short_budgets import short_budget_warnings
    from search_scaling.sweep.sources import store_lookup
    from search_scaling.sweep.spec import load_sweep
    from search_scaling.training.run import plan_run
    from search_scaling.training.weights import kept_bytes

    sweep = load_sweep(args.spec, store_lookup(lambda: _stores(args, create=False)))
    preflight.check_sources_kept(sweep, lambda: _stores(args, create=False))  # a finished source's weights
    check_memory(sweep)  # planning's problems too, before the cells are listed
    total, kept, planned = 0.0, 0, []
    print(f"{'run_hash':16s} {'task':12s} {'size':>4s} {'model':9s} {'params':>11s} {'seed':>4s} "
          f"{'steps':>7s} {'tokens':>13s} {'FLOPs':>9s} {'kept':>9s} {'lr':>9s}")  # fmt: skip
    for cell in sweep.cells:
        held_out, steps, scale = plan_run(cell)
        planned.append((cell, steps))
        tokens = cell.tokens or int(steps * cell.batch_size * held_out.length.mean())
        flops = tokens * scale["flops_per_token"]
        total += flops
        kept += kept_bytes(cell, steps)
        print(f"{cell.run_hash:16s} {cell.task:12s} {cell.size:4d} {cell.model:9s} "
              f"{param_counts(cell.model_config)['params_nonembed']:11,d} {cell.seed:4d} {steps:7d} "
              f"{tokens:13,d} {flops:9.2e} {_megabytes(kept_bytes(cell, steps)):>9s} {cell.lr:9.3g}"
              f"{_origin(sweep, cell)}")  # fmt: skip
    if kept:
        print(f"kept checkpoints (keep_checkpoints, beside the curves): ~{_megabytes(kept)} in all")
    res = sweep.resources
    print(f"\n{sweep.path}: {len(sweep.cells)} cells, total ~{total:.2e} training FLOPs")
    print(f"per trial {res.cpus:g} CPU, {res.gpus:g} GPU; at most {sweep.max_concurrent} at once; "
          f"{sweep.retries} retries")  # fmt: skip
    for rule in dict.fromkeys(_stop_line(c.stop) for c in sweep.cells if c.stop):
        print(f"stop (steps stay the cap): {rule}")
    if sweep.tune is not None:
        from search_scaling.sweep.tune_plan import tune_groups

        t = sweep.tune
        print(f"tune: {len(tune_groups(sweep))} group(s) per {t.per} x {t.samples} samples over "
              f"{', '.join(t.space)}, budget {t.budget[0]} {t.budget[1]}, objective {t.metric} "
              f"({t.mode})")  # fmt: skip
    packed = _print_packs(sweep) if sweep.pack != "off" else set()
    from search_scaling.training.compiled import describe as compile_lines

    print("\n".join(compile_lines(planned, "cuda" if res.gpus > 0 else "cpu", packed)))
    for line in short_budget_warnings(planned):
        print(line)
    return 0


def _print_packs(sweep) -> set[str]:
    """Print the packs; return the hashes of the runs that train in one (of two or more: a pack of
    one trains as a solo run), which train eager whatever ``compile`` says."""
    from search_scaling.sweep import packs

    res = sweep.resources
    budget = packs.memory_budget(sweep.pack_memory_gb, sweep.max_concurrent, res.gpus)
    found = packs.plan_sweep(sweep)
    print(f"pack: {sweep.pack}; " + "\n".join(packs.describe(found, budget, sweep.pack, res.gpus)))
    return {cell.run_hash for pack in found if len(pack) > 1 for cell in pack}


def _stop_line(stop: dict) -> str:
    """A cell's stop rules as `validate` shows them: ``target exact >= 0.99; plateau loss ...``."""
    from search_scaling.training.stop import higher_is_better

    parts = []
    if "target" in stop:
        t = stop["target"]
        parts.append(f"target {t['metric']} {'>=' if higher_is_better(t['metric']) else '<='} {t['value']:g}")
    if "plateau" in stop:
        p = stop["plateau"]
        window = f"(s/{1 + p['patience']:g}, s]"
        parts.append(f"plateau {p['metric']} (gain <= {p['min_delta']:g} over steps {window}, "
                     f"from step {p['min_steps']})")  # fmt: skip
    return "; ".join(parts)


def _origin(sweep, cell) -> str:
    """Where tuned values came from, for `validate`: `` lr tuned`` or `` lr extrapolated``."""
    return "".join(f" {k} {v}" for k, v in sweep.origins.get(cell.run_hash, {}).items())


def _megabytes(n: int) -> str:
    return "-" if n == 0 else f"{n / 1e6:.2f}MB"
