"""Tasks, looked up by name: ``get_task("parity", cot=False)``, ``get_task("maze", generator="wilson")``.

| task | size knob | loss mask (answer_only) | primary metric |
| --- | --- | --- | --- |
| maze | grid_n | path tokens + <PATH_END> | exact path |
| maze_target | grid_n | path tokens + <PATH_END> | reaches nearest target |
| binary_copy / parity / polynomial | L_max | every target after EoI | final state |
| d3 | k_max | the answer at <predict> | exact |
| induction | n | second half from its 2nd token | token accuracy |
| assoc_recall | N | the recalled value | exact |
| graph_search | N (most vertices) | the path tokens + <end> | exact path |
| path_star | l (vertices on a source-leaf path) | the path tokens | exact path |
"""

from __future__ import annotations

from search_scaling.tasks.base import LOSS_MODES, Task, TaskBatch
from search_scaling.tasks.d3 import D3
from search_scaling.tasks.graphs import GraphSearch, PathStar
from search_scaling.tasks.iteration import BinaryCopy, Parity, Polynomial
from search_scaling.tasks.maze.task import MazeTask
from search_scaling.tasks.recall import AssocRecall, Induction

TASKS: dict[str, type[Task]] = {
    cls.name: cls
    for cls in (MazeTask, BinaryCopy, Parity, Polynomial, D3, Induction, AssocRecall, GraphSearch, PathStar)
}


def get_task(name: str, **options) -> Task:
    """A configured task by name; unknown names or options raise ValueError naming the choices."""
    _register_late()
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; available: {sorted(TASKS)}")
    try:
        return TASKS[name](**options)
    except TypeError as err:  # unexpected keyword: say which task and what it accepts
        raise ValueError(f"task {name!r}: bad option ({err})") from None


def canonical_options(name: str, options):
    """``options`` without format options at their default (`Task.format_defaults`), so a spec that
    spells out a default has the identity of one that leaves it out; anything else as given."""
    _register_late()
    if not isinstance(name, str) or name not in TASKS or not isinstance(options, dict):
        return options  # the spec's own checks name what is wrong
    defaults = TASKS[name].format_defaults
    return {k: v for k, v in options.items() if not (k in defaults and v == defaults[k])}


def data_options(name: str, options):
    """The options that choose the examples: ``options`` without format options, so a data seed
    (training stream, held-out set) is the same for every way of writing the examples."""
    _register_late()
    if not isinstance(name, str) or name not in TASKS or not isinstance(options, dict):
        return options
    return {k: v for k, v in options.items() if k not in TASKS[name].format_defaults}


def _register_late() -> None:
    if "maze_target" not in TASKS:
        from search_scaling.tasks.maze.target import MazeTarget

        TASKS["maze_target"] = MazeTarget


__all__ = ["LOSS_MODES", "TASKS", "Task", "TaskBatch", "canonical_options", "data_options", "get_task"]
