"""What several commands share: the stores resolved from the flags a command takes, ``key=value``
options, and counts checked the way the analysis checks them."""

from __future__ import annotations

import argparse


def _parse_options(pairs: list[str], flag: str) -> dict:
    """``key=value`` pairs; values are parsed as YAML scalars (3 -> int, 0.1 -> float, dfs -> str)."""
    import yaml

    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"{flag} expects key=value, got {pair!r}")
        out[key] = yaml.safe_load(value)
    return out


def _stores(args: argparse.Namespace, create: bool = True):
    """Every command's stores, resolved one way (`Stores.resolve`) from the flags it takes.
    ``create=False`` for commands that only read: a mistyped --store is an error there, not a new
    empty store."""
    from search_scaling.store import Stores

    flag = lambda name: getattr(args, name, None)  # noqa: E731 -- not every command takes every flag
    mlflow = not flag("no_mlflow")
    return Stores.resolve(
        flag("store"), flag("ledger_url"), flag("tracking_uri"), mlflow=mlflow, create=create
    )


def _check_count(flag: str, value: int) -> int:
    from analysis.checks import count

    return count(flag, value)
