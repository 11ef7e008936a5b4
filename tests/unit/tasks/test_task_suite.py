"""The Task interface: hand-computed conventions, masks, sampling, scoring, determinism."""

import numpy as np
import pytest

from search_scaling.tasks import TASKS, get_task
from search_scaling.tasks.base import answer_span

ALL_TASKS = ["maze", "maze_target", "binary_copy", "parity", "polynomial", "d3", "induction", "assoc_recall",
             "graph_search", "path_star"]  # fmt: skip
SIZES = {
    "maze": 4,
    "maze_target": 4,
    "binary_copy": 5,
    "parity": 5,
    "polynomial": 5,
    "d3": 4,
    "induction": 6,
    "assoc_recall": 5,
    "graph_search": 9,
    "path_star": 5,
}


def perfect_completions(batch, width=None):
    width = width or int((batch.length - batch.prompt_len).max())
    want, valid = answer_span(batch, width)
    return np.where(valid, want, batch.tokens[0, -1])


# -- hand-computed encodings ---------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, inputs, expected",
    [
        ("parity", {"x": [1, 0, 1], "cot": True}, [59, 1, 0, 1, 62, 1, 1, 0]),
        ("parity", {"x": [1, 0, 1], "cot": False}, [59, 1, 0, 1, 62, 0, 63, 63]),
        ("binary_copy", {"x": [0, 1, 1], "cot": True}, [60, 0, 1, 1, 62, 0, 1, 1]),
        ("binary_copy", {"x": [1], "cot": False}, [60, 1, 62, 1]),
        ("polynomial", {"x": [3, 4, 5], "cot": True}, [58, 3, 4, 5, 62, 3, 2, 0]),
        ("polynomial", {"x": [3, 4, 5], "cot": False}, [58, 3, 4, 5, 62, 0, 63, 63]),
        ("d3", {"e0": "r", "ops": ["s", "r"]}, [6, 1, 7, 3, 7, 1, 8, 3]),
        ("d3", {"e0": "e", "ops": ["r", "r", "r"]}, [6, 0, 7, 1, 7, 1, 7, 1, 8, 0]),
        ("d3", {"e0": "s", "ops": ["s"]}, [6, 3, 7, 3, 8, 0]),
        ("induction", {"r": [3, 1, 2]}, [64, 3, 1, 2, 3, 1, 2]),
        ("assoc_recall", {"keys": [2, 0], "values": [37, 33], "query": 0}, [64, 2, 37, 0, 33, 65, 0, 33]),
    ],
)
def test_encode_example_hand_computed(name, inputs, expected):
    assert get_task(name).encode_example(**inputs) == expected


def test_maze_encode_example_uses_aotp():
    text = (
        "<ADJLIST_START> (0,0) <--> (0,1) ; (0,1) <--> (1,1) ; <ADJLIST_END> <ORIGIN_START> (0,0) "
        "<ORIGIN_END> <TARGET_START> (1,1) <TARGET_END> <PATH_START> (0,0) (0,1) (1,1) <PATH_END>"
    )
    assert get_task("maze").encode_example(text) == [
        0,
        11,
        8,
        12,
        9,
        12,
        8,
        14,
        9,
        1,
        4,
        11,
        5,
        2,
        14,
        3,
        6,
        11,
        12,
        14,
        7,
    ]


@pytest.mark.parametrize("name", ["binary_copy", "parity", "polynomial"])
@pytest.mark.parametrize("cot", [True, False])
def test_pal_generated_examples_follow_convention(name, cot):
    task = get_task(name, cot=cot)
    batch = task.generate(200, 6, np.random.default_rng(0))
    assert batch.tokens.shape == (200, 2 * 6 + 3)
    for row, k, mask in zip(batch.tokens, batch.size, batch.answer_mask):
        x = row[1 : k + 1].tolist()
        assert row[k + 1] == 62 and (row[2 * k + 2 :] == 63).all()
        assert row[: 2 * k + 2].tolist() == task.encode_example(x=x, cot=cot)
        assert mask.tolist() == [False] * (k + 2) + [True] * (2 * 6 + 3 - k - 2)  # after EoI, incl. EoS
    assert set(batch.size.tolist()) == set(range(1, 7))  # lengths 1..L_max mixed


