"""`train_pack(specs) -> [RunResult]`: train same-shape runs as one pack (see `pack`), each member
indistinguishable from the run trained alone by `train_one`.

Per member, exactly what a solo run has: its `RunTracker` (the same class, so the same curve rows,
divergence rule, flushes and claim checks), its sink, and its checkpoint at
``<workdir>/<run_hash>/last.ckpt`` in the solo Lightning format (the member's weights under
``model.*``, its AdamW state and LambdaLR state as `torch.optim` writes them, the loop counters,
its tracker). So a member's checkpoint resumes a solo run, a solo checkpoint resumes a member, and
a pack resumes from its members' checkpoints, whatever packs they were trained in.

Why Lightning still drives the loop: the pack is one LightningModule (`PackModule`) trained by an
ordinary `Trainer`, so precision, the device, the loop counters and resume are Lightning's as for a
solo run. What Lightning does per optimiser (clipping, LR schedule) is per member here: clipping in
`PackModule.configure_gradient_clipping`, the schedule inside `PackedAdamW`.
"""

from __future__ import annotations

import copy
import os
import uuid
from pathlib import Path

import lightning as L
import torch

from search_scaling.claims import LostClaim
from search_scaling.models.transformer import Transformer
from search_scaling.training.module import SequenceModel
from search_scaling.training.pack import PackData, PackModule
from search_scaling.training.pack_eval import evaluate_pack
from search_scaling.training.pack_shape import PACKABLE, pack_key
from search_scaling.training.run import (
    CHECKPOINT,
    RunResult,
    RunTracker,
    _fit,
    _tag,
    named_eval_batches,
    plan_run,
    quiet_lightning,
    resolve_precision,
)
from search_scaling.training.schedule import eval_steps, lr_multiplier
from search_scaling.training.spec import RunSpec


def train_pack(specs: list[RunSpec], workdir: Path | str = "runs/work", sinks: list | None = None,
               verbose: bool = False, checkpoint_every_s: float = 30.0, callbacks: tuple = (),
               plan: tuple | None = None) -> list[RunResult | None]:  # fmt: skip
    """Train (or resume, or return) the runs ``specs`` as one pack; ``sinks[k]`` is member k's
    sink. Members found at different steps (their checkpoints come from different packs) train as
    sub-packs one after another. A member whose sink loses its claim stops alone: its result is
    None. ``plan`` is `plan_run` of any member (they share it)."""
    if len({pack_key(s) for s in specs}) != 1 or len({s.run_hash for s in specs}) != len(specs):
        raise ValueError(f"a pack needs distinct runs of one shape (differing only in {', '.join(PACKABLE)})")
    quiet_lightning()
    sinks = list(sinks or [None] * len(specs))
    plan = plan or plan_run(specs[0])
    ckpts = [_member_dir(workdir, spec, sink) / CHECKPOINT for spec, sink in zip(specs, sinks)]
    saved = [_load(path) for path in ckpts]
    results: list[RunResult | None] = [None] * len(specs)
    by_step: dict[int, list[int]] = {}
    for k, state in enumerate(saved):
        by_step.setdefault(state["global_step"] if state else 0, []).append(k)
    for members in by_step.values():
        specs_, sinks_, ckpts_, saved_ = ([xs[k] for k in members] for xs in (specs, sinks, ckpts, saved))
        out = _train_group(specs_, sinks_, ckpts_, saved_, plan, verbose, checkpoint_every_s, callbacks)
        for k, result in zip(members, out):
            results[k] = result
    return results


def _member_dir(workdir, spec: RunSpec, sink) -> Path:
    run_dir = Path(workdir).resolve() / spec.run_hash
    run_dir.mkdir(parents=True, exist_ok=True)
    for leftover in run_dir.glob(f".{CHECKPOINT}.*.tmp"):  # of attempts killed mid-save
        if not leftover.name.startswith(f".{CHECKPOINT}.{_tag(sink)}-"):
            leftover.unlink(missing_ok=True)
    for leftover in run_dir.glob(".pack-resume-*.ckpt"):  # of a pack killed while resuming
        leftover.unlink(missing_ok=True)
    return run_dir


def _load(path: Path) -> dict | None:
    return torch.load(path, weights_only=True) if path.exists() else None


