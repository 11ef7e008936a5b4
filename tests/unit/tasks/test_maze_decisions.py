"""Decision points (where the search is), balanced endpoints and the decision-token metrics."""

import hashlib

import numpy as np
import pytest

from search_scaling.tasks import get_task
from search_scaling.tasks.maze import MazeConfig, build_dataset
from search_scaling.tasks.maze.decisions import CORRIDOR, DECISION, answer_kinds, count_decisions
from search_scaling.tasks.maze.lattice import conn_from_edges, open_moves
from search_scaling.tasks.maze.solve import shortest_paths


def maze(n: int, edges: list[tuple[tuple[int, int], tuple[int, int]]]):
    """Hand-built maze: open moves bool[1, N, 4] and the solver, from (row, col) edge pairs."""
    a = np.array([[u[0] * n + u[1] for u, _ in edges]])
    b = np.array([[v[0] * n + v[1] for _, v in edges]])
    conn = conn_from_edges(n, a, b)
    return conn, open_moves(conn)


def decisions_on(n, edges, origin, target):
    conn, moves = maze(n, edges)
    o, t = np.array([origin[0] * n + origin[1]]), np.array([target[0] * n + target[1]])
    paths, length = shortest_paths(conn, o, t)
    return int(count_decisions(moves, paths, length)[0]), answer_kinds(moves, paths, length, n * n + 1)[0]


# A 3x3 snake: (0,0)-(0,1)-(0,2)-(1,2)-(1,1)-(1,0)-(2,0)-(2,1)-(2,2), a single corridor.
SNAKE = [((0, 0), (0, 1)), ((0, 1), (0, 2)), ((0, 2), (1, 2)), ((1, 2), (1, 1)), ((1, 1), (1, 0)),
         ((1, 0), (2, 0)), ((2, 0), (2, 1)), ((2, 1), (2, 2))]  # fmt: skip
# A 3x3 comb: the spine (0,0)-(1,0)-(2,0) with the teeth (r,0)-(r,1)-(r,2) for every row.
COMB = [((0, 0), (1, 0)), ((1, 0), (2, 0))] + [((r, c), (r, c + 1)) for r in range(3) for c in range(2)]


def test_a_corridor_has_no_decisions():
    count, kinds = decisions_on(3, SNAKE, (0, 0), (2, 2))
    assert count == 0
    assert kinds[0] == 0 and (kinds[1:9] == CORRIDOR).all() and (kinds[9:] == 0).all()


def test_an_origin_inside_a_corridor_is_a_decision():
    """(1,1) has two open moves: which way to go is the whole question."""
    count, kinds = decisions_on(3, SNAKE, (1, 1), (0, 0))
    assert count == 1 and kinds[1] == DECISION and (kinds[2:5] == CORRIDOR).all()


def test_a_t_junction_at_the_origin_and_on_the_path():
    # from (1,0): up, down and right are open -> a decision; the path (1,0) (0,0) (0,1) (0,2)
    count, kinds = decisions_on(3, COMB, (1, 0), (0, 2))
    assert count == 1 and list(kinds[:5]) == [0, DECISION, CORRIDOR, CORRIDOR, 0]
    # from (0,2) to (2,2): (0,2) (0,1) (0,0) (1,0)* (2,0) (2,1) (2,2); * has exits right and down
    count, kinds = decisions_on(3, COMB, (0, 2), (2, 2))
    assert count == 1 and list(kinds[:8]) == [
        0,
        CORRIDOR,
        CORRIDOR,
        CORRIDOR,
        DECISION,
        CORRIDOR,
        CORRIDOR,
        0,
    ]


def test_a_tree_with_a_known_count():
    # 4x4: a spine along row 0 with a tooth down every column; (0,0) -> (3,3) passes (0,1), (0,2)
    # (each a junction: a tooth and the spine onwards) and turns down at (0,3)
    edges = [((0, c), (0, c + 1)) for c in range(3)] + [
        ((r, c), (r + 1, c)) for c in range(4) for r in range(3)
    ]
    count, _ = decisions_on(4, edges, (0, 0), (3, 3))
    assert count == 3  # the origin (right or down), (0,1), (0,2); (0,3) has only down left


