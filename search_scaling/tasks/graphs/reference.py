"""Plain Python generators of graph search and path-star examples, one example at a time.

They draw from the same distributions as the vectorised generators (`dag`, `path_star`) with a
`random.Random`, in the style of the papers' own code, and serve two purposes: a reference that the
tests compare the vectorised lookahead, shortest paths and histograms against, and the baseline of
``benchmarks/search_tasks_generation.py``. Not used in training.
"""

from __future__ import annotations

import random
from collections import deque

from search_scaling.tasks.graphs.dag import ALPHA, EXTRA_VERTICES, MAX_DEGREE

Edges = list[tuple[int, int]]


def children_of(edges: Edges) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for u, v in edges:
        out.setdefault(u, []).append(v)
    return out


def lookahead_depth(edges: Edges, vertex: int, nxt: int, goal: int) -> int:
    """The frontier search of the module docstring of `dag`, one vertex at a time."""
    kids = children_of(edges)
    frontier = [(v, v) for v in kids.get(vertex, [])]
    visited = {v for v, _ in frontier}
    depth = 0
    while frontier:
        if all(branch == nxt for _, branch in frontier):
            return depth
        depth += 1
        found: dict[int, int] = {}  # vertex -> branch, in discovery order
        for v, branch in frontier:
            if v == goal:
                return depth
            for child in kids.get(v, []):
                if child not in visited:
                    visited.add(child)
                    found[child] = branch
                elif branch == nxt and child in found:
                    found[child] = nxt  # reached from the move's branch as well: count it there
        frontier = list(found.items())
    return depth


def shortest_paths(edges: Edges, start: int, goal: int) -> tuple[int, list[int]]:
    """(number of shortest start-goal paths, one of them; [] if there is none), by BFS."""
    kids = children_of(edges)
    dist, count, parent = {start: 0}, {start: 1}, {}
    queue = deque([start])
    while queue:
        u = queue.popleft()
        for v in kids.get(u, []):
            if v not in dist:
                dist[v], count[v], parent[v] = dist[u] + 1, count[u], u
                queue.append(v)
            elif dist[v] == dist[u] + 1:
                count[v] += count[u]
    if goal not in dist:
        return 0, []
    path = [goal]
    while path[-1] != start:
        path.append(parent[path[-1]])
    return count[goal], path[::-1]


# -- graph search ---------------------------------------------------------------------------------
def naive_graph(n_max: int, rnd: random.Random) -> tuple[Edges, int, int]:
    n = rnd.randint(3, n_max)
    edges = []
    for i in range(1, n):
        k = 1 if rnd.random() < 0.5 else rnd.randint(1, MAX_DEGREE)
        edges += [(p, i) for p in rnd.sample(range(i), min(k, i))]
    kids = children_of(edges)
    pairs = [(u, v) for u in range(n) for v in _descendants(kids, u)]
    start, goal = rnd.choice(pairs)
    return edges, start, goal


