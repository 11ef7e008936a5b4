"""Named evaluation sets: the held-out set under changed task options and/or problem size.

``evals: [{name: shifted, options: {variant: shifted}}, {name: long, size: 16}]`` in a `RunSpec`
(or a sweep's ``training``) scores the model, at every evaluation step, on each named set as well as
on the task as defined. Curves carry the set in their split: ``eval:<name>`` (see
`search_scaling.store.schema`). A set is seeded like the held-out set (task, options, size only),
so every cell that names the same set is scored on the same examples, and a set equal to another
cell's own task is that cell's held-out set.

The model must be able to read every set: its vocabulary and context are the largest over the
training task and the sets, and each smaller vocabulary must be a prefix of the largest (a token id
must mean the same thing in training and evaluation). Mazes share their vocabulary across grid
sizes that way; ``maze_target`` appends its label tokens after the grid's coordinates, so it can be
evaluated under other options but not at another size.

``ablate: [{hook: blocks.1.hook_attn_out, op: zero}, ...]`` scores the set with those ablations
(`interventions`: zero / mean ablation, clamped patterns) at every evaluation; a set with only
``ablate`` is the held-out set under ablation (``{name: no_L1, ablate: [...]}``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from search_scaling.tasks import Task, get_task
from search_scaling.training import interventions

NAME = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")
KEYS = ("name", "options", "size", "ablate")
SPLIT_PREFIX = "eval:"


@dataclass(frozen=True)
class EvalSet:
    name: str
    task: Task
    size: int
    options: dict  # the task options after the set's overrides: part of the set's seed
    ablate: list = ()  # interventions applied while scoring this set (`interventions`)

    @property
    def split(self) -> str:
        return f"{SPLIT_PREFIX}{self.name}"


def canonical(evals, where: str = "evals") -> list[dict]:
    """``evals`` as ``[{name, options, size[, ablate]}]`` (options ``{}`` and size None when not
    given, ablate only when given), so equal sets hash equally however they were written; raises
    ValueError naming the entry."""
    if not isinstance(evals, (list, tuple)):
        raise ValueError(f"{where} must be a list of {{name, options, size, ablate}} mappings, got {evals!r}")
    out, seen = [], set()
    for i, entry in enumerate(evals):
        at = f"{where}[{i}]"
        if not isinstance(entry, dict) or "name" not in entry or set(entry) - set(KEYS):
            raise ValueError(f"{at}: a mapping with name and optional options, size, ablate; got {entry!r}")
        name, options, size = entry["name"], entry.get("options") or {}, entry.get("size")
        if not isinstance(name, str) or not NAME.match(name):
            raise ValueError(f"{at}.name: 1-40 letters, digits, '_', '-' or '.', got {name!r}")
        if name in seen:
            raise ValueError(f"{at}.name: {name!r} is used twice; each set needs its own name")
        if not isinstance(options, dict):
            raise ValueError(f"{at}.options: a mapping of task options, got {options!r}")
        if size is not None and (isinstance(size, bool) or not isinstance(size, int)):
            raise ValueError(f"{at}.size: an integer problem size, got {size!r}")
        ablate = interventions.canonical(entry.get("ablate") or [], f"{at}.ablate", windows=False)
        if not options and size is None and not ablate:
            raise ValueError(
                f"{at} ({name}): set options, size and/or ablate; otherwise it is the held-out set"
            )
        seen.add(name)
        # ablate only when set: the sets of runs recorded before it keep their spelling and hash
        out.append(
            {"name": name, "options": dict(options), "size": size, **({"ablate": ablate} if ablate else {})}
        )
    return out


def resolve(spec_task: str, task_options: dict, size: int, evals: list[dict]) -> list[EvalSet]:
    """The named sets of a run as tasks: unknown options or an impossible size raise ValueError
    naming the set."""
    sets = []
    for i, entry in enumerate(evals):
        where = f"evals[{i}] ({entry['name']})"
        options = {**task_options, **entry["options"]}
        set_size = size if entry["size"] is None else entry["size"]
        try:
            task = get_task(spec_task, **options)
            task.check_size(set_size)
        except (ValueError, TypeError) as err:
            raise ValueError(f"{where}: {err}") from None
        sets.append(EvalSet(entry["name"], task, set_size, options, entry.get("ablate", [])))
    return sets


def model_shape(task: Task, size: int, sets: list[EvalSet]) -> tuple[int, int]:
    """(d_vocab, n_ctx) that read the training task at ``size`` and every set: the largest of each,
    where every vocabulary must be a prefix of the largest one."""
    readers = [("the training task", task, size)] + [(f"eval set {s.name!r}", s.task, s.size) for s in sets]
    vocabs = [(what, t.vocabulary(k), k) for what, t, k in readers]
    _, largest, at = max(vocabs, key=lambda v: len(v[1]))
    for what, vocab, k in vocabs:
        if largest[: len(vocab)] != vocab:
            raise ValueError(
                f"{what}: the vocabulary of {task.name} at {task.size_name}={k} ({len(vocab)} tokens) is not "
                f"a prefix of the one at {task.size_name}={at} ({len(largest)} tokens), so token ids would "
                f"change meaning between training and evaluation; evaluate {task.name} at its training size"
            )
    return len(largest), max(t.max_len(k) for _, t, k in readers)


def split_name(split: str) -> str | None:
    """The set's name of an ``eval:<name>`` split; None for any other split."""
    return split[len(SPLIT_PREFIX) :] if split.startswith(SPLIT_PREFIX) else None


def position_problem(task: Task, size: int, sets: list[EvalSet], positional: str) -> str | None:
    """A named set that scores its episode after demonstrations (`Task.demonstration_tokens`: the
    maze_target retarget variant), at positions past the longest training sequence, in a model
    with learned (absolute) positions: those position embeddings are never trained, so the set would
    measure untrained weights, not the model (a 3x3 pilot that learned the task: 3% valid episodes
    after one demonstration, 80% after none). None when every set is readable."""
    if positional != "learned":
        return None
    trained = task.max_len(size)
    for s in sets:
        before = getattr(s.task, "demonstration_tokens", lambda k: 0)(s.size)
        if before > 0 and s.task.max_len(s.size) > trained:
            return (
                f"eval set {s.name!r}: its demonstrations put the scored episode at positions up to "
                f"{s.task.max_len(s.size)}, past the longest training sequence ({trained} tokens), and the "
                f"model's positions are learned (positional: learned), so those positions are never "
                f"trained; allowed: model_options {{positional: rotary}}, a set without demonstrations "
                f"(n_demos: 0), or training on as many demonstrations"
            )
    return None
