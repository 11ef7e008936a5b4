"""What `gpu_check.py` does with its report (no torch here): the hard wall-clock limit that writes
whatever was measured and ends the check, and the settings the figures suggest.

The suggested block (``report["suggested"]``) names each setting, its value (None where the check
did not measure what it needs) and the measurement it comes from:

- ``training/compiled.py``: ``COMPILE_SECONDS["cuda"]``, ``SPEEDUP["cuda"]``, ``EAGER_FLOPS["cuda"]``,
  ``STEP_FLOOR_S_PER_LAYER["cuda"]`` (the `compile: auto` rule on a GPU), from the solo compiled steps;
- ``sweep/packs.py``: ``STEP_FLOPS["gpu"]`` (how much work one pack aims at), from the pack sizes'
  tokens/s, and whether packs beat fractional-GPU processes (sharing);
- ``sweeps/maze_grid.yaml``: ``resources.gpus`` per trial and ``pack``, from sharing.

Apply them by hand (edit the constants and the YAML, and say the date and device beside them), only
from a real run on the GPU the sweeps use, never from a dry run (``apply`` says which).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path

SHARING_GAIN = 1.1  # sharing (or a pack) must beat the alternative by 10% to be worth recommending


def write(report: dict, out: Path) -> None:
    """``report`` with its suggestions, as JSON at ``out`` (atomic replace: a reader never sees half)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    snapshot = dict(report)  # the main thread may add keys meanwhile (a C-level copy, one step)
    snapshot["suggested"] = suggest(snapshot)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(snapshot, indent=1, default=str))
    os.replace(tmp, out)


