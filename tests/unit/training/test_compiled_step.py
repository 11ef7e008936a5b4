"""Compiled training steps (`training.compiled`): the one test that compiles (compiled and eager
curves agree within fp32 tolerance on a tiny run), and the `auto` rule, the YAML spellings and the
recorded training mode without compiling anything."""

from __future__ import annotations

import json
import os

import pytest
import torch

from search_scaling.training import RunSpec, train_one
from search_scaling.training import compiled as compiled_mod
from search_scaling.training.run import RunTracker

TINY = dict(task="maze", size=3, model="L1-D8", eval_points=3, eval_examples=16, progress="off")


def test_compiled_and_eager_runs_give_the_same_curves(tmp_path):
    """The one compiling test in the suite. Measured on the shared 2-core VM: 109 s when the compile
    cache (~/.cache/search-scaling/torch-compile) is empty, ~15 s from it; L1-D8 on 3x3 mazes is the
    smallest model and shape of the family, so nothing smaller compiles faster."""
    spec = RunSpec(**TINY, steps=12, compile="on")
    fast = train_one(spec, tmp_path / "compiled")
    slow = train_one(spec.with_(compile="off"), tmp_path / "eager")
    assert (fast.training_mode, slow.training_mode) == ("compiled", "eager")
    assert fast.run_hash == slow.run_hash  # one experiment; the mode is recorded beside it

    def curve(result, split):
        return [(r["step"], r["metric"], r["value"]) for r in result.rows if r["split"] == split]

    for split in ("train", "eval"):
        a, b = curve(fast, split), curve(slow, split)
        assert [x[:2] for x in a] == [x[:2] for x in b]
        assert torch.allclose(torch.tensor([x[2] for x in a]), torch.tensor([x[2] for x in b]),
                              rtol=1e-4, atol=1e-5), split  # fmt: skip
    weights = [torch.load(r.checkpoint, weights_only=True)["state_dict"] for r in (fast, slow)]
    for name, value in weights[0].items():  # the checkpoint holds the plain model's weights
        assert torch.allclose(value, weights[1][name], rtol=1e-4, atol=1e-6), name


@pytest.mark.parametrize(("given", "read"), [(True, "on"), (False, "off"), ("auto", "auto"), ("on", "on")])
def test_yaml_booleans_read_as_meant(given, read):
    assert RunSpec(**TINY, steps=5, compile=given).compile == read


def test_bad_compile_value_names_the_field_and_the_choices():
    with pytest.raises(ValueError, match=r"compile must be one of \['auto', 'on', 'off'\].*'maybe'"):
        RunSpec(**TINY, steps=5, compile="maybe")


def test_compile_is_not_part_of_the_run_hash():
    plain = RunSpec(**TINY, steps=5)
    assert {RunSpec(**TINY, steps=5, compile=c).run_hash for c in ("on", "off", "auto")} == {plain.run_hash}
    assert "compile" not in plain.hashed_fields()


def test_auto_compiles_only_a_run_long_enough_to_repay_the_compile(monkeypatch, tmp_path):
    monkeypatch.setenv("SEARCH_SCALING_CACHE", str(tmp_path))  # no measured compile times yet
    monkeypatch.delenv(compiled_mod.COMPILE_ENV, raising=False)
    spec = RunSpec(**{**TINY, "model": "L2-D32"}, steps=5)
    # measured on CPU: compiling never pays (0.86-1.20x, not reproducible), so auto never compiles
    assert compiled_mod.decide(spec, 10**9, "cpu") == (
        False,
        "eager: compiling does not pay on cpu (measured; `compile: on` forces it)",
    )
    monkeypatch.setitem(compiled_mod.SPEEDUP, "cpu", 1.3)  # the rule, on a device where it would pay
    cfg = spec.model_config
    from search_scaling.models import flops_per_token

    step_s = flops_per_token(cfg) * spec.batch_size * cfg.n_ctx / compiled_mod.EAGER_FLOPS["cpu"]
    gain = step_s * (1 - 1 / compiled_mod.SPEEDUP["cpu"])
    break_even = compiled_mod.COMPILE_SECONDS["cpu"] / gain  # steps at which the compile is repaid
    assert not compiled_mod.decide(spec, int(break_even * 0.9), "cpu")[0]
    assert compiled_mod.decide(spec, int(break_even * 1.1), "cpu")[0]
    # a measured (cached) compile time replaces the cold figure: 10x cheaper, 10x shorter runs pay
    cheaper = compiled_mod.COMPILE_SECONDS["cpu"] / 10
    compiled_mod.record_compile_seconds(compiled_mod.shape_key(spec, "cpu"), cheaper)
    assert compiled_mod.decide(spec, int(break_even * 0.11), "cpu")[0]
    assert json.loads((tmp_path / compiled_mod.COMPILE_LOG).read_text())


