"""Graph search and path-star: hand-computed encodings and lookaheads, the vectorised generators
against the plain Python reference, the balanced lookahead histogram, scoring, teacherless inputs
and bad options."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from search_scaling.tasks import get_task
from search_scaling.tasks.base import answer_span
from search_scaling.tasks.graphs import dag, reference
from search_scaling.tasks.graphs.search import END, VERTEX0


def perfect(batch):
    width = int((batch.length - batch.prompt_len).max())
    want, valid = answer_span(batch, width)
    return np.where(valid, want, batch.tokens[0, -1])


# -- path-star -------------------------------------------------------------------------------------
STAR3 = [(5, 2), (2, 8), (5, 0), (0, 7), (5, 4), (4, 1)]  # G(3, 3): source 5, arms 5-2-8, 5-0-7, 5-4-1


def test_path_star_three_arms_exact_token_ids():
    """5 2 | 2 8 | 5 0 | 0 7 | 5 4 | 4 1 / 5 7 = 5 0 7 with | = 50, = = 51, / = 52 (n_nodes 50)."""
    prompt = [5, 2, 50, 2, 8, 50, 5, 0, 50, 0, 7, 50, 5, 4, 50, 4, 1, 52, 5, 7, 51]
    assert get_task("path_star", degree=3).encode_example(edges=STAR3, source=5, goal=7) == prompt + [5, 0, 7]
    reverse = get_task("path_star", degree=3, reverse=True)
    assert reverse.encode_example(edges=STAR3, source=5, goal=7) == prompt + [7, 0, 5]
    assert reverse.max_len(3) == len(prompt) + 3
    assert reverse.vocabulary()[50:] == ["|", "=", "/", "$", "<pad>"]


@pytest.mark.parametrize("options", [{}, {"reverse": True, "teacherless": True}])
def test_path_star_rows_are_path_stars_and_encode_back(options):
    task = get_task("path_star", degree=4, n_nodes=30, **options)
    batch = task.generate(64, 4, np.random.default_rng(0))
    assert batch.tokens.shape == (64, 3 * 4 * 3 + 3 + 4) and (batch.prompt_len == 39).all()
    for row, inputs in zip(batch.tokens, batch.model_inputs()):
        edges = [tuple(row[3 * e : 3 * e + 2]) for e in range(12)]
        source, goal, answer = row[36], row[37], row[39:].tolist()
        children = {}
        for u, v in edges:
            children.setdefault(u, []).append(v)
        assert len(children[source]) == 4 and len({x for e in edges for x in e}) == 13  # 4 arms, 13 ids
        assert row.tolist() == task.encode_example(edges=edges, source=source, goal=goal)
        path = answer[::-1] if options else answer
        assert path[0] == source and path[-1] == goal and goal not in children
        assert (inputs[39:] == (task.dollar if options else row[39:])).all()
        assert (inputs[:39] == row[:39]).all()
    assert np.nonzero(batch.answer_mask[0])[0].tolist() == [39, 40, 41, 42]
    assert batch.extras["token_group"][0].tolist() == [0, 1, 2, 2]


def test_path_star_scores_and_clever_hans_index():
    task = get_task("path_star", degree=2)
    batch = task.generate(20, 5, np.random.default_rng(1))
    comp = perfect(batch)
    assert task.score(batch, comp)["exact"].mean() == 1 and task.score(batch, comp)["first_step"].mean() == 1
    comp[:, 1] = comp[:, 0]
    s = task.score(batch, comp)
    assert s["exact"].sum() == 0 and s["first_step"].sum() == 0
    assert s["token_acc"].mean() == pytest.approx(0.8)
    assert task.summary_metrics({"first_acc": 0.5, "later_acc": 1.0}) == {"clever_hans": 0.5}
    assert task.summary_metrics({"first_acc": 0.5}) == {}


# -- graph search ----------------------------------------------------------------------------------
# Start 0; the path 0-1-2-3 to the goal 3; a distractor 0-4-5-6 of the same length, which also points
# into the path (5 -> 2, one level too late to shorten it); a dead end 0-7. By hand: level 1 {1, 4, 7}
# (mixed) -> level 2 {2, 5} (mixed; 2 from 1) -> level 3 {3, 6} holds the goal: lookahead 3.
DAG = [(0, 1), (1, 2), (2, 3), (0, 4), (4, 5), (5, 6), (5, 2), (0, 7)]
# Cut the distractor to 0-4-5 (and drop 5 -> 2): level 3 is {3} alone, below the first move: lookahead 2.
SHORT = [(0, 1), (1, 2), (2, 3), (0, 4), (4, 5), (0, 7)]


@pytest.mark.parametrize(
    "edges, goal, lookahead",
    [(DAG, 3, 3), (SHORT, 3, 2), ([(0, 1), (1, 2)], 2, 0), ([(0, 1), (0, 2)], 1, 1)],  # forced; one step
)  # fmt: skip
def test_lookahead_of_hand_computed_dags(edges, goal, lookahead):
    assert reference.lookahead_depth(edges, 0, 1, goal) == lookahead
    adj = np.zeros((1, 8, 8), dtype=bool)
    for u, v in edges:
        adj[0, u, v] = True
    measured = dag.measure(dag.Graphs(adj, np.array([8]), np.array([0]), np.array([goal])))
    assert measured.unique[0] and measured.lookahead[0] == lookahead
    assert measured.path[0, : measured.path_len[0]].tolist() == list(range(goal + 1))


def test_graph_search_encode_example_hand_computed():
    task = get_task("graph_search")  # E=0 Q=1 P=2 <end>=3 <pad>=4, vertex v = 5 + v
    ids = task.encode_example(edges=[(0, 1), (1, 2), (0, 3)], start=0, goal=2)
    assert ids == [0, 5, 6, 0, 6, 7, 0, 5, 8, 1, 5, 7, 2, 5, 6, 7, 3]
    with pytest.raises(ValueError, match="2 shortest paths"):
        task.encode_example(edges=[(0, 1), (1, 2), (0, 3), (3, 2)], start=0, goal=2)


@pytest.mark.parametrize("distribution", ["naive", "star", "balanced"])
def test_vectorised_measurements_match_the_reference(distribution):
    rng = np.random.default_rng(3)
    if distribution == "naive":
        graphs = dag.naive(150, 12, rng)
    elif distribution == "star":
        graphs = dag.star(150, 12, 5, rng)
    else:
        graphs = dag.balanced(rng.integers(0, 6, 150), 12, rng)
    measured = dag.measure(graphs)
    for b in range(150):
        edges = [tuple(int(x) for x in e) for e in np.argwhere(graphs.adj[b])]
        start, goal = int(graphs.start[b]), int(graphs.goal[b])
        count, path = reference.shortest_paths(edges, start, goal)
        assert count > 0 and measured.unique[b] == (count == 1)
        if count == 1:
            assert measured.path[b, : measured.path_len[b]].tolist() == path
            assert measured.lookahead[b] == reference.lookahead_depth(edges, start, path[1], goal)


@pytest.mark.parametrize("distribution", ["naive", "star", "balanced"])
def test_generated_rows_decode_to_their_graph_path_and_lookahead(distribution):
    task = get_task("graph_search", distribution=distribution, max_lookahead=4)
    batch = task.generate(60, 10, np.random.default_rng(2))
    assert batch.tokens.shape[1] == task.max_len(10) == 45 and batch.tokens.max() < task.vocab_size(10)
    for i, row in enumerate(batch.tokens):
        q = batch.prompt_len[i] - 4
        edges = [(int(u) - VERTEX0, int(v) - VERTEX0) for u, v in row[:q].reshape(-1, 3)[:, 1:]]
        start, goal = int(row[q + 1]) - VERTEX0, int(row[q + 2]) - VERTEX0
        assert len(edges) <= 10 and row[: batch.length[i]].tolist() == task.encode_example(edges, start, goal)
        path = reference.shortest_paths(edges, start, goal)[1]
        assert batch.extras["lookahead"][i] == reference.lookahead_depth(edges, start, path[1], goal)
        assert batch.extras["n_moves"][i] == len(path) - 1 and row[batch.length[i] - 1] == END
    assert task.score(batch, perfect(batch))["valid"].mean() == 1.0


def test_balanced_lookahead_histogram_is_flat():
    task = get_task("graph_search", distribution="balanced", max_lookahead=5)
    look = task.generate(3000, 11, np.random.default_rng(0)).extras["lookahead"]
    counts = np.bincount(look, minlength=6)
    chi2 = float(((counts - 500) ** 2 / 500).sum())
    assert len(counts) == 6 and chi2 < 20.5  # chi-square, 5 degrees of freedom: p = 0.001


def test_naive_lookahead_is_mostly_small_and_matches_the_reference_generator():
    vectorised = get_task("graph_search", distribution="naive").generate(1500, 12, np.random.default_rng(0))
    rnd = random.Random(0)
    plain = [reference.graph_search_example("naive", 12, 5, rnd)[4] for _ in range(1500)]
    hist = np.bincount(vectorised.extras["lookahead"], minlength=6)[:6] / 1500
    ref_hist = np.bincount(plain, minlength=6)[:6] / 1500
    assert hist[:3].sum() > 0.95 and np.abs(hist - ref_hist).max() < 0.05  # ~4 standard errors


def test_graph_search_scores_first_step_valid_and_strata():
    task = get_task("graph_search", distribution="balanced", max_lookahead=3)
    batch = task.generate(80, 8, np.random.default_rng(4))
    comp = perfect(batch)
    s = task.score(batch, comp)
    assert s["exact"].mean() == s["first_step"].mean() == s["valid"].mean() == 1.0
    assert {f"exact_look_{k}" for k in range(4)} | {f"first_look_{k}" for k in range(4)} <= set(s)
    early = comp.copy()  # stop after the start: not valid, first move wrong
    early[:, 1] = END
    s = task.score(batch, early)
    assert s["valid"].sum() == s["first_step"].sum() == s["exact"].sum() == 0


def test_graph_search_valid_accepts_a_longer_walk():
    task = get_task("graph_search")
    edges = [(0, 1), (1, 2), (0, 3), (3, 4), (4, 2)]  # shortest 0-1-2; longer 0-3-4-2
    batch = task._encode(*_one_graph(edges, 0, 2, 5), size=5, rng=np.random.default_rng(0))
    row, p = batch.tokens[0], batch.prompt_len[0]
    listed = row[: p - 4].reshape(-1, 3)[:, 1:].tolist()  # (u, v) under the example's random ids
    start, second, goal = row[p : p + 3].tolist()
    three = next(v for u, v in listed if u == start and v != second)
    four = next(v for u, v in listed if u == three)
    s = task.score(batch, np.array([[start, three, four, goal, END]]))
    assert s["valid"][0] == 1 and s["exact"][0] == 0 and s["first_step"][0] == 0
    assert task.score(batch, np.array([[start, three, goal, END, END]]))["valid"][0] == 0  # 3 -> 2: no edge


def _one_graph(edges, start, goal, n_max):
    adj = np.zeros((1, n_max, n_max), dtype=bool)
    for u, v in edges:
        adj[0, u, v] = True
    graphs = dag.Graphs(adj, np.array([n_max]), np.array([start]), np.array([goal]))
    return graphs, dag.measure(graphs)


# -- determinism, inputs, errors -------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, options, size",
    [("graph_search", {"distribution": d}, 9) for d in ("naive", "star", "balanced")]
    + [("path_star", {"degree": 3, "teacherless": True}, 5)],
)
def test_generation_is_a_pure_function_of_the_rng(name, options, size):
    task = get_task(name, **options)
    a, b = (task.generate(32, size, np.random.default_rng(7)) for _ in range(2))
    c = task.generate(32, size, np.random.default_rng(8))
    assert np.array_equal(a.tokens, b.tokens) and not np.array_equal(a.tokens, c.tokens)
    assert all(np.array_equal(a.extras[k], b.extras[k]) for k in a.extras)
    mixed = get_task(name, sampling="uniform", **options).generate(64, size, np.random.default_rng(0))
    assert len(set(mixed.size.tolist())) > 1 and mixed.tokens.max() < task.vocab_size(size)


def test_teacherless_model_reads_dummies_and_decodes_in_one_pass():
    from search_scaling.models import Transformer
    from search_scaling.training.data import to_tensors
    from search_scaling.training.evaluate import decode
    from search_scaling.training.spec import RunSpec

    spec = RunSpec(task="path_star", size=4, model="L1-D8", steps=1, task_options={"teacherless": True})
    batch = spec.task_obj.generate(8, 4, np.random.default_rng(0))
    model = Transformer(spec.model_config).eval()
    got = decode(model, batch, 4, torch.device("cpu"))
    logits = model(torch.from_numpy(batch.inputs[:, :-1]))
    want = logits.argmax(-1).numpy()[:, batch.prompt_len[0] - 1 : batch.prompt_len[0] + 3]
    assert np.array_equal(got, want)
    assert torch.equal(to_tensors(batch, batch.answer_mask)["inputs"], torch.from_numpy(batch.inputs))


@pytest.mark.parametrize(
    "call, needle",
    [
        (lambda: get_task("path_star", degree=1), "path_star.degree must be an integer in [2, 49], got 1"),
        (lambda: get_task("path_star", reverse="yes"), "path_star.reverse must be true or false"),
        (lambda: get_task("path_star", degree=5).generate(4, 12, np.random.default_rng(0)),
         "l must be an integer in [2, 10], got 12"),
        (lambda: get_task("graph_search", distribution="uniform"),
         "graph_search.distribution must be one of ['naive', 'star', 'balanced'], got 'uniform'"),
        (lambda: get_task("graph_search", max_lookahead=6).generate(4, 11, np.random.default_rng(0)),
         "graph_search.max_lookahead must be an integer in [1, 5] for graphs of at most N=11"),
        (lambda: get_task("graph_search", max_lookahead=0), "max_lookahead must be an integer >= 1"),
    ],
)  # fmt: skip
def test_bad_options_raise_one_clear_error(call, needle):
    with pytest.raises(ValueError) as err:
        call()
    assert needle in str(err.value)


@pytest.mark.parametrize(
    "task, size, options, metric",
    [("graph_search", 7, ["distribution=balanced", "max_lookahead=2"], "exact_look_2"),
     ("path_star", 3, ["degree=3", "teacherless=true"], "clever_hans")],
)  # fmt: skip
def test_a_tiny_run_of_each_task_trains_through_the_cli(tmp_path, capsys, task, size, options, metric):
    from search_scaling.cli import main

    args = ["train", "--task", task, "--size", str(size), "--model", "L1-D8", "--steps", "3", "--eval-points",
            "2", "--eval-examples", "16", "--no-mlflow", "--store", str(tmp_path)]  # fmt: skip
    for option in options:
        args += ["--option", option]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "status done: 3 steps" in out and f"  {metric}" in out and "first_step" in out