def _train_group(specs, sinks, ckpts, saved, plan, verbose, checkpoint_every_s, callbacks):
    held_out, total, scale = plan
    precision = resolve_precision(specs[0].precision)
    members = []
    for spec in specs:  # each member starts from exactly the weights its solo run starts from
        L.seed_everything(spec.derived_seed("init") % 2**32, verbose=False)
        members.append(Transformer(spec.model_config))
    module = PackModule(specs, total, members)
    schedule = eval_steps(total, specs[0].eval_points)
    pack_eval = PackEval(module, specs[0].task_obj, held_out, precision)
    trackers = [MemberTracker(pack_eval, k, spec, precision, held_out, schedule, scale["flops_per_token"],
                              ckpt, sink, checkpoint_every_s, verbose, named_eval_batches(spec), "packed")
                for k, (spec, ckpt, sink) in enumerate(zip(specs, ckpts, sinks))]  # fmt: skip
    pack = PackTracker(module, trackers, [SoloFormat(spec, total) for spec in specs])
    trainer = L.Trainer(
        max_steps=total, max_epochs=-1, accelerator="auto", devices=1, precision=precision, logger=False,
        enable_checkpointing=False, enable_model_summary=False, enable_progress_bar=False,
        num_sanity_val_steps=0, limit_val_batches=0, callbacks=[pack, *callbacks],
        default_root_dir=str(ckpts[0].parent),
    )  # fmt: skip
    resume = _assemble(module, pack, saved, ckpts[0].parent) if any(saved) else None
    try:
        if resume is None or any(s["callbacks"]["RunTracker"]["status"] == "running" for s in saved):
            _fit(trainer, module, PackData(specs, total), resume)
        else:  # every member finished: their states are the results
            pack.load_state_dict({"members": [s["callbacks"]["RunTracker"] for s in saved]})
            pack.stopped_at = [s["global_step"] for s in saved]
    finally:
        if resume is not None:
            resume.unlink(missing_ok=True)
    return [pack.result(k, scale) for k in range(len(specs))]


class PackTracker(L.Callback):
    """Drives each member's `RunTracker` through a member's view of the trainer and module; freezes a
    member whose tracker stops it (diverged) or whose claim is lost; keeps the members' checkpoints
    in step (when one checkpoints, all do); stops the pack when no member is left running."""

    def __init__(self, module: PackModule, trackers: list[RunTracker], formats: list):
        self.module, self.trackers, self.formats = module, trackers, formats
        self.views = [MemberTrainer(self, k) for k in range(len(trackers))]
        self.modules = [MemberModule(module, k) for k in range(len(trackers))]
        self.stopped_at: list[int | None] = [None] * len(trackers)
        self.lost: set[int] = set()
        self.trainer = None
        self._dump: tuple[int, dict] | None = None

    def state_dict(self) -> dict:
        return {"members": [t.state_dict() for t in self.trackers]}

    def load_state_dict(self, state: dict) -> None:
        for tracker, member in zip(self.trackers, state["members"]):
            tracker.load_state_dict(member)

    def on_train_start(self, trainer, pl_module) -> None:
        self.trainer = trainer
        for k, tracker in enumerate(self.trackers):
            if tracker.state["status"] != "running":
                self._freeze(k, trainer.global_step)
            else:
                self._member(k, tracker.on_train_start, self.views[k], self.modules[k])
        self._stop_if_idle(trainer)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        losses = pl_module.member_losses.tolist()
        live = [k for k, on in enumerate(self.module.active.tolist()) if on]
        saves = {k: self.trackers[k]._last_save for k in live}
        for k in live:
            step_batch = {"n_tokens": batch["n_tokens"][k]}
            self._member(k, self.trackers[k].on_train_batch_end, self.views[k], self.modules[k], losses[k],
                         step_batch, batch_idx)  # fmt: skip
        # A running member checkpointed (its schedule and clock said so): so do the others, keeping the
        # members' checkpoints at one step, so that a resumed pack stays one pack.
        saved = [k for k in live if self.trackers[k]._last_save != saves[k] and not self.views[k].should_stop]
        if saved:
            for k in live:
                if k not in saved and self.module.active[k]:
                    self._member(k, self.trackers[k]._checkpoint, self.views[k], trainer.global_step)
        for k in live:
            if self.views[k].should_stop and self.module.active[k]:
                self._freeze(k, trainer.global_step)
        self._stop_if_idle(trainer)

    def _member(self, k: int, hook, *args) -> None:
        """Run member k's hook; a lost claim stops that member only (another worker has it)."""
        try:
            hook(*args)
        except LostClaim:
            self.lost.add(k)
            self._freeze(k, self.trainer.global_step if self.trainer else 0)

    def _freeze(self, k: int, step: int) -> None:
        self.module.active[k] = False
        self.stopped_at[k] = step

    def _stop_if_idle(self, trainer) -> None:
        if not bool(self.module.active.any()):
            trainer.should_stop = True

    def checkpoint_base(self) -> dict:
        """Lightning's checkpoint of the pack at this step (loop counters and all), made once per step."""
        step = self.trainer.global_step
        if self._dump is None or self._dump[0] != step:
            self._dump = (step, self.trainer._checkpoint_connector.dump_checkpoint(weights_only=False))
        return self._dump[1]

    def result(self, k: int, scale: dict) -> RunResult | None:
        if k in self.lost:
            return None
        state, tracker = self.trackers[k].state, self.trackers[k]
        if state["status"] == "running":
            raise RuntimeError(f"run {tracker.spec.run_hash}: training stopped at step {self.stopped_at[k]} "
                               f"of {max(tracker.schedule)}")  # fmt: skip
        last = self.stopped_at[k] if self.stopped_at[k] is not None else self.trainer.global_step
        final = {r["metric"]: r["value"] for r in state["rows"] if r["split"] == "eval" and r["step"] == last}
        return RunResult(tracker.spec, state["status"], final, list(state["rows"]), tracker.ckpt_path, last,
                         state["tokens"], state["elapsed"], scale, state.get("stop_reason"),
                         tracker.training_mode)  # fmt: skip


