"""What a newcomer meets first: a bare `search-scaling` helps, run hashes are found by any unique
prefix (as MLflow's run names show them), `status` shows them and names the sweeps a store has,
`sweeps` lists those, `maze --show` prints the token order the config asks for, no default is an
absolute path, and the first line of a long command comes before its heavy imports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from search_scaling.cli import build_parser, main
from search_scaling.store import ParquetStore
from tests.unit.store.test_parquet import rows, run_row

ROOT = Path(__file__).resolve().parents[2]
HASHES = {"a": ["398825ab12cd34ef", "398899cd56ab78ef"], "b": ["111111aa22bb33cc"]}


def planted_store(root: Path) -> ParquetStore:
    """Two sweeps: `a` with two runs whose hashes share the prefix 3988, `b` with one run."""
    store = ParquetStore(root)
    for sweep, hashes in HASHES.items():
        for seed, run_hash in enumerate(hashes):
            store.write_run(sweep, run_hash, run_row(seed=seed))
            store.write_curves(sweep, run_hash, rows(range(3)), 0, 2)
    return store


def test_a_bare_command_prints_the_help(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: search-scaling") and "sweeps" in out and "inspect" in out


def test_a_unique_prefix_names_a_run_and_an_ambiguous_one_lists_the_matches(tmp_path):
    store = planted_store(tmp_path)
    assert store.run_index() == {"a": HASHES["a"], "b": HASHES["b"]}
    assert store.match_run("39882") == "398825ab12cd34ef"
    assert store.match_run("398825ab12cd34ef") == "398825ab12cd34ef"
    with pytest.raises(ValueError, match="'3988' is the start of 2 run hashes: 398825ab12cd34ef \\(a\\), "
                                         "398899cd56ab78ef \\(a\\); give more characters"):  # fmt: skip
        store.match_run("3988")
    with pytest.raises(ValueError, match="no run hash starting with 'ffff'"):
        store.match_run("ffff")


def test_inspect_takes_the_six_characters_of_a_run_name(tmp_path, capsys):
    planted_store(tmp_path)
    assert main(["inspect", "3988", "--store", str(tmp_path)]) == 2
    assert "is the start of 2 run hashes" in capsys.readouterr().err
    from search_scaling.store import Stores
    from search_scaling.store.weights import find_run

    row = find_run(Stores.resolve(str(tmp_path), mlflow=False, create=False), "398825")
    assert row["run_hash"] == "398825ab12cd34ef"


def test_status_shows_run_hashes_and_an_unknown_sweep_names_the_known_ones(tmp_path, capsys):
    planted_store(tmp_path)
    assert main(["status", "a", "--store", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert all(h in out for h in HASHES["a"]) and "run_hash" in out
    assert main(["status", "smoke", "--store", str(tmp_path)]) == 2
    assert "no runs of sweep 'smoke'" in (err := capsys.readouterr().err) and "its sweeps: a, b" in err


def test_sweeps_lists_the_sweeps_of_a_store(tmp_path, capsys):
    planted_store(tmp_path)
    assert main(["sweeps", "--store", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.split()[:3] == ["a", "2", "runs"] for line in lines), lines
    assert any(line.split()[:3] == ["b", "1", "runs"] for line in lines), lines
    assert main(["sweeps", "--store", str(tmp_path / "missing")]) == 2  # reads only: creates nothing
    assert not (tmp_path / "missing").exists()


@pytest.mark.parametrize("order", ["shuffled", "sorted"])
def test_maze_show_prints_the_adjacency_list_in_the_configured_order(tmp_path, capsys, order):
    from search_scaling.tasks.maze import MazeConfig, SolvedMaze, load_or_build, to_aotp
    from search_scaling.tasks.maze.tokens import ids_to_text

    argv = [
        "maze",
        "--grid-n",
        "4",
        "--n",
        "6",
        "--show",
        "6",
        "--adj-order",
        order,
        "--cache",
        str(tmp_path),
    ]
    assert main(argv) == 0
    shown = [line for line in capsys.readouterr().out.splitlines() if line.startswith("<ADJLIST_START>")]
    batch = load_or_build(tmp_path, MazeConfig(4, adj_order=order), 6, 0)
    assert shown == [ids_to_text(batch.tokens[i], 4) for i in range(6)]  # the tokens as trained on
    sorted_text = [to_aotp(SolvedMaze.from_batch(batch, i)) for i in range(6)]
    assert (shown == sorted_text) == (order == "sorted")


def test_no_help_shows_an_absolute_path():
    commands = build_parser()._subparsers._group_actions[0].choices
    for name, parser in commands.items():
        text = parser.format_help()
        assert str(ROOT) not in text and str(Path.home()) not in text, name


def test_the_cli_imports_no_heavy_library_and_a_sweep_speaks_before_it_imports_torch(tmp_path):
    """The first line of `sweep` is printed before torch is imported (torch is blocked here)."""
    code = f"""
import sys
sys.argv = ["search-scaling"]
import search_scaling.cli
heavy = sorted(m for m in ("torch", "pandas", "sqlalchemy", "ray", "mlflow") if m in sys.modules)
print("heavy:", heavy, flush=True)

class NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch":
            raise ImportError("torch blocked by the test")

sys.meta_path.insert(0, NoTorch())
try:
    store = {str(tmp_path / "store")!r}
    search_scaling.cli.main(["sweep", "sweeps/smoke.yaml", "--store", store, "--no-mlflow"])
except ImportError as err:
    print("stopped:", err, flush=True)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    lines = done.stdout.splitlines()
    assert lines[0] == "heavy: []", done.stdout + done.stderr
    assert lines[1] == "reading sweeps/smoke.yaml ...", done.stdout + done.stderr
    assert lines[-1] == "stopped: torch blocked by the test"