def test_d3_generated_and_k2_weighting():
    task = get_task("d3", sampling="k2")
    batch = task.generate(6000, 4, np.random.default_rng(1))
    freq = np.bincount(batch.size, minlength=5)[1:] / len(batch)
    assert np.allclose(freq, np.array([1, 4, 9, 16]) / 30, atol=0.02)
    for row, k, mask in zip(batch.tokens[:100], batch.size, batch.answer_mask):
        names = task.vocabulary()
        ops = [names[i] for i in row[3 : 2 * k + 2 : 2]]
        assert row[: 2 * k + 4].tolist() == task.encode_example(e0=names[row[1]], ops=ops)
        assert np.nonzero(mask)[0].tolist() == [2 * k + 3] and (row[2 * k + 4 :] == 9).all()


def test_induction_and_assoc_recall_masks():
    ind = get_task("induction", n_vocab=16).generate(50, 5, np.random.default_rng(0))
    assert (ind.tokens[:, 0] == 16).all() and (ind.tokens[:, 1:6] == ind.tokens[:, 6:11]).all()
    assert all(len(set(r[1:6].tolist())) == 5 for r in ind.tokens)
    assert np.nonzero(ind.answer_mask[0])[0].tolist() == [7, 8, 9, 10]
    task = get_task("assoc_recall", n_keys=8, n_values=4)
    ar = task.generate(50, 3, np.random.default_rng(0))
    for row in ar.tokens:
        pairs = dict(zip(row[1:7:2].tolist(), row[2:7:2].tolist()))
        assert row[7] == 13 and pairs[int(row[8])] == row[9] and len(pairs) == 3
    assert np.nonzero(ar.answer_mask[0])[0].tolist() == [9]


# -- the shared interface ------------------------------------------------------------------------
@pytest.mark.parametrize("name", ALL_TASKS)
def test_every_task_generates_deterministically_and_scores(name):
    task = get_task(name)
    a = task.generate(16, SIZES[name], np.random.default_rng(5))
    b = task.generate(16, SIZES[name], np.random.default_rng(5))
    assert np.array_equal(a.tokens, b.tokens) and np.array_equal(a.answer_mask, b.answer_mask)
    assert a.tokens.max() < task.vocab_size(SIZES[name])
    assert not a.answer_mask[:, 0].any() and a.answer_mask.any(axis=1).all()
    assert ((a.prompt_len < a.length) & (a.length <= a.tokens.shape[1])).all()
    scores = task.score(a, perfect_completions(a))
    assert scores["exact"].mean() == 1.0 and task.primary_metric in scores
    assert scores[task.primary_metric].mean() == 1.0
    wrong = perfect_completions(a)
    wrong[:, 0] = (wrong[:, 0] + 1) % task.vocab_size(SIZES[name])
    assert task.score(a, wrong)["exact"].mean() == 0.0


def test_loss_mask_modes():
    batch = get_task("d3").generate(8, 3, np.random.default_rng(0))
    full, answer = batch.loss_mask("full"), batch.loss_mask("answer_only")
    assert (answer.sum(axis=1) == 1).all() and (full.sum(axis=1) == batch.length - 1).all()
    assert np.array_equal(batch.loss_mask("curriculum", progress=0.2), answer)
    assert np.array_equal(batch.loss_mask("curriculum", progress=0.7), full)
    with pytest.raises(ValueError, match="must be one of"):
        batch.loss_mask("half")