class MemberTrainer:
    """What a `RunTracker` reads from and does to its trainer, for one member of the pack."""

    def __init__(self, pack: PackTracker, k: int):
        self.pack, self.k, self.should_stop = pack, k, False

    @property
    def global_step(self) -> int:
        return self.pack.trainer.global_step

    @property
    def optimizers(self) -> list:
        return [_Groups(self.pack.formats[self.k].lr(self.global_step))]

    def save_checkpoint(self, path, weights_only: bool = False) -> None:
        fmt, k = self.pack.formats[self.k], self.k
        base = self.pack.checkpoint_base()
        optimizer = self.pack.trainer.optimizers[0]
        member = {key: value for key, value in base.items()
                  if key not in ("state_dict", "optimizer_states", "lr_schedulers", "callbacks")}  # fmt: skip
        member["loops"] = _with_scheduler_steps(base["loops"], self.global_step)
        packed = self.pack.module.packed
        member["state_dict"] = {f"model.{n}": t for n, t in packed.member_state(k).items()}
        member["optimizer_states"] = [fmt.optimizer_state(optimizer, packed, k, self.global_step)]
        member["lr_schedulers"] = [fmt.scheduler_state(self.global_step)]
        member["callbacks"] = {"RunTracker": self.pack.trackers[k].state_dict()}
        torch.save(member, path)


def _with_scheduler_steps(loops: dict, steps: int) -> dict:
    """The pack's loop counters as a solo run's: its LambdaLR has stepped once per update."""
    loops = copy.deepcopy(loops)
    count = {"ready": steps, "completed": steps}
    loops["fit_loop"]["epoch_loop.scheduler_progress"] = {"total": dict(count), "current": dict(count)}
    return loops


class _Groups:
    def __init__(self, lr: float):
        self.param_groups = [{"lr": lr}]


class MemberModule:
    """Member k as a `RunTracker` sees its `SequenceModel`: ``.model`` is a `Transformer` holding
    member k's current weights, made when asked for (the held-out metrics do not need it: they come
    from `PackEval`; anything else a tracker does with the model does)."""

    def __init__(self, module: PackModule, k: int):
        self.pack_module, self.k, self._model = module, k, None

    @property
    def model(self) -> Transformer:
        packed = self.pack_module.packed
        if self._model is None:
            self._model = Transformer(packed.cfg).to(packed.params[0].device)
        self._model.load_state_dict(packed.member_state(self.k))
        return self._model


class MemberTracker(RunTracker):
    """A member's `RunTracker` whose held-out metrics come from one evaluation of the whole pack
    (`evaluate_pack`), made when the first member asks at a step and shared by the others."""

    def __init__(self, pack_eval: PackEval, k: int, *args):
        super().__init__(*args)
        self.pack_eval, self.k = pack_eval, k

    def _measure(self, pl_module) -> dict[str, float]:
        return self.pack_eval(self.k)


class PackEval:
    def __init__(self, module: PackModule, task, held_out, precision: str):
        self.module, self.task, self.held_out, self.precision = module, task, held_out, precision
        self._at: tuple[int, list] | None = None

    def __call__(self, k: int) -> dict[str, float]:
        step = self.module.trainer.global_step
        if self._at is None or self._at[0] != step:
            packed = self.module.packed
            was_training = packed.training
            packed.eval()
            self._at = (step, evaluate_pack(packed, self.task, self.held_out, self.precision))
            packed.train(was_training)
        return dict(self._at[1][k])


