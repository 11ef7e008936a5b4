"""`benchmarks/gpu_check_report.py`: the settings a GPU check's figures suggest (a planted report
whose answers are known) and the hard limit that writes what was measured and exits."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from benchmarks.gpu_check_report import lines, suggest

ROOT = Path(__file__).resolve().parents[3]


def planted(pack_tokens: float) -> dict:
    """Two compiled models and L2-D32 packs of 1, 16, 64 (16 best); sharing: 4 processes give 2x one."""
    compiled = [
        {"model": "L2-D32", "compile_s": 40.0, "speedup": 2.5, "eager_step_s": 0.004, "n_layers": 2,
         "eager_flops_per_s": 1e12},
        {"model": "L4-D128", "compile_s": 61.23, "speedup": 1.5, "eager_step_s": 0.012, "n_layers": 4,
         "eager_flops_per_s": 3e12},
        {"model": "L6-D256", "skipped": "time budget spent"},
    ]  # fmt: skip
    rates = ((1, False, 1e5), (16, False, 9e5), (64, False, 7e5), (64, True, 5e6))  # graphed: not a pack's
    training = [{"model": "L2-D32", "pack": k, "cuda_graph": g, "tokens_per_s": t, "step_flops": k * 1e9}
                for k, g, t in rates]  # fmt: skip
    sharing = {"model": "L2-D32", "processes": 4, "separate_tokens_per_s": 2e5,
               "pack_tokens_per_s": pack_tokens, "pack_over_separate": pack_tokens / 2e5}  # fmt: skip
    return {"device": "NVIDIA H100", "dry_run": False, "compiled": compiled, "training": training,
            "sharing": sharing}  # fmt: skip


def values(report: dict) -> dict:
    return {name: e["value"] for name, e in suggest(report).items() if isinstance(e, dict)}


def test_suggestions_follow_the_figures():
    got = values(planted(pack_tokens=6e5))
    assert got == {
        'training/compiled.py COMPILE_SECONDS["cuda"]': 61.2,  # the longest cold compile
        'training/compiled.py SPEEDUP["cuda"]': 1.5,  # the smallest speedup
        'training/compiled.py EAGER_FLOPS["cuda"]': 3e12,  # the largest model's eager FLOP/s
        'training/compiled.py STEP_FLOOR_S_PER_LAYER["cuda"]': 0.002,  # min(0.004 / 2, 0.012 / 4)
        "pack sizes: best tokens/s per model": {"L2-D32": 16},  # eager rows only: packs train eager
        'sweep/packs.py STEP_FLOPS["gpu"]': 1.6e10,  # the best pack's step work
        "packs beat sharing processes": True,
        "sweeps/maze_grid.yaml resources.gpus": 0.25,  # 4 processes: 2x one
        "sweeps/maze_grid.yaml pack": "auto",  # a pack of 4: 3x four processes
    }
    assert suggest(planted(6e5))["apply"] is True
    slow_pack = values(planted(pack_tokens=2.1e5))  # within 10% of four processes: not worth packing
    assert slow_pack["sweeps/maze_grid.yaml pack"] == "off" and slow_pack["packs beat sharing processes"]


def test_a_dry_run_or_a_missing_section_suggests_nothing_to_apply():
    empty = suggest({"device": "cpu", "dry_run": True, "sharing": {"skipped": "budget"}})
    assert empty["apply"] is False
    assert all(e["value"] is None for e in empty.values() if isinstance(e, dict))
    assert lines(empty)[0] == "suggested settings (dry run or CPU: do not apply)"
    assert all(" = null   # " in line for line in lines(empty)[1:])


def test_the_hard_limit_writes_what_was_measured_and_exits_3(tmp_path):
    """A check stuck past its limit (here a sleep, in a child process: the limit ends its process)."""
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(ROOT / "benchmarks")!r})
        from gpu_check_report import HardLimit
        report = {{"device": "cpu", "dry_run": True, "training": [{{"model": "L1-D8", "pack": 1}}]}}
        with HardLimit(0.5, report, __import__("pathlib").Path({str(tmp_path / "out.json")!r})):
            time.sleep(30)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=20)
    assert done.returncode == 3, done.stderr
    assert "hard limit of 0.5 s reached" in done.stderr
    written = json.loads((tmp_path / "out.json").read_text())
    assert written["training"] == [{"model": "L1-D8", "pack": 1}] and "suggested" in written
    assert written["hard_limit_reached"].startswith("stopped after 0.5 s")