def test_maze_scores_partial_paths():
    task = get_task("maze", generator="dfs", min_path_len=3)
    batch = task.generate(20, 5, np.random.default_rng(0))
    comp = perfect_completions(batch)
    comp[:, 2] = comp[:, 0]  # third cell jumps back to the origin: invalid, prefix of 2
    s = task.score(batch, comp)
    assert s["exact"].sum() == 0 and s["valid"].sum() == 0 and s["reached"].sum() == 0
    assert (s["first_step"] == 1).all() and (s["prefix_len"] == 2).all()


def test_maze_mixed_sizes_share_vocabulary():
    task = get_task("maze", sampling="uniform")
    batch = task.generate(64, 5, np.random.default_rng(0))
    assert set(batch.size.tolist()) == {2, 3, 4, 5} and batch.tokens.max() < task.vocab_size(5)
    assert task.score(batch, perfect_completions(batch))["exact"].mean() == 1.0


def test_maze_target_variants():
    standard = get_task("maze_target")
    batch = standard.generate(200, 5, np.random.default_rng(0))
    s = standard.score(batch, perfect_completions(batch))
    assert s["reaches_T"].mean() == 1.0 and s["reached_nearest"].mean() == 1.0
    shifted = get_task("maze_target", variant="shifted")
    sb = shifted.generate(200, 5, np.random.default_rng(0))
    ss = shifted.score(sb, perfect_completions(sb))
    assert ss["reaches_T"].mean() == 1.0 and ss["proxy_goal"].sum() == ss["other_goal"].sum() == 0
    anti = get_task("maze_target", variant="anti_target")
    ab = anti.generate(100, 5, np.random.default_rng(0))
    assert anti.score(ab, perfect_completions(ab))["visits_avoided"].sum() == 0
    retarget = get_task("maze_target", variant="retarget", n_demos=2)
    rb = retarget.generate(50, 4, np.random.default_rng(0))
    rs = retarget.score(rb, perfect_completions(rb))
    assert rs["reached_nearest"].mean() == 1.0 and rs["reaches_T"].mean() < 0.5
    assert (np.sum(rb.tokens == 0, axis=1) == 3).all()  # three episodes, each opening <ADJLIST_START>


def test_anti_target_draws_survive_a_rejection_round_that_keeps_nothing():
    """Seed 262 draws a 3x3 anti_target batch whose last rejection round keeps no candidate (loops,
    avoided cells): the batch is still whole and its true paths avoid the avoided cells."""
    anti = get_task("maze_target", variant="anti_target", proxy_corr=0.95, tokenization="grid")
    batch = anti.generate(64, 3, np.random.default_rng(262))
    scores = anti.score(batch, perfect_completions(batch))
    assert len(batch) == 64 and scores["reached_nearest"].mean() == 1.0
    assert scores["visits_avoided"].sum() == 0


def test_maze_target_says_where_episodes_end_under_shift():
    """Every prefix of a true path, closed with <PATH_END>, is a valid episode ending on a known
    cell: the scorer's bucket (T, proxy colour, elsewhere) and end label must match the labels."""
    from search_scaling.tasks.maze.tokens import PATH_END

    task = get_task("maze_target", variant="shifted")  # T = shape a2, proxy = colour b2
    batch = task.generate(40, 4, np.random.default_rng(1))
    full = perfect_completions(batch)
    true_len = (full == PATH_END).argmax(axis=1)
    rows, buckets = np.arange(len(batch)), set()
    for k in range(1, int(true_len.max()) + 1):
        cells = np.minimum(k, true_len)  # a prefix of k cells (the whole path if shorter)
        comp = np.where(np.arange(full.shape[1]) < cells[:, None], full, PATH_END)
        s = task.score(batch, comp)
        end = _end_cells(comp[rows, cells - 1])
        shape, colour = batch.extras["labels"][rows, end[:, 0], end[:, 1]].T
        on_t, on_proxy = shape == 2, (colour == 2) & (shape != 2)
        assert (s["valid"] == 1).all() and np.array_equal(s["reaches_T"], on_t)
        assert np.array_equal(s["proxy_goal"], on_proxy)
        assert np.array_equal(s["other_goal"], ~on_t & ~on_proxy)
        assert np.array_equal(s["end_b2"], colour == 2) and np.array_equal(s["end_a2"], on_t)
        buckets.update(np.where(on_t, "T", np.where(on_proxy, "proxy", "other")).tolist())
    assert buckets == {"T", "proxy", "other"}  # every bucket was exercised


