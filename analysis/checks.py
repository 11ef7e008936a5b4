"""Input checks before any fit: each raises one `ValueError` that names the column or argument, what
is allowed and which rows break it, instead of a NaN optimum, an answer outside the data or a
traceback from deep inside scipy."""

from __future__ import annotations

import math

import numpy as np


def finite(name: str, values, index=None) -> np.ndarray:
    """``values`` as floats, all finite (no NaN, no infinity). ``index``: row labels for messages
    (a table's index), else positions."""
    values = np.asarray(values, dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        raise ValueError(f"{name}: {int(bad.sum())} of {bad.size} values are NaN, missing or infinite "
                         f"({_rows(bad, index)}); drop or fill them first")  # fmt: skip
    return values


def within(name: str, values, lo: float, hi: float, what: str = "values", index=None) -> np.ndarray:
    """Finite values in [lo, hi]."""
    values = finite(name, values, index)
    bad = (values < lo) | (values > hi)
    if bad.any():
        raise ValueError(f"{name}: {what} must be in [{lo:g}, {hi:g}], got "
                         f"{values.min():g}..{values.max():g} ({_rows(bad, index)})")  # fmt: skip
    return values


def positive(name: str, values, index=None) -> np.ndarray:
    """Finite values > 0 (scaling laws are fitted on logarithms)."""
    values = finite(name, values, index)
    bad = values <= 0
    if bad.any():
        raise ValueError(f"{name}: scaling-law fits need positive x and y (they work on logarithms), got "
                         f"{values.min():g} ({_rows(bad, index)})")  # fmt: skip
    return values


def counts(name: str, values, minimum: int = 1, index=None) -> np.ndarray:
    """Whole numbers >= ``minimum`` (e.g. evaluation examples per point)."""
    values = finite(name, values, index)
    bad = (values < minimum) | (values != np.round(values))
    if bad.any():
        first = np.ravel(values)[np.ravel(bad)][0]
        raise ValueError(f"{name}: whole numbers >= {minimum} expected, got {first:g} ({_rows(bad, index)})")
    return values


def count(name: str, value, minimum: int = 0) -> int:
    """One whole number >= ``minimum`` (a number of resamples, of rows to drop)."""
    whole = not isinstance(value, bool) and isinstance(value, (int, np.integer))
    if not whole and isinstance(value, float) and math.isfinite(value) and value == int(value):
        whole, value = True, int(value)
    if not whole or value < minimum:
        raise ValueError(f"{name}: a whole number >= {minimum}, got {value!r}")
    return int(value)


def _rows(bad: np.ndarray, index=None) -> str:
    """Which rows, 0-based (a table's own row labels when given)."""
    rows = np.flatnonzero(np.ravel(bad))
    labels = rows if index is None or np.ndim(bad) != 1 else np.asarray(index)[rows]
    shown = ", ".join(str(r) for r in labels[:5]) + (", ..." if len(rows) > 5 else "")
    return f"row{'s' if len(rows) > 1 else ''} {shown}"