def test_balanced_counts_are_uniform_and_byte_identical():
    cfg = MazeConfig(5, endpoints="balanced")
    lo, hi = cfg.decision_range()
    assert (lo, hi) == (0, 4)
    batch = build_dataset(cfg, 1500, seed=3)
    counts = count_decisions(open_moves(batch.conn), batch.paths, batch.path_len)
    hist = np.bincount(counts, minlength=hi + 1)
    assert len(hist) == hi + 1 and hist.min() > 0
    expected = len(counts) / (hi + 1)
    assert ((hist - expected) ** 2 / expected).sum() < 18.5  # chi-square, 4 dof, p = 0.001

    def digest(b):
        return hashlib.sha256(b"".join(a.tobytes() for a in b.arrays().values())).hexdigest()

    reference = digest(build_dataset(cfg, 200, seed=5))
    assert digest(build_dataset(cfg, 200, seed=5, batch_size=13)) == reference
    assert digest(build_dataset(cfg, 200, seed=5, workers=2, batch_size=50)) == reference


def test_balanced_with_loops_counts_on_the_solved_path():
    cfg = MazeConfig(4, "percolation", p=0.3, endpoints="balanced", max_decisions=2)
    batch = build_dataset(cfg, 300, seed=1)
    counts = count_decisions(open_moves(batch.conn), batch.paths, batch.path_len)
    assert set(np.unique(counts)) <= {0, 1, 2} and np.bincount(counts).min() > 60


def test_infeasible_max_decisions_names_field_size_and_range():
    with pytest.raises(
        ValueError, match=r"max_decisions=9 is infeasible for grid_n=3 .*feasible range \[0, 2\]"
    ):
        MazeConfig(3, endpoints="balanced", max_decisions=9)
    with pytest.raises(ValueError, match="only applies to endpoints='balanced'"):
        MazeConfig(3, max_decisions=1)
    with pytest.raises(ValueError, match="max_decisions"):
        get_task("maze", endpoints="balanced", max_decisions=9).check_size(3)


def test_token_groups_mark_the_steps_of_every_path():
    task = get_task("maze", endpoints="balanced")
    batch = task.generate(64, 4, np.random.default_rng(0))
    kinds = batch.extras["token_group"]
    steps = (kinds > 0).sum(axis=1)
    path_cells = batch.length - batch.prompt_len - 1  # the answer minus <PATH_END>
    assert np.array_equal(steps, path_cells - 1)
    assert np.array_equal((kinds == DECISION).sum(axis=1), batch.extras["n_decisions"])


def test_max_decisions_is_checked_at_the_task_size_and_capped_for_mixed_smaller_sizes():
    task = get_task("maze", endpoints="balanced", max_decisions=3, sampling="uniform")
    task.check_size(5)
    assert task.config(2).max_decisions == 1  # a 2x2 maze offers at most one decision
    counts = task.generate(200, 5, np.random.default_rng(0)).extras["n_decisions"]
    assert counts.max() == 3


def test_decision_metrics_of_a_model_that_only_knows_the_corridors():
    """An oracle for corridor tokens that guesses uniformly at decisions: corridor loss ~0 and
    accuracy 1; decision loss log(V) (uniform over the vocabulary)."""
    import torch

    from search_scaling.tasks.base import token_groups
    from search_scaling.training.evaluate import _teacher_forced

    task = get_task("maze", endpoints="balanced")
    batch = task.generate(32, 4, np.random.default_rng(1))
    idx = np.arange(len(batch))
    groups = torch.from_numpy(token_groups(batch, idx))
    vocab = task.vocab_size(4)

    def model(x):  # logits [n, T-1, V]: the true next token at +30, except flat at decisions
        logits = torch.zeros(*x.shape, vocab)
        logits.scatter_(2, torch.from_numpy(batch.tokens[:, 1:])[..., None], 30.0)
        return torch.where((groups == DECISION)[..., None], torch.zeros_like(logits), logits)

    sums = _teacher_forced(model, task, batch, idx, torch.device("cpu"))
    assert sums["n_decision"] == batch.extras["n_decisions"].sum() > 0
    assert sums["nll_corridor"] / sums["n_corridor"] < 1e-6 and sums["hits_corridor"] == sums["n_corridor"]
    assert sums["nll_decision"] / sums["n_decision"] == pytest.approx(np.log(vocab), rel=1e-5)