class SoloFormat:
    """Converts one member's optimiser state to and from what `torch.optim.AdamW` and `LambdaLR`
    write in a solo run's checkpoint (parameter order: `SequenceModel`'s two groups, matrices then
    the rest), from a solo optimiser built once as the template."""

    def __init__(self, spec: RunSpec, total: int):
        self.spec, self.total = spec, total
        with torch.device("meta"):
            opt = SequenceModel(spec, total).configure_optimizers()
        self.groups = opt["optimizer"].state_dict()["param_groups"]
        self.schedule = opt["lr_scheduler"]["scheduler"].state_dict()

    def lr(self, updates: int) -> float:
        """The learning rate LambdaLR sets after ``updates`` updates (float, as in a solo run)."""
        spec = self.spec
        return spec.lr * lr_multiplier(updates, self.total, spec.warmup, spec.min_lr_ratio)

    @staticmethod
    def solo_order(shapes: list[torch.Size]) -> list[int]:
        """Parameter indices in the solo optimiser's state order: matrices first, then the rest."""
        mats = [i for i, s in enumerate(shapes) if len(s) >= 2]
        return mats + [i for i, s in enumerate(shapes) if len(s) < 2]

    def optimizer_state(self, optimizer, packed, k: int, updates: int) -> dict:
        shapes = [p.shape[1:] for p in packed.params]
        state = {}
        for j, i in enumerate(self.solo_order(shapes)):
            s = optimizer.state.get(packed.params[i], {})
            if "exp_avg" in s:
                state[j] = {"step": torch.tensor(float(s["step"][k])), "exp_avg": s["exp_avg"][k].clone(),
                            "exp_avg_sq": s["exp_avg_sq"][k].clone()}  # fmt: skip
        groups = copy.deepcopy(self.groups)
        for group in groups:
            group["lr"] = self.lr(updates)
        return {"state": state, "param_groups": groups}

    def scheduler_state(self, updates: int) -> dict:
        lr = self.lr(updates)
        return {**copy.deepcopy(self.schedule), "last_epoch": updates, "_step_count": updates + 1,
                "_is_initial": False, "_last_lr": [lr] * len(self.schedule["base_lrs"])}  # fmt: skip

    def load_into(self, optimizer, packed, k: int, saved: dict) -> None:
        """Member k's moments and step count from a solo-format optimizer state."""
        shapes = [p.shape[1:] for p in packed.params]
        for j, i in enumerate(self.solo_order(shapes)):
            if j not in saved["state"]:
                continue
            p, s = packed.params[i], saved["state"][j]
            state = optimizer.state[p]
            if "exp_avg" not in state:
                state["exp_avg"], state["exp_avg_sq"] = torch.zeros_like(p), torch.zeros_like(p)
                state["step"] = torch.zeros(p.shape[0])
            state["exp_avg"][k].copy_(s["exp_avg"])
            state["exp_avg_sq"][k].copy_(s["exp_avg_sq"])
            state["step"][k] = float(s["step"])


def _assemble(module: PackModule, pack: PackTracker, saved: list[dict], where: Path) -> Path:
    """A Lightning checkpoint of the pack made of its members' (solo-format) checkpoints, all at one
    step: what `Trainer.fit(ckpt_path=...)` resumes from. Written beside the first member's."""
    packed = module.packed
    for k, state in enumerate(saved):
        packed.load_member(k, {n.removeprefix("model."): t for n, t in state["state_dict"].items()})
    optimizer = module.configure_optimizers()
    for k, state in enumerate(saved):
        pack.formats[k].load_into(optimizer, packed, k, state["optimizer_states"][0])
    base = saved[0]
    assembled = {key: value for key, value in base.items()
                 if key not in ("state_dict", "optimizer_states", "lr_schedulers", "callbacks")}  # fmt: skip
    assembled["state_dict"] = module.state_dict()
    assembled["optimizer_states"] = [optimizer.state_dict()]
    assembled["lr_schedulers"] = []
    assembled["callbacks"] = {pack.state_key: {"members": [s["callbacks"]["RunTracker"] for s in saved]}}
    path = where / f".pack-resume-{uuid.uuid4().hex[:8]}.ckpt"
    torch.save(assembled, path)
    os.chmod(path, 0o600)
    return path
