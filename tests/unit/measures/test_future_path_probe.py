"""The future-path probe and the probes' selectivity control (issue 31, item 4), on cases whose
answer is known: path labels of a hand-checked maze in every tokenization; a residual stream that
encodes the path linearly (the probe reads it, the shuffled-label control does not); a random
stream (chance for both); both controls logged by the maze measures of a real model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from search_scaling.measures import probe_batch
from search_scaling.measures.maze import maze_measures, path_labels, wall_labels
from search_scaling.measures.probes import control_labels, layer_probes
from search_scaling.models import Transformer
from search_scaling.tasks import get_task
from search_scaling.tasks.maze import SolvedMaze
from search_scaling.tasks.maze.batch import mazes_to_batch
from search_scaling.training import RunSpec

# A 3x3 maze (drawn in tests/unit/tasks/test_maze_tokenizations.py): from (1,1) left, down and
# right to (2,2); the cells strictly between the ends are (1,0), (2,0), (2,1).
EDGES = [((0, 0), (0, 1)), ((0, 1), (0, 2)), ((0, 2), (1, 2)), ((1, 0), (1, 1)), ((1, 1), (1, 2)),
         ((1, 0), (2, 0)), ((2, 0), (2, 1)), ((2, 1), (2, 2))]  # fmt: skip
MAZE = SolvedMaze.build(3, EDGES, (1, 1), (2, 2), [(1, 1), (1, 0), (2, 0), (2, 1), (2, 2)])


@pytest.mark.parametrize("tokenization", ["aotp", "aotp_ctt", "grid"])
def test_path_labels_of_a_hand_checked_maze_laid_out_on_a_larger_grid(tokenization):
    task = get_task("maze", tokenization=tokenization)
    batch = task.from_mazes(mazes_to_batch([MAZE]), 4)  # a 3x3 maze in a 4x4 model's layout
    on_path, counted = path_labels(batch, tokenization)
    cell = lambda r, c: r * 4 + c  # noqa: E731
    assert np.flatnonzero(on_path[0]).tolist() == [cell(1, 0), cell(2, 0), cell(2, 1)]
    outside_or_ends = (
        {cell(r, 3) for r in range(4)} | {cell(3, c) for c in range(4)} | {cell(1, 1), cell(2, 2)}
    )
    assert set(np.flatnonzero(~counted[0]).tolist()) == outside_or_ends  # 9 cells - 2 ends = 7 counted


def encoding(labels: np.ndarray, d: int, rng: np.random.Generator, noise: float = 0.3) -> torch.Tensor:
    """A residual stream [n, d] in which every label of bool[n, C] is a linear direction."""
    mixing = rng.normal(size=(labels.shape[1], d))
    return torch.tensor((labels * 2.0 - 1) @ mixing + noise * rng.normal(size=(len(labels), d)))


def test_a_stream_that_encodes_the_path_is_read_and_its_control_is_at_chance():
    batch = get_task("maze").generate(256, 4, np.random.default_rng(0))
    on_path, counted = path_labels(batch)
    rng = np.random.default_rng(1)
    noise, planted = torch.tensor(rng.normal(size=(256, 48))), encoding(on_path, 48, rng)
    out = layer_probes("path_probe", [noise, planted], on_path, counted)
    assert out["path_probe_L1"] > 0.95 and out["path_probe_best"] == out["path_probe_L1"]
    assert abs(out["path_probe_L0"] - 0.5) < 0.05  # a random stream: chance
    assert abs(out["path_probe_best_control"] - 0.5) < 0.06  # shuffled labels: chance at either layer
    assert out["path_probe_best"] - out["path_probe_best_control"] > 0.4  # selective


def test_a_random_stream_gives_chance_for_probe_and_control():
    batch = get_task("maze").generate(256, 4, np.random.default_rng(2))
    rng = np.random.default_rng(3)
    for y, valid in (path_labels(batch), wall_labels(batch.extras["moves"], batch.size)):
        out = layer_probes("p", [torch.tensor(rng.normal(size=(256, 32)))], y, valid)
        assert abs(out["p_best"] - 0.5) < 0.05 and abs(out["p_best_control"] - 0.5) < 0.05


def test_control_labels_deal_whole_rows_to_other_examples():
    y = np.arange(40).reshape(10, 4) % 3 == 0
    valid = np.arange(40).reshape(10, 4) % 5 != 0
    y_c, valid_c = control_labels(y, valid)
    rows = [int(np.flatnonzero((y == y_c[i]).all(1) & (valid == valid_c[i]).all(1))[0]) for i in range(10)]
    assert sorted(rows) == list(range(10)) and rows != list(range(10))  # a permutation, not the identity
    assert (y_c.sum(0) == y.sum(0)).all()  # each label keeps its base rate
    assert control_labels(y, valid)[0].tolist() == y_c.tolist()  # fixed: the same at every evaluation


def test_maze_measures_log_the_path_probe_and_both_controls():
    spec = RunSpec(task="maze", size=3, model="L2-D16", steps=1)
    torch.manual_seed(0)
    model = Transformer(spec.model_config).eval()
    out = maze_measures(model, probe_batch(spec.task_obj, 3, spec.eval_seed, n=128))
    names = {"path_probe_L0", "path_probe_L1", "path_probe_best", "path_probe_best_control",
             "wall_probe_best", "wall_probe_best_control"}  # fmt: skip
    assert names <= set(out)
    assert all(0.0 <= out[name] <= 1.0 for name in names)
