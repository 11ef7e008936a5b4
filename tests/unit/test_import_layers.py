"""The house: no import circles in `search_scaling`, and every import pointing down its layers.

The graph is read from the source (ast), function-level imports included (they run too, only later);
``from pkg import name`` counts as an import of the module that defines ``name``, so a package's
re-exports do not hide an edge. Layers, bottom to top (docs: ARCHITECTURE.md): a module may import
its own layer or lower ones; inside a layer the graph must still be free of circles."""

from __future__ import annotations

import ast
import functools
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "search_scaling"
LAYERS = [  # names inside the package; "" is the package itself
    ("foundations", ["rng", "version", "claims", "cache"]),
    ("tasks and models", ["tasks", "models"]),
    ("progress measures", ["measures"]),
    ("training", ["training"]),
    ("stores", ["store"]),
    # a spec is a description: it validates and expands, and plans nothing
    ("sweep spec", ["sweep.spec", "sweep.tune_spec", "sweep.sources"]),
    # pure functions of the spec and the machine
    ("planning", ["sweep.packs", "sweep.resources", "sweep.short_budgets", "sweep.tune_plan"]),
    (
        "execution",
        [
            "sweep.runner",
            "sweep.state",
            "sweep.tune",
            "sweep.tune_trial",
            "sweep.tune_stop",
            "sweep.preflight",
            "sweep.ray_output",
            "sweep.ray_exit",
        ],
    ),
    ("sessions and outputs", ["sweep.session", "sweep.progress", "sweep.logs", "sweep.tune_outputs"]),
    ("views", ["", "loader", "ui", "cli_parser", "commands"]),
    ("dispatch", ["cli"]),
]


def modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


@functools.cache
def import_graph() -> dict[str, set[str]]:
    """{module: the modules of the package it imports}."""
    mods = modules()
    trees = {name: ast.parse(path.read_text()) for name, path in mods.items()}

    def absolute(module: str, node: ast.ImportFrom) -> str:
        if not node.level:
            return node.module
        parts = module.split(".") if mods[module].name == "__init__.py" else module.split(".")[:-1]
        parts = parts[: len(parts) - node.level + 1]
        return ".".join(parts + ([node.module] if node.module else []))

    def owner(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    def defining(module: str, name: str, seen: tuple = ()) -> str | None:
        """The module that defines ``name`` as imported from ``module`` (through re-exports)."""
        if f"{module}.{name}" in mods:
            return f"{module}.{name}"
        module = owner(module)
        if module is None or mods[module].name != "__init__.py" or module in seen:
            return module
        for node in trees[module].body:
            if isinstance(node, ast.ImportFrom) and any((a.asname or a.name) == name for a in node.names):
                return defining(absolute(module, node), name, (*seen, module))
        return module

    graph = {}
    for name, tree in trees.items():
        found = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found.update(owner(a.name) for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                found.update(defining(absolute(name, node), a.name) for a in node.names)
        graph[name] = {m for m in found if m and m != name}
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root), on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child), on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def layer_of(module: str) -> int:
    """The layer whose longest name matches ``module``."""
    best, level = -1, None
    for i, (_, names) in enumerate(LAYERS):
        for name in names:
            prefix = f"search_scaling.{name}".rstrip(".")
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, level = len(prefix), i
    assert level is not None, f"{module} is in no layer: add it to LAYERS"
    return level


def test_the_graph_sees_re_exports_and_function_level_imports():
    graph = import_graph()
    assert "search_scaling.training.spec" in graph["search_scaling.sweep.spec"]  # module level
    assert "search_scaling.tasks.base" in graph["search_scaling.measures"]  # TaskBatch, via tasks
    assert "search_scaling.loader" in graph["search_scaling"]  # inside __getattr__


def test_the_circle_finder_finds_a_planted_circle():
    planted = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert circles(planted) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_no_import_circles():
    assert circles(import_graph()) == []


def test_every_import_points_down_the_layers():
    upward = [
        f"{module} ({LAYERS[layer_of(module)][0]}) imports {target} ({LAYERS[layer_of(target)][0]})"
        for module, targets in import_graph().items()
        for target in sorted(targets)
        if layer_of(target) > layer_of(module)
    ]
    assert upward == []


def test_analysis_imports_nothing_of_search_scaling():
    """The analysis reads tables only (its examples/ scripts may open runs with `load_run`)."""
    for path in (PACKAGE.parent / "analysis").rglob("*.py"):
        if "examples" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            names += [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not any(n.split(".")[0] == "search_scaling" for n in names), path