def test_auto_and_on_give_way_to_interventions_and_the_test_switch(monkeypatch):
    spec = RunSpec(**{**TINY, "model": "L2-D32"}, steps=5, compile="on")
    assert compiled_mod.decide(spec, 10**9, "cpu") == (True, "compile: on")
    hooked = spec.with_(interventions=[{"hook": "blocks.0.attn.hook_z", "op": "zero", "heads": [0]}])
    assert compiled_mod.decide(hooked, 10**9, "cpu")[0] is False  # hooks mid-run: trains eager
    monkeypatch.setenv(compiled_mod.COMPILE_ENV, "off")
    assert compiled_mod.decide(spec.with_(compile="auto"), 10**9, "cpu")[0] is False
    assert compiled_mod.decide(spec, 10**9, "cpu")[0] is True  # `on` is what the user asked for
    assert compiled_mod.decide(spec, 10**9, "mps")[0] is False


def test_a_resume_in_another_mode_is_recorded(tmp_path):
    spec = RunSpec(**TINY, steps=5)

    class Trainer:
        global_step, should_stop = 0, False

    tracker = RunTracker(spec, "32-true", None, [0, 5], 1.0, tmp_path / "c", mode="eager")
    tracker.state["rows"] = [{"step": 0}]  # (no step-0 evaluation in this sketch)
    tracker.on_train_start(Trainer(), None)
    assert tracker.training_mode == "eager"
    resumed = RunTracker(spec, "32-true", None, [0, 5], 1.0, tmp_path / "c", mode="compiled")
    resumed.load_state_dict({**tracker.state_dict(), "tokens": 100})
    Trainer.global_step = 3
    resumed.on_train_start(Trainer(), None)
    assert resumed.training_mode == "eager@0,compiled@3"


def test_a_sweep_with_a_bad_compile_value_fails_at_validation_naming_the_field():
    from search_scaling.sweep.spec import SpecError, parse_sweep

    body = {"name": "t", "tasks": [{"task": "maze", "sizes": [3]}], "models": ["L1-D8"], "seeds": [0],
            "budget": {"steps": 5}}  # fmt: skip
    assert parse_sweep({**body, "training": {"compile": False}}).cells[0].compile == "off"  # bare `off`
    with pytest.raises(SpecError, match=r"training\.compile: compile must be one of \['auto', 'on', 'off'\]"):
        parse_sweep({**body, "training": {"compile": "maybe"}}, "grid.yaml")


def test_the_compile_cache_lives_in_the_project_cache_unless_the_user_chose_one(monkeypatch, tmp_path):
    """Nothing compiles: only where inductor is told to keep its kernels (`use_cache_dir`)."""
    ours = tmp_path / "project" / "torch-compile"
    monkeypatch.setenv("SEARCH_SCALING_CACHE", str(tmp_path / "project"))
    monkeypatch.delenv(compiled_mod.INDUCTOR_CACHE_ENV, raising=False)
    assert compiled_mod.use_cache_dir() == ours
    assert os.environ[compiled_mod.INDUCTOR_CACHE_ENV] == str(ours)  # what inductor reads
    monkeypatch.setenv(compiled_mod.INDUCTOR_CACHE_ENV, str(tmp_path / "mine"))  # the user's choice stands
    assert compiled_mod.use_cache_dir() == tmp_path / "mine"
    assert os.environ[compiled_mod.INDUCTOR_CACHE_ENV] == str(tmp_path / "mine")
    monkeypatch.setenv(compiled_mod.INDUCTOR_CACHE_ENV, "")  # set but empty: as if unset
    assert compiled_mod.use_cache_dir() == ours
