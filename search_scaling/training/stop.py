"""Stop rules: a run ends when its held-out metric reaches a target or stops improving; the budget's
steps stay the cap. A `RunSpec` field (``stop``), written in a sweep's budget:

    budget: {steps: 20000, stop: {target: {metric: exact, value: 0.99},
                                  plateau: {metric: loss, patience: 1, min_delta: 0.001}}}

Both rules are judged on the held-out curve (split ``eval``) at each evaluation step s > 0, in the
order: divergence (the tracker's own rule), target, plateau; the first that holds ends the run there
with its ``stop_reason`` (`REASONS`). A run that reaches its last step ends on ``budget``.

- **target**: the held-out ``metric`` at s reaches ``value`` (>= for accuracies and other
  higher-is-better metrics, <= for losses: `higher_is_better`). The first such step is the run's
  compute-to-target (`analysis.budget` finds it again from any curve).
- **plateau**, in log-step: with b = s / (1 + patience), the run has plateaued at s when the best
  value over the evaluations in (b, s] improves on the best over those at steps <= b by no more
  than ``min_delta`` (in the metric's units). patience = 1: the latest half of training so far
  brought nothing; patience = 3: the latest three quarters. The window is a fixed ratio of steps,
  so it is equally wide in log-step at step 100 and at step 100,000, however the evaluations are
  spaced; a patience counted in evaluations would not be (log-spaced evaluations make it ever longer
  in steps). It is judged only once b >= max(1, warm-up steps) (no verdict while the learning rate
  is still warming up) and s >= ``min_steps`` (e.g. to let an accuracy leave zero first).

`decide` is a pure function of the rule, the curve rows so far and the step, and the rows are part
of the checkpoint: a killed run resumed from its checkpoint stops at the same step as one never
killed. A stopped run is finished (status ``done``): it is not trained further when resumed, and in
a pack its member is frozen while the others go on (`pack_run`).
"""

from __future__ import annotations

import math
import re

REASONS = ("target", "plateau", "budget", "diverged")
RULES = {"target": ("metric", "value"), "plateau": ("metric", "patience", "min_delta", "min_steps")}
REQUIRED = {"target": ("metric", "value"), "plateau": ("metric",)}
PLATEAU_DEFAULTS = {"patience": 1.0, "min_delta": 0.0, "min_steps": 0}
UNBOUNDED = ("answer_logprob", "prefix_len")  # higher is better, but not an accuracy in [0, 1]
NOT_A_GOAL = ("answer_len",)  # a property of the data, not of what the model learned
SPLIT = "eval"


def higher_is_better(metric: str) -> bool:
    """Losses (``loss``, ``<group>_loss``) go down; every other held-out metric goes up."""
    return not (metric == "loss" or metric.endswith("_loss"))


def is_accuracy(metric: str) -> bool:
    """A metric whose values are fractions in [0, 1] (exact, token_acc, exact_dec_<k>, valid, ...)."""
    return higher_is_better(metric) and metric not in UNBOUNDED and metric not in NOT_A_GOAL


# -- validation --------------------------------------------------------------------------------------
def problems(stop, where: str = "stop") -> list[str]:
    """Everything wrong with a stop rule's form and values, each naming its field and what is
    allowed (whether the task logs the metric is `metric_problems`, which needs the task)."""
    if not isinstance(stop, dict):
        return [f"{where} must be a mapping with target and/or plateau, got {stop!r}"]
    out = [f"{where}.{k}: unknown rule; allowed: {', '.join(RULES)}" for k in stop if k not in RULES]
    for rule in (r for r in RULES if r in stop):
        out += _rule_problems(rule, stop[rule], f"{where}.{rule}")
    return out


def _rule_problems(rule: str, spec, where: str) -> list[str]:
    if not isinstance(spec, dict):
        return [f"{where} must be a mapping with keys {', '.join(RULES[rule])}, got {spec!r}"]
    allowed = ", ".join(RULES[rule])
    out = [f"{where}.{k}: unknown key; allowed: {allowed}" for k in spec if k not in RULES[rule]]
    out += [f"{where}.{k}: required" for k in REQUIRED[rule] if k not in spec]
    metric = spec.get("metric")
    if "metric" in spec and (not isinstance(metric, str) or not metric):
        out.append(f"{where}.metric must be the name of a held-out metric (e.g. exact, loss), got {metric!r}")
        metric = None
    elif metric in NOT_A_GOAL:
        out.append(f"{where}.metric: {metric!r} is a property of the data, not something training improves")
    if rule == "target" and "value" in spec:
        out += _target_problems(metric, spec["value"], f"{where}.value")
    if rule == "plateau":
        out += _plateau_problems(spec, where)
    return out


def _target_problems(metric: str | None, value, where: str) -> list[str]:
    if not _number(value):
        return [f"{where} must be a finite number, got {value!r}"]
    if metric is not None and is_accuracy(metric) and not 0.0 <= value <= 1.0:
        return [f"{where} must be in [0, 1] for the accuracy {metric!r}, got {value!r}"]
    if metric is not None and not higher_is_better(metric) and value < 0:
        return [f"{where} must be >= 0 for the loss {metric!r}, got {value!r}"]
    return []


