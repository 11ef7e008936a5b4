"""Token format, vocabulary, parser errors, rendering and compatibility with maze-dataset 1.4.2."""

import json
from pathlib import Path

import numpy as np
import pytest

from search_scaling.tasks.maze import (
    MazeConfig,
    SolvedMaze,
    coord_id,
    generate,
    parse_aotp,
    render_ascii,
    solve,
    to_aotp,
    vocabulary,
)

SAMPLES = [json.loads(x) for x in (Path(__file__).parents[2] / "data" / "maze_dataset_samples.jsonl").open()]
EXAMPLE = (
    "<ADJLIST_START> (0,0) <--> (0,1) ; (0,1) <--> (1,1) ; <ADJLIST_END> <ORIGIN_START> (0,0) <ORIGIN_END> "
    "<TARGET_START> (1,1) <TARGET_END> <PATH_START> (0,0) (0,1) (1,1) <PATH_END>"
)


def test_vocabulary_order_and_prefix():
    vocab = vocabulary(3)
    assert vocab[:11] == [
        "<ADJLIST_START>", "<ADJLIST_END>", "<TARGET_START>", "<TARGET_END>", "<ORIGIN_START>",
        "<ORIGIN_END>", "<PATH_START>", "<PATH_END>", "<-->", ";", "<PADDING>",
    ]  # fmt: skip
    assert vocab[11:] == ["(0,0)", "(0,1)", "(1,0)", "(1,1)", "(0,2)", "(2,0)", "(1,2)", "(2,1)", "(2,2)"]
    assert vocabulary(7)[: len(vocab)] == vocab
    assert all(vocabulary(7)[coord_id(r, c)] == f"({r},{c})" for r in range(7) for c in range(7))


def test_issue_example_parses():
    maze = parse_aotp(EXAMPLE)
    assert (maze.grid_n, maze.origin, maze.target) == (2, (0, 0), (1, 1))
    assert set(maze.edges) == {((0, 0), (0, 1)), ((0, 1), (1, 1))}
    assert list(maze.path) == [(0, 0), (0, 1), (1, 1)]
    assert to_aotp(maze) == EXAMPLE


def _their_edges(sample):
    conn = np.array(sample["connection_list"], dtype=bool)
    down = [((r, c), (r + 1, c)) for r, c in zip(*np.nonzero(conn[0]))]
    right = [((r, c), (r, c + 1)) for r, c in zip(*np.nonzero(conn[1]))]
    return {tuple((int(a), int(b)) for a, b in e) for e in down + right}


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: f"{s['generator']}{s['grid_n']}")
def test_maze_dataset_strings_parse_to_their_maze(sample):
    for key in ("legacy_tokens", "sorted_tokens"):
        maze = parse_aotp(sample[key], grid_n=sample["grid_n"])
        assert set(maze.edges) == _their_edges(sample)
        assert list(maze.path) == [tuple(p) for p in sample["solution"]]
    assert to_aotp(maze) == sample["sorted_tokens"]  # byte-identical sorted form
    assert solve(maze.grid_n, maze.edges, maze.origin, maze.target) == [tuple(p) for p in sample["solution"]]
    assert render_ascii(maze) == sample["ascii"]


@pytest.mark.parametrize(
    "text, needle",
    [
        ("", "sequence ended early"),
        ("<ADJLIST_END>", "expected <ADJLIST_START>: token '<ADJLIST_END>' at position 0"),
        (EXAMPLE.replace("(0,1) <--> (1,1)", "(0,1) <--> (2,2)"), "not adjacent"),
        (EXAMPLE.replace("<ORIGIN_START> (0,0)", "<ORIGIN_START> (0;0)"), "token '(0;0)' at position 11"),
        (EXAMPLE.replace("(0,0) <-->", "(0,0) <->"), "expected <-->: token '<->' at position 2"),
        (EXAMPLE + " (1,1)", "after <PATH_END>"),
        (EXAMPLE.replace(" <PATH_END>", ""), "ended early"),
    ],
)
def test_malformed_strings_name_the_token_and_position(text, needle):
    with pytest.raises(ValueError, match="malformed AOTP maze") as err:
        parse_aotp(text)
    assert needle in str(err.value)


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        ({"grid_n": 1}, "grid_n must be an integer in [2, 64]"),
        ({"grid_n": 5, "generator": "prim"}, "generator must be one of"),
        ({"grid_n": 3, "min_path_len": 9}, "min_path_len must be an integer in [1, 8]"),
        ({"grid_n": 5, "p": 0.5}, "only applies to generator='percolation'"),
        ({"grid_n": 5, "generator": "percolation", "p": 1.5}, "p must be in [0, 1]"),
        ({"grid_n": 5, "generator": "percolation", "p": 1.0, "endpoints": "deadends"}, "impossible"),
    ],
)
def test_impossible_configs_raise(kwargs, needle):
    with pytest.raises(ValueError) as err:
        MazeConfig(**kwargs)
    assert needle in str(err.value)


def test_infeasible_endpoints_raise_clearly():
    with pytest.raises(ValueError, match="no valid endpoints"):
        generate(MazeConfig(6, "dfs", min_path_len=35), 50, np.random.default_rng(0))


def test_solve_rejects_bad_edges():
    with pytest.raises(ValueError, match="adjacent"):
        solve(3, [((0, 0), (1, 1))], (0, 0), (1, 1))
    with pytest.raises(ValueError, match="not reachable"):
        solve(3, [((0, 0), (0, 1))], (0, 0), (2, 2))


def test_loop_tie_break_is_documented_rule():
    """Full 2x2 grid: two shortest paths from (1,1) to (0,0); the rule picks 'up' first."""
    edges = [((0, 0), (0, 1)), ((0, 0), (1, 0)), ((0, 1), (1, 1)), ((1, 0), (1, 1))]
    assert solve(2, edges, (1, 1), (0, 0)) == [(1, 1), (0, 1), (0, 0)]


def test_render_marks():
    maze = SolvedMaze.from_batch(generate(MazeConfig(4), 1, np.random.default_rng(0)), 0)
    art = render_ascii(maze)
    assert art.count("S") == 1 and art.count("E") == 1
    assert art.count("X") == 2 * len(maze.path) - 3  # path cells + connections, minus S and E
