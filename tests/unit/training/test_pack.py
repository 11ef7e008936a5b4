"""Packed training is exact: members match the same runs trained alone (curves, final weights,
optimiser state, checkpoint format), a diverging member is frozen while the others go on, a crashed
pack resumes, and members' checkpoints and solo checkpoints resume each other.

Tolerances: fp32 on CPU. A pack pads each step's batches to one width and runs batched matmuls, so
sums run in another order; Adam turns those last-bit differences into ~1e-5 on weights after a dozen
steps. The drift `Rock-Z/ModelBatch` once had (gradients of the stacked parameters accumulating
across steps) moves weights by about lr = 3e-3 per step: two orders of magnitude above ATOL.
"""

from __future__ import annotations

import shutil

import lightning as L
import pytest
import torch

from search_scaling.training import RunSpec, train_one
from search_scaling.training.pack import clip_per_member
from search_scaling.training.pack_run import train_pack
from search_scaling.training.pack_shape import pack_key
from tests.crashes import CrashAt

BASE = dict(task="maze", size=3, model="L1-D8", eval_points=4, eval_examples=16, steps=12, batch_size=8)
SPECS = [RunSpec(**BASE, seed=0), RunSpec(**BASE, seed=1, lr=1e-2, warmup=0.2),
         RunSpec(**BASE, seed=2, grad_clip=0.0, weight_decay=0.0, beta2=0.95)]  # fmt: skip
ATOL = 1e-4


@pytest.fixture(scope="module")
def solo(tmp_path_factory):
    root = tmp_path_factory.mktemp("solo")
    return [train_one(spec, root, checkpoint_every_s=0) for spec in SPECS]


def curve(result) -> dict:
    return {(r["step"], r["split"], r["metric"]): r["value"] for r in result.rows}


def assert_same_run(packed, alone) -> None:
    assert (packed.status, packed.steps, packed.tokens) == (alone.status, alone.steps, alone.tokens)
    a, b = curve(packed), curve(alone)
    assert a.keys() == b.keys()
    for key in a:
        assert a[key] == pytest.approx(b[key], rel=1e-4, abs=1e-5, nan_ok=True), key
    got = torch.load(packed.checkpoint, weights_only=True)
    want = torch.load(alone.checkpoint, weights_only=True)
    assert got.keys() == want.keys() and got["loops"] == want["loops"]
    assert got["lr_schedulers"] == want["lr_schedulers"]
    assert got["optimizer_states"][0]["param_groups"] == want["optimizer_states"][0]["param_groups"]
    for name, weight in want["state_dict"].items():
        torch.testing.assert_close(got["state_dict"][name], weight, atol=ATOL, rtol=0, equal_nan=True)
    for j, state in want["optimizer_states"][0]["state"].items():
        for key, value in state.items():
            torch.testing.assert_close(
                got["optimizer_states"][0]["state"][j][key], value, atol=ATOL, rtol=0, equal_nan=True
            )


def test_members_match_their_solo_runs(solo, tmp_path):
    packed = train_pack(SPECS, tmp_path, checkpoint_every_s=0)
    for p, s in zip(packed, solo):
        assert_same_run(p, s)


class _Poison(L.Callback):
    """Sets one weight of member ``k`` (or of a solo run) to NaN at a step: a blown-up update."""

    def __init__(self, k: int | None = None, at: int = 3):
        self.k, self.at = k, at

    def on_train_batch_end(self, trainer, pl_module, *args):
        if trainer.global_step == self.at:
            with torch.no_grad():
                if self.k is None:
                    pl_module.model.embed.weight[0, 0] = float("nan")
                else:
                    packed = pl_module.packed
                    packed.params[packed.names.index("embed.weight")][self.k, 0, 0] = float("nan")


def test_a_diverging_member_is_frozen_while_the_others_match_solo(solo, tmp_path):
    diverged = train_one(SPECS[1], tmp_path / "solo", checkpoint_every_s=0, callbacks=(_Poison(),))
    assert diverged.status == "diverged" and diverged.steps < 12
    packed = train_pack(SPECS, tmp_path / "pack", checkpoint_every_s=0, callbacks=(_Poison(k=1),))
    assert_same_run(packed[1], diverged)
    assert_same_run(packed[0], solo[0])  # NaN in one member never reaches another
    assert_same_run(packed[2], solo[2])