def _plateau_problems(spec: dict, where: str) -> list[str]:
    out = []
    patience, delta, min_steps = (spec.get(k, v) for k, v in PLATEAU_DEFAULTS.items())
    if not _number(patience) or patience < 1:
        out.append(f"{where}.patience must be a number >= 1 (the window (s / (1 + patience), s] of "
                   f"steps without improvement; 1 = the latest half), got {patience!r}")  # fmt: skip
    if not _number(delta) or delta < 0:
        out.append(f"{where}.min_delta must be a finite number >= 0 (in the metric's units), got {delta!r}")
    if isinstance(min_steps, bool) or not isinstance(min_steps, int) or min_steps < 0:
        out.append(f"{where}.min_steps must be an integer >= 0, got {min_steps!r}")
    return out


def _number(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


def canonical(stop: dict) -> dict:
    """A valid rule in one spelling (numbers as floats, plateau defaults filled in), so rules that
    mean the same hash the same."""
    out = {}
    if "target" in stop:
        out["target"] = {"metric": stop["target"]["metric"], "value": float(stop["target"]["value"])}
    if "plateau" in stop:
        p = {**PLATEAU_DEFAULTS, **stop["plateau"]}
        out["plateau"] = {"metric": p["metric"], "patience": float(p["patience"]),
                          "min_delta": float(p["min_delta"]), "min_steps": int(p["min_steps"])}  # fmt: skip
    return out


def metric_problems(stop: dict, logged: set[str], task: str, where: str = "stop") -> list[str]:
    """A rule on a metric the task does not log on its held-out set, naming what it does log. A
    stratified metric (``exact_dec_<k>``) counts as logged when any member of its family is (which
    strata a batch holds depends on the batch)."""
    families = {m.rsplit("_", 1)[0] for m in logged if re.fullmatch(r".+_\d+", m)}
    out = []
    for rule, spec in stop.items():
        metric = spec["metric"]
        if metric in logged or (re.fullmatch(r".+_\d+", metric) and metric.rsplit("_", 1)[0] in families):
            continue
        allowed = sorted(m for m in logged if m not in NOT_A_GOAL)
        out.append(f"{where}.{rule}.metric: {metric!r} is not logged by task {task!r}; it logs: "
                   f"{', '.join(allowed)}")  # fmt: skip
    return out


def logged_metrics(spec) -> set[str]:
    """The held-out metrics ``spec``'s task logs: scored once with an untrained model on a few
    held-out examples (as the hyperparameter search checks its objective)."""
    from search_scaling.models.transformer import Transformer
    from search_scaling.training.data import eval_batch
    from search_scaling.training.evaluate import evaluate

    batch = eval_batch(spec.task_obj, spec.size, 64, spec.eval_seed)
    return set(evaluate(Transformer(spec.model_config), spec.task_obj, batch))


# -- the decision ------------------------------------------------------------------------------------
def decide(stop: dict, rows: list[dict], step: int, warmup_steps: int = 0) -> str | None:
    """``"target"``, ``"plateau"`` or None: whether the run stops at evaluation ``step``, from its
    curve ``rows`` (dicts with step, split, metric, value; rows after ``step`` are ignored)."""
    if not stop or step <= 0:
        return None
    if "target" in stop:
        rule = stop["target"]
        value = _series(rows, rule["metric"], step).get(step, math.nan)
        if reached(rule["metric"], value, rule["value"]):
            return "target"
    if "plateau" in stop:
        rule = stop["plateau"]
        if plateaued(_series(rows, rule["metric"], step), step, rule, higher_is_better(rule["metric"]),
                     warmup_steps):  # fmt: skip
            return "plateau"
    return None


def reached(metric: str, value: float, target: float) -> bool:
    if not math.isfinite(value):
        return False
    return value >= target if higher_is_better(metric) else value <= target


def plateaued(series: dict[int, float], step: int, rule: dict, higher: bool, warmup_steps: int = 0) -> bool:
    """The log-step plateau rule (module docstring) on ``series`` {step: value} at ``step``."""
    boundary = step / (1.0 + rule.get("patience", PLATEAU_DEFAULTS["patience"]))
    if boundary < max(1, warmup_steps) or step < rule.get("min_steps", 0):
        return False
    sign = 1.0 if higher else -1.0  # compare as "higher is better"
    before = [sign * v for s, v in series.items() if s <= boundary and math.isfinite(v)]
    window = [sign * v for s, v in series.items() if boundary < s <= step and math.isfinite(v)]
    if not before or not window:
        return False
    return max(window) - max(before) <= rule.get("min_delta", PLATEAU_DEFAULTS["min_delta"])


def _series(rows: list[dict], metric: str, step: int) -> dict[int, float]:
    return {r["step"]: r["value"] for r in rows
            if r["split"] == SPLIT and r["metric"] == metric and r["step"] <= step}  # fmt: skip
