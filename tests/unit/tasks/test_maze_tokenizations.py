"""Maze tokenizations (aotp, aotp_ctt, grid): each generates, solves, scores and round-trips on a
hand-checked maze; aotp_ctt matches maze-dataset 1.4.2; detour strata; bad input."""

import json
from pathlib import Path

import numpy as np
import pytest

from search_scaling.measures.maze import adjacency_keys, target_keys
from search_scaling.tasks import get_task
from search_scaling.tasks.base import answer_span
from search_scaling.tasks.maze import MazeConfig, SolvedMaze, generate
from search_scaling.tasks.maze.batch import mazes_to_batch
from search_scaling.tasks.maze.formats import TOKENIZATIONS, decode_cells, parse_text, to_text, vocabulary
from search_scaling.tasks.maze.task import path_detour

CTT_SAMPLES = [
    json.loads(x) for x in (Path(__file__).parents[2] / "data" / "maze_dataset_ctt_samples.jsonl").open()
]

# A 3x3 maze, checked by hand:      #######
#   S = origin (1,1), E = target     #     #   row 0: (0,0)-(0,1)-(0,2), then down to (1,2)
#   (2,2). The path leaves S left    ##### #
#   (a decision: S has 2 exits),     # S   #   row 1: (1,0)-(1,1)-(1,2)
#   goes down and right: 4 steps,    # #####
#   Manhattan distance 2, detour 2.  #    E#   row 2: (2,0)-(2,1)-(2,2)
#                                    #######
EDGES = [((0, 0), (0, 1)), ((0, 1), (0, 2)), ((0, 2), (1, 2)), ((1, 0), (1, 1)), ((1, 1), (1, 2)),
         ((1, 0), (2, 0)), ((2, 0), (2, 1)), ((2, 1), (2, 2))]  # fmt: skip
PATH = [(1, 1), (1, 0), (2, 0), (2, 1), (2, 2)]
MAZE = SolvedMaze.build(3, EDGES, (1, 1), (2, 2), PATH)
STRAIGHT = SolvedMaze.build(3, EDGES, (0, 0), (0, 2), [(0, 0), (0, 1), (0, 2)])  # no decision, detour 0
HEAD = "<ORIGIN_START> {o} <ORIGIN_END> <TARGET_START> {t} <TARGET_END> <PATH_START> {p} <PATH_END>"
AOTP_ADJ = ("(0,0) <--> (0,1) ; (0,1) <--> (0,2) ; (0,2) <--> (1,2) ; (1,0) <--> (1,1) ; (1,0) <--> (2,0) ; "
            "(1,1) <--> (1,2) ; (2,0) <--> (2,1) ; (2,1) <--> (2,2) ;")  # fmt: skip
CTT = lambda s: s.replace("(", "( ").replace(",", " , ").replace(")", " )")  # noqa: E731
EXPECTED = {
    "aotp": f"<ADJLIST_START> {AOTP_ADJ} <ADJLIST_END> "
    + HEAD.format(o="(1,1)", t="(2,2)", p="(1,1) (1,0) (2,0) (2,1) (2,2)"),
    "aotp_ctt": f"<ADJLIST_START> {CTT(AOTP_ADJ)} <ADJLIST_END> "
    + HEAD.format(o="( 1 , 1 )", t="( 2 , 2 )", p=CTT("(1,1) (1,0) (2,0) (2,1) (2,2)")),
    "grid": "<ADJLIST_START> {R} {LR} {LD} {RD} {LR} {UL} {UR} {LR} {L} <ADJLIST_END> "
    + HEAD.format(o="(1,1)", t="(2,2)", p="(1,1) (1,0) (2,0) (2,1) (2,2)"),
}
PER_CELL = {"aotp": 1, "aotp_ctt": 5, "grid": 1}


def ids_of(tokenization: str, text: str, size: int = 3) -> list[int]:
    vocab = {tok: i for i, tok in enumerate(vocabulary(tokenization, size))}
    return [vocab[t] for t in text.split()]


def hand_batch(tokenization: str, mazes=(MAZE, STRAIGHT), size: int = 3):
    task = get_task("maze", tokenization=tokenization)
    return task, task.from_mazes(mazes_to_batch(list(mazes)), size)


def with_path(maze: SolvedMaze, path) -> SolvedMaze:
    return SolvedMaze.build(maze.grid_n, maze.edges, maze.origin, maze.target, path)


@pytest.mark.parametrize("tokenization", TOKENIZATIONS)
def test_hand_maze_is_written_as_checked_by_hand(tokenization):
    task, batch = hand_batch(tokenization)
    want = ids_of(tokenization, EXPECTED[tokenization])
    assert batch.tokens[0, : batch.length[0]].tolist() == want
    assert task.encode_example(EXPECTED[tokenization]) == want
    assert to_text(tokenization, MAZE) == EXPECTED[tokenization]
    assert batch.tokens[0, batch.prompt_len[0] - 1] == 6  # the prompt ends with <PATH_START>
    w = PER_CELL[tokenization]
    assert batch.length[0] - batch.prompt_len[0] == w * len(PATH) + 1  # the path and <PATH_END>
    assert batch.extras["n_decisions"].tolist() == [1, 0] and batch.extras["detour"].tolist() == [2, 0]
    groups = batch.extras["token_group"][0]  # by answer offset: the step out of S is the decision
    step_tokens = [w * 1 + 1, w * 1 + 3] if w == 5 else [1]
    assert np.flatnonzero(groups == 2).tolist() == step_tokens
    assert (groups == 1).sum() == (len(PATH) - 2) * (2 if w == 5 else 1)
    assert len(task.vocabulary(3)) == {"aotp": 20, "aotp_ctt": 17, "grid": 36}[tokenization]
    assert task.vocabulary(5)[: len(task.vocabulary(3))] == task.vocabulary(3)  # sizes share a prefix


