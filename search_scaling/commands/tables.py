"""`search-scaling fit` and `transition`: the analysis on any table (CSV or Parquet), its columns
checked and named in every error."""

from __future__ import annotations

import argparse

import numpy as np


def _table(args: argparse.Namespace):
    """The table, with the --eval columns added and the --drop-highest rows dropped (rows keep their
    labels, so errors can name them)."""
    import pandas as pd

    from analysis.checks import count
    from analysis.records import load_table

    drop = count("--drop-highest", args.drop_highest)
    table = load_table(args.table)
    for expr in args.eval:  # e.g. "D = `Training FLOP` / (6 * `Model Size`)"
        try:
            table = table.eval(expr)
        except Exception as err:  # noqa: BLE001 -- pandas raises many kinds: syntax, names, types
            raise ValueError(f"--eval {expr!r}: {type(err).__name__}: {err}") from None
        if not isinstance(table, pd.DataFrame):
            raise ValueError(f"--eval {expr!r} must add a column: NAME = EXPRESSION, e.g. "
                             "\"D = `Training FLOP` / (6 * `Model Size`)\"")  # fmt: skip
    if drop:
        column = args.y if hasattr(args, "y") else args.loss
        _columns(table, [column])
        if drop >= len(table):
            raise ValueError(f"--drop-highest {drop}: the table has only {len(table)} rows")
        table = table.sort_values(column).iloc[:-drop]
    return table


def _columns(table, names: list[str]):
    """The named columns as finite floats; a missing or non-numeric column, or a NaN, is named."""
    from analysis.checks import finite

    missing = [n for n in names if n not in table.columns]
    if missing:
        raise ValueError(f"column(s) {missing} not in the table; it has {list(table.columns)}")
    out = []
    for name in names:
        try:
            values = table[name].to_numpy(float)
        except (TypeError, ValueError):
            raise ValueError(f"column {name!r} is not numeric, e.g. {table[name].iloc[0]!r}") from None
        out.append(finite(f"column {name!r}", values, table.index))
    return out


def cmd_fit(args: argparse.Namespace) -> int:
    """Fit a scaling law to any table (CSV or Parquet) and print it (or JSON)."""
    import json

    from analysis.checks import count, positive
    from analysis.fit import bootstrap, fit_form, holdout_largest, select

    n_boot = count("--bootstrap", args.bootstrap)
    if args.x2 and args.form != "chinchilla":
        raise ValueError("--x2 is only for --form chinchilla (parameters N in --x, tokens D in --x2)")
    table = _table(args)
    names = [args.x] + ([args.x2] if args.x2 else []) + [args.y]
    *cols, y = [positive(f"column {n!r}", v, table.index) for n, v in zip(names, _columns(table, names))]
    X = np.column_stack(cols)
    if args.form == "chinchilla" and X.shape[1] != 2:
        raise ValueError("--form chinchilla needs --x (parameters N) and --x2 (tokens D)")
    try:
        fit = select(X, y) if args.form == "auto" else fit_form(args.form, X, y)
        if n_boot:
            bootstrap(fit, X, y, n=n_boot)
        if args.holdout_largest:
            fit.holdout = holdout_largest(fit.form, X, y)
    except RuntimeError as err:  # no start converged: say so, no traceback
        raise ValueError(str(err)) from None
    out = fit.to_json()
    if args.json:
        print(json.dumps(out, indent=1, default=float))
        return 0
    print(f"{fit.form} fit to {fit.n_points} points (objective {fit.objective:.4g}, BIC {fit.bic:.1f}, "
          f"AICc {fit.aicc:.1f})")  # fmt: skip
    for name, value in {**fit.params, **fit.derived}.items():
        ci = fit.ci.get(name)
        print(f"  {name:14s} {value:.6g}" + (f"   95% CI [{ci[0]:.4g}, {ci[1]:.4g}]" if ci else ""))
    for key in ("evidence", "holdout"):
        if out.get(key):
            print(f"{key}: {json.dumps(out[key], default=float)}")
    return 0


def _n_eval(table, flag: str | None):
    """--n-eval: a column of evaluation-example counts, or one count for every row."""
    from analysis.checks import count, counts

    if flag is None:
        return None
    if flag in table.columns:
        (values,) = _columns(table, [flag])
        return counts(f"--n-eval column {flag!r}", values, 1, table.index)
    try:
        value = float(flag)
    except ValueError:
        raise ValueError(f"--n-eval {flag!r}: not a column of the table nor a count of examples") from None
    return count("--n-eval (evaluation examples per point)", value, minimum=1)


def cmd_transition(args: argparse.Namespace) -> int:
    """Fit accuracy against loss: threshold, width, floor, ceiling, and transition or not."""
    import json

    from analysis.checks import count, within
    from analysis.transitions import fit_transition

    n_boot = count("--bootstrap", args.bootstrap)
    table = _table(args)
    loss, acc = _columns(table, [args.loss, args.acc])
    within(f"column {args.acc!r}", acc, 0.0, 1.0, "accuracies", table.index)
    result = fit_transition(loss, acc, n_eval=_n_eval(table, args.n_eval), n_boot=n_boot)
    out = result.to_json()
    if args.json:
        print(json.dumps(out, indent=1, default=float))
        return 0
    ci = result.threshold_ci
    print(f"{'transition' if result.transition else 'no sharp transition'}: threshold {result.threshold:.4g}"
          + (f" (95% CI {ci[0]:.4g}..{ci[1]:.4g})" if ci else "")
          + f", width {result.width:.3g}, floor {result.floor:.3f}, ceiling {result.ceiling:.3f}, "
          f"delta BIC {result.delta_bic:.1f}, 10-90% width / range {result.sharpness:.3f}")  # fmt: skip
    return 0
