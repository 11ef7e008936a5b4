"""Strict checks for task options: a boolean is a boolean (``cot: maybe`` is an error, not True), an
integer is an integer, a number is a finite number in its range. Each error names the task, the
option and what is allowed."""

from __future__ import annotations

import math

import numpy as np


def bool_option(task: str, name: str, value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{task}.{name} must be true or false, got {value!r}")
    return bool(value)


def int_option(task: str, name: str, value, lo: int, hi: int | None = None) -> int:
    whole = not isinstance(value, (bool, np.bool_)) and isinstance(value, (int, np.integer))
    if not whole or value < lo or (hi is not None and value > hi):
        allowed = f"in [{lo}, {hi}]" if hi is not None else f">= {lo}"
        raise ValueError(f"{task}.{name} must be an integer {allowed}, got {value!r}")
    return int(value)


def number_option(task: str, name: str, value, lo: float, hi: float) -> float:
    real = not isinstance(value, (bool, np.bool_)) and isinstance(value, (int, float, np.number))
    if not real or not math.isfinite(value) or not lo <= value <= hi:
        raise ValueError(f"{task}.{name} must be a number in [{lo:g}, {hi:g}], got {value!r}")
    return float(value)
