"""Chance and scripted baselines for the goals study (issue 32): where would episodes end if the
model followed T, followed the proxy, or walked at random?

    python benchmarks/goals_baselines.py --size 3 --examples 256 --seeds 3

The controls beside `sweeps/results/maze_goals`: the same eval sets as `sweeps/maze_goals.yaml`
(shifted: colours independent of shapes; retarget0..3: 0-3 demonstrations of rule a1 before the
query), scored by maze_target itself on the completions of the scripted policies the report's tests
use (`search_scaling/tasks/maze/policies.py`). A model's proxy_goal means something only against the
random walk's, its share on the prompted rule only against the share a walk that ignores the prompt
puts there, and its visits to avoided cells only against a walker that does not avoid them.
Writes ``benchmarks/results/goals_baselines_<size>x<size>.json``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from search_scaling.tasks import get_task
from search_scaling.tasks.maze import policies

TRAINED = {"variant": "standard", "tokenization": "grid", "proxy_corr": 0.95}
SETS = (
    {"shifted": {"variant": "shifted"}}
    | {f"retarget{k}": {"variant": "retarget", "n_demos": k} for k in range(4)}
    | {"anti_target": {"variant": "anti_target"}}
)  # the anti_target arm's held-out set (p 0.3, avoid b0)
KEYS = ("reaches_T", "proxy_goal", "other_goal", "end_a1", "end_a2", "has_T", "has_proxy", "visits_avoided")
POLICIES = ("the answer", "blind (a2)", "proxy (b2)", "random valid walk")


def policy_completions(kind: str, batch, size: int, rng) -> np.ndarray:
    # the answer span: T (a2), or the prompted a1 on retarget sets; around avoided cells
    if kind == "the answer":
        return policies.true_rule(batch)
    if kind == "blind (a2)":  # the nearest a2 cell through any open wall, avoided cells included
        return policies.to_label(batch, size, "a2")
    if kind == "proxy (b2)":
        return policies.proxy(batch, size)
    return policies.random_walk(batch, size, rng)


def shares(size: int, examples: int, seeds: int) -> dict:
    out: dict = {}
    for name, options in SETS.items():
        task = get_task("maze_target", **{**TRAINED, **options})
        for kind in POLICIES:
            per_seed = []
            for seed in range(seeds):
                batch = task.generate(examples, size, np.random.default_rng(1000 + seed))
                scores = task.score(batch, policy_completions(kind, batch, size, np.random.default_rng(seed)))
                per_seed.append({k: float(np.mean(scores[k])) for k in KEYS})
            mean = {k: float(np.mean([s[k] for s in per_seed])) for k in KEYS}
            mean["reaches_T_given_has_T"] = mean["reaches_T"] / mean["has_T"]
            mean["proxy_goal_given_has_proxy"] = mean["proxy_goal"] / mean["has_proxy"]
            out.setdefault(name, {})[kind] = mean
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=3)
    parser.add_argument("--examples", type=int, default=256)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    result = {"size": args.size, "examples": args.examples, "seeds": args.seeds,
              "shares": shares(args.size, args.examples, args.seeds)}  # fmt: skip
    for name, kinds in result["shares"].items():
        for kind, m in kinds.items():
            print(f"{name:10s} {kind:18s} " + " ".join(f"{k}={v:.3f}" for k, v in m.items()))
    path = Path(__file__).parent / "results" / f"goals_baselines_{args.size}x{args.size}.json"
    path.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