@pytest.mark.parametrize("tokenization", TOKENIZATIONS)
def test_true_path_scores_one_and_wrong_paths_zero(tokenization):
    task, batch = hand_batch(tokenization)
    width = int((batch.length - batch.prompt_len).max())
    want, valid = answer_span(batch, width)
    true = task.score(batch, np.where(valid, want, 10))
    for metric in ("exact", "valid", "reached", "prefix_frac", "first_step"):
        assert true[metric].tolist() == [1.0, 1.0], metric
    assert true["exact_dec_1"][0] == 1 and true["exact_detour_2"][0] == 1 and true["exact_detour_0"][1] == 1
    through_wall = [(1, 1), (2, 1), (2, 2)]  # (1,1)-(2,1) is a wall
    wrong_turn = [(1, 1), (1, 2), (0, 2)]  # legal moves, wrong way, stops off the target
    for path, valid_after in ((through_wall, 0.0), (wrong_turn, 1.0)):
        text = to_text(tokenization, with_path(MAZE, path))
        answer = ids_of(tokenization, text.split("<PATH_START>")[1])
        got = np.full((1, width), 10)
        got[0, : len(answer)] = answer
        score = task.score(batch.subset(np.array([0])), got)
        assert score["exact"][0] == 0 and score["reached"][0] == 0 and score["valid"][0] == valid_after
        assert score["prefix_len"][0] == 1  # only the origin matches
        assert score["exact_dec_1"][0] == 0 and score["exact_detour_2"][0] == 0


@pytest.mark.parametrize("tokenization", TOKENIZATIONS)
def test_tokens_round_trip_through_the_maze(tokenization):
    task, batch = hand_batch(tokenization)
    ids = batch.tokens[0, : batch.length[0]].tolist()
    assert task.decode_example(ids, 3) == MAZE
    assert task.encode_example(**MAZE.__dict__) == ids
    assert parse_text(tokenization, EXPECTED[tokenization]) == MAZE
    # generated mazes (sorted adjacency lists, so a maze has one spelling) round-trip too
    config = MazeConfig(grid_n=4, adj_order="sorted", generator="percolation", p=0.2)
    mazes = generate(config, 16, np.random.default_rng(3))
    examples = get_task("maze", tokenization=tokenization, adj_order="sorted").from_mazes(mazes)
    for i in range(16):
        ids = examples.tokens[i, : examples.length[i]].tolist()
        assert task.decode_example(ids, 4) == SolvedMaze.from_batch(mazes, i)
        assert task.encode_example(**task.decode_example(ids, 4).__dict__) == ids


def test_every_format_writes_the_same_mazes_and_ctt_keeps_the_aotp_edge_order():
    rng = lambda: np.random.default_rng(7)  # noqa: E731
    batches = {
        t: get_task("maze", tokenization=t, sampling="uniform").generate(32, 4, rng()) for t in TOKENIZATIONS
    }
    for t in TOKENIZATIONS:
        assert np.array_equal(batches[t].extras["moves"], batches["aotp"].extras["moves"])
        assert np.array_equal(batches[t].extras["detour"], batches["aotp"].extras["detour"])
    aotp, ctt = get_task("maze"), get_task("maze", tokenization="aotp_ctt")
    for i in range(32):
        text = " ".join(aotp.vocabulary(4)[t] for t in batches["aotp"].tokens[i] if t != 10)
        assert " ".join(ctt.vocabulary(4)[t] for t in batches["aotp_ctt"].tokens[i] if t != 10) == CTT(text)
    for t in TOKENIZATIONS:
        assert batches[t].tokens.shape[1] <= get_task("maze", tokenization=t).max_len(4)