def star_graph(n_max: int, max_lookahead: int, rnd: random.Random) -> tuple[Edges, int, int]:
    shapes = [(s, c) for s in range(1, max_lookahead + 1) for c in range(1, (n_max - 1) // s + 1)]
    spoke, count = rnd.choice(shapes)
    edges = []
    for j in range(count):
        first = 1 + j * spoke
        edges += [(0, first)] + [(first + t - 1, first + t) for t in range(1, spoke)]
    return edges, 0, spoke


def balanced_graph(lookahead: int, n_max: int, rnd: random.Random) -> tuple[Edges, int, int]:
    """One attempt at lookahead L (see `dag.balanced` for the construction)."""
    big = max(lookahead, 1)
    paths = rnd.randint(2, max((n_max - 1) // big, 2)) if lookahead > 0 else 1
    n = min(lookahead * paths + 1 + rnd.randrange(EXTRA_VERTICES), n_max)
    n = max(n, 2, 1 + paths * lookahead)
    edges = [(i, i + 1) for i in range(big)]
    index = 1 + big
    for j in range(1, paths):
        room = n - index - (lookahead + 1) - (paths - j - 1) * lookahead >= 0
        length = lookahead + (1 if room and rnd.random() < 0.5 else 0)
        edges += [(0, index)] + [(index + t - 1, index + t) for t in range(1, length)]
        index += length
    prefix = rnd.randint(0, n - index)
    edges += [(index + t, index + t - 1 if t else 0) for t in range(prefix)]
    index += prefix
    in_deg = [ALPHA + sum(v == w for _, v in edges) for w in range(n_max)]
    out_deg = [ALPHA + sum(u == w for u, _ in edges) for w in range(n_max)]
    for i in range(index, n):
        n_children = min(rnd.randint(0, MAX_DEGREE), i)
        n_parents = rnd.randint(0 if n_children else 1, MAX_DEGREE)
        children = _weighted_sample(list(range(i)), in_deg[:i], n_children, rnd)
        below = set(children).union(*(_descendants(children_of(edges), c) for c in children))
        free = [u for u in range(i) if u not in below]
        parents = _weighted_sample(free, [out_deg[u] for u in free], n_parents, rnd)
        edges += [(i, c) for c in children] + [(p, i) for p in parents]
        for c in children:
            in_deg[c] += 1
        for p in parents:
            out_deg[p] += 1
    return edges, 0, big


def graph_search_example(distribution: str, n_max: int, max_lookahead: int, rnd: random.Random):
    """(edges, start, goal, path, lookahead) with vertices relabelled by a random permutation of
    0..N-1, after the rejections of the vectorised generator: no more than N edges, one shortest
    path and, for `balanced`, the requested lookahead."""
    want = rnd.randint(0, max_lookahead)
    while True:
        if distribution == "naive":
            edges, start, goal = naive_graph(n_max, rnd)
        elif distribution == "star":
            edges, start, goal = star_graph(n_max, max_lookahead, rnd)
        else:
            edges, start, goal = balanced_graph(want, n_max, rnd)
        count, path = shortest_paths(edges, start, goal)
        if len(edges) > n_max or count != 1:
            continue
        lookahead = lookahead_depth(edges, start, path[1], goal)
        if distribution != "balanced" or lookahead == want:
            break
    ids = list(range(n_max))
    rnd.shuffle(ids)
    edges = [(ids[u], ids[v]) for u, v in edges]
    rnd.shuffle(edges)
    return edges, ids[start], ids[goal], [ids[v] for v in path], lookahead


def _descendants(kids: dict[int, list[int]], u: int) -> set[int]:
    seen, stack = set(), list(kids.get(u, []))
    while stack:
        v = stack.pop()
        if v not in seen:
            seen.add(v)
            stack += kids.get(v, [])
    return seen


def _weighted_sample(items: list[int], weights: list[float], k: int, rnd: random.Random) -> list[int]:
    """k distinct items, each draw proportional to the weights of those left."""
    items, weights, out = list(items), list(weights), []
    for _ in range(min(k, len(items))):
        j = rnd.choices(range(len(items)), weights=weights)[0]
        out.append(items.pop(j))
        weights.pop(j)
    return out


# -- path-star -----------------------------------------------------------------------------------
def path_star_example(degree: int, length: int, n_nodes: int, rnd: random.Random):
    """(edges, source, goal, path) of G(d, l): d arms of l - 1 vertices each from the source,
    distinct random ids in 0..n_nodes-1, edges shuffled, the goal the tip of a random arm."""
    ids = rnd.sample(range(n_nodes), 1 + degree * (length - 1))
    source, arms = ids[0], [ids[1 + a * (length - 1) : 1 + (a + 1) * (length - 1)] for a in range(degree)]
    edges = [(([source] + arm)[t], arm[t]) for arm in arms for t in range(length - 1)]
    rnd.shuffle(edges)
    arm = arms[rnd.randrange(degree)]
    return edges, source, arm[-1], [source] + arm