def _end_cells(tokens: np.ndarray) -> np.ndarray:
    """(row, col) of coordinate tokens, read from their text, e.g. "(2,3)"."""
    from search_scaling.tasks.maze.tokens import vocabulary

    vocab = vocabulary(4)
    return np.array([[int(v) for v in vocab[t].strip("()").split(",")] for t in tokens])


@pytest.mark.parametrize(
    "call, needle",
    [
        (lambda: get_task("sorting"), "unknown task 'sorting'; available"),
        (lambda: get_task("parity", depth=3), "task 'parity': bad option"),
        (
            lambda: get_task("parity").generate(4, 0, np.random.default_rng(0)),
            "L_max must be an integer in [1, 64]",
        ),
        (lambda: get_task("d3").encode_example(e0="q", ops=["r"]), "unknown element 'q'"),
        (lambda: get_task("polynomial").encode_example(x=[0, 3]), "x values must be in 1..10"),
        (lambda: get_task("maze", generator="prim"), "generator must be one of"),
        (lambda: get_task("maze_target", target="c1"), "maze_target.target must be a label"),
        (lambda: get_task("d3", sampling="zipf"), "sampling must be one of"),
    ],
)
def test_bad_inputs_raise_clear_errors(call, needle):
    with pytest.raises(ValueError) as err:
        call()
    assert needle in str(err.value)


def test_registry_lists_all_tasks():
    get_task("maze")  # registers late imports
    assert set(ALL_TASKS) <= set(TASKS)


def test_maze_target_encode_example_hand_computed():
    """3x3 corridor maze; two a2 cells, at distances 2 and 4 from the origin (0,0)."""
    task = get_task("maze_target")
    edges = [((0, 0), (0, 1)), ((0, 1), (0, 2)), ((0, 2), (1, 2)), ((1, 2), (1, 1)), ((1, 1), (1, 0)),
             ((1, 0), (2, 0)), ((2, 0), (2, 1)), ((2, 1), (2, 2))]  # fmt: skip
    labels = ["a0 b0", "a1 b1", "a2 b0", "a3 b3", "a0 b1", "a2 b0", "a1 b1", "a1 b1", "a1 b1"]
    ids = task.encode_example(grid_n=3, edges=edges, labels=labels, origin=(0, 0))
    vocab = task.vocabulary(3)
    text = " ".join(vocab[i] for i in ids)
    assert text.endswith("<ORIGIN_START> (0,0) <ORIGIN_END> <PATH_START> (0,0) (0,1) (0,2) <PATH_END>")
    assert "<LABELS_START> (0,0) a0 b0 ; (0,1) a1 b1 ; (0,2) a2 b0 ;" in text
    assert text.startswith("<ADJLIST_START> (0,0) <--> (0,1) ; (0,1) <--> (0,2) ;")
    far = task.encode_example(grid_n=3, edges=edges, labels=labels, origin=(0, 0), rule="a3")
    assert " ".join(vocab[i] for i in far).endswith("(0,0) (0,1) (0,2) (1,2) (1,1) (1,0) <PATH_END>")
    with pytest.raises(ValueError, match="no unique nearest"):
        task.encode_example(grid_n=3, edges=edges, labels=labels, origin=(0, 1), rule="b0")  # (0,0), (0,2)
    with pytest.raises(ValueError, match="origin already matches"):
        task.encode_example(grid_n=3, edges=edges, labels=labels, origin=(0, 2))
