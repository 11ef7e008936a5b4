"""Maze tokenizations in runs: identity (aotp keeps every hash), shared data, model shape, and a few
real training steps per new tokenization with its measures."""

import pytest

from search_scaling.training import RunSpec, train_one

PLAIN = dict(task="maze", size=3, model="L1-D8", steps=10)


def test_aotp_spelled_out_or_not_keeps_the_recorded_hash():
    plain = RunSpec(**PLAIN)
    assert plain.run_hash == "e4f66caef99c2d63"  # recorded before tokenizations existed
    spelled = RunSpec(**PLAIN, task_options={"tokenization": "aotp"})
    assert spelled.run_hash == plain.run_hash and spelled.task_options == {}
    target = RunSpec(**{**PLAIN, "task": "maze_target"})
    assert (
        RunSpec(**{**PLAIN, "task": "maze_target"}, task_options={"tokenization": "aotp"}).run_hash
        == target.run_hash
    )
    grid = RunSpec(**PLAIN, task_options={"tokenization": "grid"})
    assert grid.run_hash != plain.run_hash and grid.task_options == {"tokenization": "grid"}


def test_every_tokenization_sees_the_same_mazes_and_sizes_its_model():
    plain = RunSpec(**PLAIN)
    for tokenization in ("aotp_ctt", "grid"):
        spec = RunSpec(**PLAIN, task_options={"tokenization": tokenization})
        assert spec.eval_seed == plain.eval_seed
        assert spec.derived_seed("data", data_only=True) == plain.derived_seed("data", data_only=True)
        assert spec.derived_seed("init") != plain.derived_seed("init")  # other runs, other hashes
        cfg, task = spec.model_config, spec.task_obj
        assert (cfg.d_vocab, cfg.n_ctx) == (task.vocab_size(3), task.max_len(3))
    assert (
        RunSpec(**PLAIN, task_options={"tokenization": "grid", "generator": "wilson"}).eval_seed
        != plain.eval_seed
    )


@pytest.mark.parametrize("tokenization", ["aotp_ctt", "grid"])
def test_a_few_steps_train_end_to_end_with_metrics_and_measures(tmp_path, tokenization):
    spec = RunSpec(
        **{**PLAIN, "steps": 4}, eval_points=2, eval_examples=16, task_options={"tokenization": tokenization}
    )
    result = train_one(spec, tmp_path)
    assert result.status == "done" and result.steps == 4
    final = result.final
    assert {"exact", "valid", "decision_acc", "corridor_acc"} <= set(final)
    assert any(k.startswith("exact_dec_") for k in final) and any(
        k.startswith("exact_detour_") for k in final
    )
    probes = {r["metric"] for r in result.rows if r["split"] == "probe"}
    assert {"wall_probe_best", "adj_attn_max", "target_attn_max", "lens_decision_L0"} <= probes


@pytest.mark.parametrize("tokenization", ["aotp_ctt", "grid"])
def test_loader_and_inspect_read_the_format(tmp_path, tokenization):
    import search_scaling
    from search_scaling.loader import inspect_example
    from search_scaling.store import Stores, record_run

    stores = Stores.resolve(str(tmp_path / "store"))
    spec = RunSpec(**dict(PLAIN, steps=4), eval_points=2, eval_examples=16, keep_checkpoints="final",
                   task_options={"tokenization": tokenization})  # fmt: skip
    record_run(spec, stores)
    loaded = search_scaling.load_run(stores.root, spec.run_hash)
    assert loaded.task.tokenization == tokenization and loaded.step == 4
    text = inspect_example(loaded, 0)
    prompt, true = (line for line in text.splitlines() if line.startswith(("prompt:", "true:")))
    assert ("( " in prompt) == (tokenization == "aotp_ctt") and ("{" in prompt) == (tokenization == "grid")
    assert true.rstrip().endswith("<PATH_END>") and "true path" in text and "predicted path" in text
    assert text.count("X") >= 2  # the true path drawn from the format's own coordinates