@pytest.mark.parametrize("sample", CTT_SAMPLES, ids=lambda s: f"{s['generator']}{s['grid_n']}")
def test_coordinate_tuples_match_maze_dataset(sample):
    n = sample["grid_n"]
    conn = np.array(sample["connection_list"], dtype=bool)
    edges = [((r, c), (r + 1, c)) for r, c in zip(*np.nonzero(conn[0]))]
    edges += [((r, c), (r, c + 1)) for r, c in zip(*np.nonzero(conn[1]))]
    path = [tuple(p) for p in sample["solution"]]
    theirs = SolvedMaze.build(n, [tuple(map(lambda x: tuple(int(v) for v in x), e)) for e in edges],
                              path[0], path[-1], path)  # fmt: skip
    assert to_text("aotp_ctt", theirs) == sample["sorted_ctt_tokens"]  # byte for byte
    for key in ("legacy_ctt_tokens", "sorted_ctt_tokens"):
        assert parse_text("aotp_ctt", sample[key], n) == theirs
    # ids: our vocabulary is maze-dataset's legacy AOTP_CTT_indexed table (cut at the grid size)
    assert ids_of("aotp_ctt", sample["legacy_ctt_tokens"], n) == sample["legacy_ctt_ids"]
    task = get_task("maze", tokenization="aotp_ctt", adj_order="sorted")
    ours = task.from_mazes(mazes_to_batch([theirs]))
    assert ours.tokens[0, : ours.length[0]].tolist() == ids_of("aotp_ctt", sample["sorted_ctt_tokens"], n)


def test_detour_of_hand_checked_paths():
    paths = np.array([[4, 3, 6, 7, 8], [0, 1, 2, -1, -1], [8, 5, 4, 3, 0]])  # cells of a 3x3 grid
    assert path_detour(paths, np.array([5, 3, 5]), 3).tolist() == [2, 0, 0]


@pytest.mark.parametrize("tokenization", TOKENIZATIONS)
def test_measure_positions_follow_the_format(tokenization):
    _, batch = hand_batch(tokenization, mazes=(MAZE,))
    keys = adjacency_keys(batch.tokens, batch.prompt_len, tokenization)[0]  # [Tq, Tk]
    w = PER_CELL[tokenization]
    # the position that predicts the third path cell (aotp, grid: its token; ctt: its row token),
    # while the walker stands on the second, (1,0)
    at = batch.prompt_len[0] + {1: 1, 5: 10}[w]
    if tokenization == "grid":
        assert np.flatnonzero(keys[at]).tolist() == [1 + 3]  # (1,0)'s wall token, raster cell 3
    else:  # the entries (1,0) <--> (1,1) and (1,0) <--> (2,0): the 4th and 5th of the sorted list
        entry = 2 * w + 2
        assert np.flatnonzero(keys[at]).tolist() == list(range(1 + 3 * entry, 1 + 5 * entry))
    target = np.flatnonzero(
        target_keys(batch.tokens, batch.prompt_len, batch.extras["target_rc"], tokenization)[0]
    )
    tokens = EXPECTED[tokenization].split()
    t_start = tokens.index("<TARGET_START>")
    assert target.tolist() == list(range(t_start + 1, t_start + 1 + w))  # the target block's coordinate


@pytest.mark.parametrize("tokenization", ["aotp_ctt", "grid"])
def test_maze_target_in_every_format(tokenization):
    task = get_task("maze_target", tokenization=tokenization, variant="retarget")
    batch = task.generate(16, 3, np.random.default_rng(0))
    aotp = get_task("maze_target", variant="retarget").generate(16, 3, np.random.default_rng(0))
    assert np.array_equal(batch.extras["labels"], aotp.extras["labels"])  # the same episodes
    assert batch.tokens.shape[1] <= task.max_len(3) and batch.tokens.max() < task.vocab_size(3)
    width = int((batch.length - batch.prompt_len).max())
    want, valid = answer_span(batch, width)
    scores = task.score(batch, np.where(valid, want, 10))
    assert scores["reached_nearest"].mean() == 1.0 and scores["exact"].mean() == 1.0
    ids = np.array(task.encode_example(3, EDGES, ["a0 b0"] * 8 + ["a2 b2"], (1, 1)))  # goal: (2,2)
    answer = ids[np.flatnonzero(ids == 6)[-1] + 1 :]  # after <PATH_START>
    rc, n_cells, ended = decode_cells(answer[None, :], 3, tokenization)
    assert ended[0] and [tuple(x) for x in rc[0, : n_cells[0]].tolist()] == PATH


def test_unknown_tokenization_is_one_error_listing_the_choices(tmp_path, capsys):
    from search_scaling.cli import main

    for task in ("maze", "maze_target"):
        with pytest.raises(ValueError, match=r"tokenization must be one of \['aotp', 'aotp_ctt', 'grid'\]"):
            get_task(task, tokenization="ctt")
    spec = tmp_path / "bad.yaml"
    spec.write_text("name: t\ntasks: [{task: maze, sizes: [3], options: {tokenization: rows}}]\n"
                    "models: [L1-D8]\nseeds: 1\nbudget: {steps: 4}")  # fmt: skip
    assert main(["validate", str(spec)]) == 2
    err = capsys.readouterr().err
    assert "maze.tokenization must be one of ['aotp', 'aotp_ctt', 'grid'], got 'rows'" in err


def test_malformed_grid_text_names_the_problem():
    good = EXPECTED["grid"]
    with pytest.raises(ValueError, match="not a wall token"):
        parse_text("grid", good.replace("{LR}", "{XY}", 1))
    with pytest.raises(ValueError, match="not matched by its neighbour"):
        parse_text("grid", good.replace("{R}", "{RD}", 1))  # (0,0) opens down, (1,0) does not open up
    with pytest.raises(ValueError, match="one per cell"):
        parse_text("grid", good.replace("{L} ", "", 1))
