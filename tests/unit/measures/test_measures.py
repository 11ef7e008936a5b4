"""Progress measures on constructed inputs with known answers: probes on a residual stream that
encodes walls, key positions of a hand-written maze, attention mass of hand-set patterns, models
whose attention is exactly uniform, hand-set OV circuits, the lens against the evaluator."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from search_scaling.measures import MEASURES, ProgressMeasures, probe_batch, progress_every
from search_scaling.measures.common import attention_mass
from search_scaling.measures.families import (
    copying_scores,
    d3_measures,
    iteration_measures,
    iteration_positions,
    prefix_positions,
    recall_measures,
    staircase,
)
from search_scaling.measures.maze import (
    adjacency_keys,
    maze_measures,
    query_kinds,
    target_keys,
    wall_labels,
)
from search_scaling.measures.probes import probe_balanced_accuracy
from search_scaling.models import Transformer
from search_scaling.tasks import get_task
from search_scaling.tasks.maze.lattice import conn_from_edges, open_moves
from search_scaling.tasks.maze.task import pad_to_grid
from search_scaling.training import RunSpec
from search_scaling.training.evaluate import evaluate

# A 2x2 maze, a U from (0,0) to (1,0): positions 1-4, 5-8, 9-12 hold the three adjacency entries,
# 18 the target (1,0), 20 <PATH_START>, 21-24 the path.
EDGES = [((0, 0), (0, 1)), ((0, 1), (1, 1)), ((1, 0), (1, 1))]
U_MAZE = dict(grid_n=2, edges=EDGES, origin=(0, 0), target=(1, 0), path=[(0, 0), (0, 1), (1, 1), (1, 0)])


def u_maze_tokens() -> np.ndarray:
    return np.array([get_task("maze").encode_example(**U_MAZE)])


# -- probes ------------------------------------------------------------------------------------------
def test_probe_reads_walls_a_residual_stream_encodes_linearly_and_nothing_from_noise():
    rng = np.random.default_rng(0)
    n, d, walls = 400, 24, 12
    y = rng.random((n, walls)) < 0.2  # most walls closed, as in a maze
    mixing = rng.normal(size=(walls, d))
    encoded = torch.tensor((y * 2.0 - 1) @ mixing + 0.3 * rng.normal(size=(n, d)))
    valid, train = np.ones_like(y), np.arange(n) % 2 == 0
    assert probe_balanced_accuracy(encoded, y, valid, train).min() > 0.95
    noise = torch.tensor(rng.normal(size=(n, d)))
    assert abs(np.mean(probe_balanced_accuracy(noise, y, valid, train)) - 0.5) < 0.06


def test_probe_skips_missing_walls_and_needs_both_classes():
    rng = np.random.default_rng(1)
    n = 200
    y = np.stack([rng.random(n) < 0.5, rng.random(n) < 0.5, np.zeros(n, bool)], axis=1)
    x = torch.tensor(np.concatenate([y[:, :2] * 1.0, rng.normal(size=(n, 3))], axis=1))
    valid = np.ones_like(y)
    valid[n // 2 :, 1] = False  # the second wall exists in half the examples (smaller mazes)
    scores = probe_balanced_accuracy(x, y, valid, np.arange(n) % 2 == 0)
    assert scores[0] == pytest.approx(1.0) and scores[1] == pytest.approx(1.0)
    assert np.isnan(scores[2])  # never open: balanced accuracy is undefined


def test_wall_labels_of_a_hand_built_maze():
    a = np.array([[0, 1, 2]])  # cells (0,0)-(0,1), (0,1)-(1,1), (1,0)-(1,1)
    b = np.array([[1, 3, 3]])
    moves = pad_to_grid(open_moves(conn_from_edges(2, a, b)), 3)  # laid out on a 3x3 grid
    is_open, exists = wall_labels(moves, np.array([2]))
    right, down = is_open[0, :9].reshape(3, 3), is_open[0, 9:].reshape(3, 3)
    assert exists[0, :9].reshape(3, 3)[:2, :1].all() and exists.sum() == 4  # 2x2: four walls
    assert right[0, 0] and right[1, 0] and not down[0, 0] and down[0, 1]


# -- positions ---------------------------------------------------------------------------------------
def test_adjacency_and_target_positions_of_a_hand_written_maze():
    tokens = u_maze_tokens()
    prompt_len = np.array([21])
    keys = adjacency_keys(tokens, prompt_len)[0]
    assert np.flatnonzero(keys[21]).tolist() == [1, 2, 3, 4]  # at (0,0): its one entry
    assert np.flatnonzero(keys[22]).tolist() == list(range(1, 9))  # at (0,1): two entries
    assert np.flatnonzero(keys[23]).tolist() == list(range(5, 13))  # at (1,1)
    rc = np.array([[1, 0]])
    assert np.flatnonzero(target_keys(tokens, prompt_len, rc)[0]).tolist() == [18]


def test_target_positions_in_maze_target_are_the_targets_label_entry():
    task = get_task("maze_target")
    batch = task.generate(8, 3, np.random.default_rng(0))
    keys = target_keys(batch.tokens, batch.prompt_len, batch.extras["target_rc"])
    assert (keys.sum(axis=1) == 1).all()  # exactly one: the label entry, not the adjacency list
    labels_start = np.argmax(batch.tokens == len(task.vocabulary(3)) - 10, axis=1)
    cell = batch.extras["target_rc"] @ np.array([3, 1])
    assert (np.argmax(keys, axis=1) == labels_start + 1 + 4 * cell).all()


def test_iteration_and_prefix_positions():
    queries, keys = iteration_positions(np.array([3]), 9)  # [T] x1 x2 x3 [EoI] s1 s2 s3 + pad
    assert np.flatnonzero(queries[0]).tolist() == [4, 5, 6]
    assert [int(np.flatnonzero(keys[0, q])[0]) for q in (4, 5, 6)] == [1, 2, 3]
    task = get_task("induction", n_vocab=8)
    tokens = np.array([task.encode_example([5, 2, 7])])  # <bos> 5 2 7 5 2 7
    mask = np.zeros_like(tokens, bool)
    mask[0, 5:] = True
    queries, keys = prefix_positions(tokens, mask)
    assert np.flatnonzero(queries[0]).tolist() == [4, 5]
    assert np.flatnonzero(keys[0, 4]).tolist() == [2] and np.flatnonzero(keys[0, 5]).tolist() == [3]


def test_attention_mass_of_a_hand_set_pattern():
    pattern = torch.zeros(1, 2, 3, 3)
    pattern[0, 0, 2] = torch.tensor([0.1, 0.7, 0.2])  # head 0, query 2
    pattern[0, 1, 2] = torch.tensor([0.5, 0.0, 0.5])
    keys = torch.zeros(1, 3, 3, dtype=torch.bool)
    keys[0, 2, 1] = True
    queries = torch.tensor([[False, False, True]])
    assert attention_mass(pattern, keys, queries).tolist() == pytest.approx([0.7, 0.0])


# -- measures of real models with known answers ------------------------------------------------------
def uniform_model(spec: RunSpec) -> Transformer:
    """Zero query/key weights: every head attends uniformly to the keys it may see (1 / (t + 1))."""
    torch.manual_seed(0)
    model = Transformer(spec.model_config).eval()
    with torch.no_grad():
        for block in model.blocks:
            block.attn.qkv.weight[: 2 * spec.model_config.d_model] = 0
            block.attn.qkv.bias.zero_()
    return model


def uniform_mass(queries: np.ndarray, keys: np.ndarray) -> float:
    """The mean mass a uniform causal pattern puts on the keys: |keys| / (t + 1) per query."""
    keys = keys if keys.ndim == 3 else np.broadcast_to(keys[:, None, :], (*queries.shape, keys.shape[1]))
    per_query = keys.sum(axis=2) / (np.arange(queries.shape[1]) + 1)[None, :]
    return float(per_query[queries].mean())


def test_maze_attention_scores_of_a_uniform_model_and_the_lens_matches_the_evaluator():
    spec = RunSpec(task="maze", size=3, model="L2-D16", steps=1)
    model, batch = uniform_model(spec), probe_batch(spec.task_obj, 3, spec.eval_seed, n=64)
    out = maze_measures(model, batch)
    queries = query_kinds(batch) > 0
    adjacency = uniform_mass(queries, adjacency_keys(batch.tokens, batch.prompt_len))
    target = uniform_mass(queries, target_keys(batch.tokens, batch.prompt_len, batch.extras["target_rc"]))
    for layer in (0, 1):
        for head in (0, 1):
            assert out[f"adj_attn_L{layer}H{head}"] == pytest.approx(adjacency, rel=1e-4)
            assert out[f"target_attn_L{layer}H{head}"] == pytest.approx(target, rel=1e-4)
    held = evaluate(model, spec.task_obj, batch)  # the last layer's lens is the model's own output
    assert out["lens_decision_L1"] == pytest.approx(held["decision_acc"])
    assert out["lens_corridor_L1"] == pytest.approx(held["corridor_acc"])
    assert {"wall_probe_L0", "wall_probe_L1", "wall_probe_best"} <= set(out)
    assert 0.0 <= out["wall_probe_best"] <= 1.0


def test_iteration_head_score_of_a_uniform_model():
    spec = RunSpec(task="parity", size=6, model="L1-D8", steps=1)
    model, batch = uniform_model(spec), probe_batch(spec.task_obj, 6, spec.eval_seed, n=32)
    queries, keys = iteration_positions(batch.size, batch.tokens.shape[1])
    out = iteration_measures(model, batch)
    assert out["iter_attn_L0H0"] == pytest.approx(uniform_mass(queries, keys), rel=1e-4)
    assert iteration_measures(model, batch, cot=False) == {}


def test_prefix_matching_of_a_uniform_model_and_copying_of_hand_set_circuits():
    spec = RunSpec(task="induction", size=6, model="L1-D8", steps=1, task_options={"n_vocab": 16})
    model, batch = uniform_model(spec), probe_batch(spec.task_obj, 6, spec.eval_seed, n=16)
    out = recall_measures(model, batch)
    queries, keys = prefix_positions(batch.tokens, batch.answer_mask)
    assert out["prefix_match_L0H0"] == pytest.approx(uniform_mass(queries, keys), rel=1e-4)
    d, dh = 8, 4  # L1-D8: 2 heads of 4
    attn = model.blocks[0].attn
    with torch.no_grad():  # head 0: value = the first 4 features, written back in place; unembed = embed
        model.unembed.weight.copy_(model.embed.weight)
        attn.qkv.weight[2 * d :] = 0
        attn.qkv.weight[2 * d : 2 * d + dh, :dh] = torch.eye(dh)
        attn.out.weight.zero_()
        attn.out.weight[:dh, :dh] = torch.eye(dh)
        attn.qkv.weight[2 * d + dh :, dh:] = torch.eye(dh)  # head 1 writes minus its input
        attn.out.weight[dh:, dh:] = -torch.eye(dh)
    scores = copying_scores(model)
    assert scores["copying_L0H0"] == pytest.approx(1.0) and scores["copying_L0H1"] == pytest.approx(-1.0)


def test_d3_staircase_of_constructed_hits():
    ks = np.repeat([1, 2, 3], 10)
    hits = np.zeros((30, 3), bool)
    hits[ks == 1] = [True, True, True]  # k compositions decodable from layer count k on
    hits[ks == 2, 1:] = True
    hits[ks == 3, 2] = True
    hits[25:, 2] = False  # k = 3: only half right, below the threshold everywhere
    out = staircase(hits, ks)
    assert [out[f"lens_first_layer_k{k}"] for k in (1, 2, 3)] == [1.0, 2.0, 4.0]
    assert out["lens_decodable"] == pytest.approx(2 / 3) and out["lens_acc_L0"] == pytest.approx(1 / 3)
    spec = RunSpec(task="d3", size=3, model="L2-D16", steps=1)
    model = Transformer(spec.model_config).eval()
    real = d3_measures(model, probe_batch(spec.task_obj, 3, spec.eval_seed, n=32))
    assert {"lens_acc_L0", "lens_acc_L1", "lens_first_layer_k3", "lens_decodable"} <= set(real)


# -- the switch --------------------------------------------------------------------------------------
def test_progress_switch_schedule_and_spec_field():
    assert [progress_every(v) for v in ("off", False, "on", True, 3)] == [0, 0, 1, 1, 3]
    schedule = [0, 1, 2, 4, 8, 16]
    spec = RunSpec(task="maze", size=2, model="L1-D8", steps=16)
    assert ProgressMeasures(spec, schedule).due == set(schedule)
    assert ProgressMeasures(spec.with_(progress=4), schedule).due == {0, 8, 16}  # every 4th and the last
    off = ProgressMeasures(spec.with_(progress=False), schedule)  # YAML's bare `off`
    assert off(uniform_model(spec), 16) == {} and off._batch is None
    assert spec.with_(progress="off").run_hash == spec.run_hash  # what is logged, not what is trained
    for bad in ("sometimes", 0, -2, 1.5):
        with pytest.raises(ValueError, match="progress must be one of"):
            spec.with_(progress=bad)


def test_every_task_has_measures_and_a_main_measure_for_the_report():
    from analysis.progress import ACCURACY, MAIN_MEASURE
    from search_scaling.tasks import TASKS, get_task

    get_task("maze_target")  # registers the late task
    assert set(MAIN_MEASURE) == set(ACCURACY) == set(MEASURES) == set(TASKS)
    assert all(ACCURACY[name] == TASKS[name].primary_metric for name in TASKS)
    for name in sorted(TASKS):  # each task's measures run and include the report's main measure
        spec = RunSpec(task=name, size=3, model="L1-D8", steps=1)
        measures = ProgressMeasures(spec, [0])
        measures._batch = probe_batch(spec.task_obj, 3, spec.eval_seed, n=8)
        values = measures(Transformer(spec.model_config), 0)
        assert MAIN_MEASURE[name] in values and all(np.isfinite(v) for v in values.values()), name