class HardLimit:
    """After ``seconds`` (from now), whatever the check is doing: kill its worker processes, write
    the report so far to ``out`` (``hard_limit_reached``) and exit with status 3. A thread, not
    ``signal.alarm``: a signal handler waits for the main thread to come back to Python, which a
    compile or a blocked pipe read may not do for minutes."""

    def __init__(self, seconds: float, report: dict, out: Path):
        self.deadline = time.perf_counter() + seconds
        self.seconds, self.report, self.out, self.procs = seconds, report, out, []
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def __enter__(self):
        self._timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self._timer.cancel()

    def left(self) -> float:
        """Seconds until the hard limit."""
        return self.deadline - time.perf_counter()

    def _fire(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
        self.report["hard_limit_reached"] = f"stopped after {self.seconds:g} s (--hard-limit-s)"
        try:
            write(self.report, self.out)
            where = f"what was measured is in {self.out}"
        except Exception as err:  # noqa: BLE001 -- exiting anyway; say why nothing was written
            where = f"the report could not be written ({type(err).__name__}: {err})"
        print(f"gpu_check: hard limit of {self.seconds:g} s reached; {where}; exiting 3", file=sys.stderr,
              flush=True)  # fmt: skip
        os._exit(3)  # the main thread may be inside a compile or CUDA call: no clean unwind to wait for


def suggest(report: dict) -> dict:
    """The settings the report's figures suggest, each ``{"value", "from"}``; ``apply`` False for a
    dry run or a CPU device (figures that must not be applied)."""
    solo = [r for r in report.get("compiled", []) if "speedup" in r]
    out = {"apply": not report.get("dry_run") and report.get("device") != "cpu"}
    out |= _compile_rule(solo)
    out |= _pack_rule(report)
    return out


def _entry(value, source: str) -> dict:
    return {"value": value, "from": source}


def _compile_rule(solo: list[dict]) -> dict:
    if not solo:
        none = "no compiled-step measurement (section 'compiled' skipped or failed)"
        names = ("COMPILE_SECONDS", "SPEEDUP", "EAGER_FLOPS", "STEP_FLOOR_S_PER_LAYER")
        return {f'training/compiled.py {n}["cuda"]': _entry(None, none) for n in names}
    models = ", ".join(r["model"] for r in solo)
    floor = min((r["eager_step_s"] / r["n_layers"] for r in solo if r.get("n_layers")), default=None)
    return {
        'training/compiled.py COMPILE_SECONDS["cuda"]': _entry(
            round(max(r["compile_s"] for r in solo), 1),
            f"compiled[].compile_s: the longest cold compile (fresh inductor cache) of {models}"),
        'training/compiled.py SPEEDUP["cuda"]': _entry(
            round(min(r["speedup"] for r in solo), 2),
            f"compiled[].speedup: the smallest compiled/eager tokens/s ratio of {models} (auto errs eager)"),
        'training/compiled.py EAGER_FLOPS["cuda"]': _entry(
            _sig(max((r.get("eager_flops_per_s") or 0) for r in solo) or None),
            f"compiled[].eager_flops_per_s: the eager solo step's model FLOP/s, the largest of {models}"),
        'training/compiled.py STEP_FLOOR_S_PER_LAYER["cuda"]': _entry(
            _sig(floor),
            f"compiled[].eager_step_s / n_layers: the least eager step time per layer of {models} "
            "(the smallest model's step is its kernel launches)"),
    }  # fmt: skip


def _pack_rule(report: dict) -> dict:
    eager = [r for r in report.get("training", []) if "tokens_per_s" in r and not r.get("cuda_graph")]
    best = {}
    for row in eager:
        if row["model"] not in best or row["tokens_per_s"] > best[row["model"]]["tokens_per_s"]:
            best[row["model"]] = row
    smallest = eager[0]["model"] if eager else None
    work = best[smallest].get("step_flops") if smallest else None
    sharing = report.get("sharing", {})
    alone = next((r["tokens_per_s"] for r in eager if r["model"] == sharing.get("model") and r["pack"] == 1),
                 None)  # fmt: skip
    return {
        "pack sizes: best tokens/s per model": _entry(
            {m: r["pack"] for m, r in best.items()} or None,
            "training[] (eager rows, as packs train): the pack size with the most tokens/s per model",
        ),
        'sweep/packs.py STEP_FLOPS["gpu"]': _entry(
            _sig(work),
            f"training[].step_flops of {smallest}'s best pack: the work a step needs before a bigger pack "
            "stops paying (a lower bound when the best pack is the largest tried)",
        ),
        "packs beat sharing processes": _entry(
            _ratio(sharing.get("pack_over_separate")),
            "sharing.pack_over_separate: one pack of N against N one-run processes on one GPU",
        ),
        **_maze_grid(sharing, alone),
    }


def _maze_grid(sharing: dict, alone: float | None) -> dict:
    """``resources.gpus`` and ``pack`` for sweeps/maze_grid.yaml, from the sharing measurement."""
    n, shared, packed = (sharing.get(k) for k in ("processes", "separate_tokens_per_s", "pack_tokens_per_s"))
    if not (n and shared and packed and alone):
        why = "sharing and training[pack 1] of its model: not measured"
        return {"sweeps/maze_grid.yaml resources.gpus": _entry(None, why),
                "sweeps/maze_grid.yaml pack": _entry(None, why)}  # fmt: skip
    gpus = round(1 / n, 4) if shared > SHARING_GAIN * alone else 1
    pack = "auto" if packed > SHARING_GAIN * max(shared, alone) else "off"
    return {
        "sweeps/maze_grid.yaml resources.gpus": _entry(
            gpus, f"sharing: {n} processes at once gave {shared / alone:.2f}x one process's tokens/s "
                  f"(fractional GPUs pay above {SHARING_GAIN}x)"),
        "sweeps/maze_grid.yaml pack": _entry(
            pack, f"sharing: a pack of {n} gave {packed / shared:.2f}x {n} processes and "
                  f"{packed / alone:.2f}x one (auto, which packs on GPUs, pays above {SHARING_GAIN}x both)"),
    }  # fmt: skip


def _sig(value: float | None) -> float | None:
    return None if value is None else float(f"{value:.2g}")


def _ratio(value: float | None) -> bool | None:
    return None if value is None else value > 1


def lines(suggested: dict) -> list[str]:
    """The suggestions as the check prints them, one a line."""
    head = "suggested settings" + ("" if suggested.get("apply") else " (dry run or CPU: do not apply)")
    body = [f"  {name} = {json.dumps(e['value'])}   # {e['from']}" for name, e in suggested.items()
            if isinstance(e, dict)]  # fmt: skip
    return [head, *body]