def test_a_crashed_pack_resumes_and_checkpoints_resume_either_way(solo, tmp_path):
    """A pack killed at step 6 (last checkpoint: 5) resumes to the solo result. From the same
    crash, member 0 resumes alone (a member's checkpoint is a solo checkpoint), then the pack of all
    three resumes with member 0 finished: it returns at once, the others go on from step 5. How each
    was trained (the runs table's training_mode) says member 0 went on alone from step 5."""
    with pytest.raises(RuntimeError, match="injected crash"):
        train_pack(SPECS, tmp_path / "a", checkpoint_every_s=0, callbacks=(CrashAt(6),))
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    resumed = train_pack(SPECS, tmp_path / "a", checkpoint_every_s=0)
    for p, s in zip(resumed, solo):
        assert_same_run(p, s)
    assert [p.training_mode for p in resumed] == ["packed"] * 3
    alone = train_one(SPECS[0], tmp_path / "b", checkpoint_every_s=0)
    assert_same_run(alone, solo[0])
    assert alone.training_mode == "packed@0,eager@5"  # the runs table says the trajectory mixes modes
    again = train_pack(SPECS, tmp_path / "b", checkpoint_every_s=0)
    for p, s in zip(again, solo):
        assert_same_run(p, s)
    assert [p.training_mode for p in again] == ["packed@0,eager@5", "packed", "packed"]


def test_a_solo_checkpoint_resumes_as_a_pack_member(solo, tmp_path):
    with pytest.raises(RuntimeError, match="injected crash"):
        train_one(SPECS[2], tmp_path, checkpoint_every_s=0, callbacks=(CrashAt(6),))
    assert_same_run(train_pack(SPECS[2:], tmp_path, checkpoint_every_s=0)[0], solo[2])


def test_clipping_is_per_member():
    torch.manual_seed(0)
    grads = [torch.randn(3, 4, 5) * 10, torch.randn(3, 7)]
    params = [torch.nn.Parameter(torch.zeros_like(g)) for g in grads]
    for p, g in zip(params, grads):
        p.grad = g.clone()
    max_norm = torch.tensor([1.0, 0.0, 1e9])  # clipped, off, not reached
    clip_per_member(params, max_norm)
    for k in range(3):
        alone = [torch.nn.Parameter(torch.zeros_like(g[k])) for g in grads]
        for p, g in zip(alone, grads):
            p.grad = g[k].clone()
        if max_norm[k] > 0:
            torch.nn.utils.clip_grad_norm_(alone, float(max_norm[k]))
        for p, q in zip(params, alone):
            torch.testing.assert_close(p.grad[k], q.grad)


def test_packs_group_only_what_may_differ_per_member():
    assert pack_key(SPECS[0]) == pack_key(SPECS[1]) == pack_key(SPECS[2])
    assert pack_key(SPECS[0]) != pack_key(SPECS[0].with_(batch_size=16))
    assert pack_key(SPECS[0]) != pack_key(SPECS[0].with_(model="L2-D16"))
    with pytest.raises(ValueError, match="distinct runs of one shape"):
        train_pack([SPECS[0], SPECS[0].with_(steps=30)])


def test_a_pack_of_teacherless_runs_feeds_each_member_its_own_inputs():
    """Teacherless path-star: the model reads `$` at the answer positions, so a pack stacks each
    member's inputs beside its targets (a pack of ordinary runs carries no inputs)."""
    import numpy as np

    from search_scaling.training.data import train_batch
    from search_scaling.training.pack import PackBatches

    options = {"degree": 3, "teacherless": True}
    base = RunSpec(task="path_star", size=3, model="L1-D8", steps=2, task_options=options)
    specs = [base, base.with_(seed=1)]
    batch = PackBatches(specs, 2, torch.ones(2, dtype=torch.bool)).batch(1)
    for k, spec in enumerate(specs):
        own = train_batch(spec.train_task, 3, spec.derived_seed("data", data_only=True), 1, spec.batch_size)
        assert np.array_equal(batch["inputs"][k].numpy(), own.inputs)
        assert np.array_equal(batch["tokens"][k].numpy(), own.tokens) and (own.inputs != own.tokens).any()
    plain = [s.with_(task_options={"degree": 3}) for s in specs]
    assert "inputs" not in PackBatches(plain, 2, torch.ones(2, dtype=torch.bool)).batch(0)
