"""Batched DAG generators and measurements for graph search (Saparov et al., ICLR 2025).

A batch of m graphs is an adjacency ``adj`` bool[m, N, N] (``adj[b, u, v]``: edge u -> v) over at
most N vertices, numbered in construction order (the task gives them random ids afterwards), with
``n_vertices`` int[m], ``start`` and ``goal`` int[m]. Every generator advances all graphs of the batch
in lockstep, one vertex (or one branch) per numpy step, so Python overhead is paid per vertex, not
per graph. Sampling without replacement with weights is the Gumbel top-k trick (Efraimidis and
Spirakis 2006): the k largest of log(w) + Gumbel noise are a weighted draw of k distinct items.

Distributions (`naive`, `star`, `balanced`) follow ``asaparov/learning_to_search`` (`generator.cpp`,
``train.py``), re-implemented; `measure` then finds, per graph, the BFS levels from the start, the
number of shortest start-goal paths, the path when it is unique and the *lookahead* of its first move.

**Lookahead** of a move from vertex s to its child x towards goal g (``lookahead_depth`` there): run
a BFS from s's children, labelling each vertex with the child it descends from (a vertex counts
for x if any of its parents one level up does). For k = 1, 2, ...: if level k is empty or every
vertex on it descends from x, the answer is k - 1 (the other branches died out: x is forced); else
if g is on level k, the answer is k (the search had to reach the goal to tell the branches apart).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ALPHA = 0.5  # preferential attachment offset of the balanced distribution's extra vertices
MAX_DEGREE = 3  # an extra vertex takes 0..3 children and 0..3 parents; a naive vertex 1..3 parents
EXTRA_VERTICES = 6  # a balanced graph has up to 5 vertices beyond its path and branches


@dataclass
class Graphs:
    adj: np.ndarray  # bool[m, N, N]
    n_vertices: np.ndarray  # int[m]
    start: np.ndarray  # int[m]
    goal: np.ndarray  # int[m]


@dataclass
class Measured:
    dist: np.ndarray  # int[m, N]: BFS level from the start, -1 where unreachable
    unique: np.ndarray  # bool[m]: exactly one shortest start-goal path
    path: np.ndarray  # int[m, N]: its vertices, start first, -1 after the goal (valid where unique)
    path_len: np.ndarray  # int[m]: vertices on the path (edges + 1)
    lookahead: np.ndarray  # int[m]: lookahead of the path's first move (valid where unique)


# -- sampling helpers ----------------------------------------------------------------------------------
def top_k(keys: np.ndarray, k: np.ndarray) -> np.ndarray:
    """bool[m, n]: the k[b] largest keys of each row (-inf keys must not be among them)."""
    order = np.argsort(-keys, axis=1, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(keys.shape[1])[None, :], axis=1)
    return rank < k[:, None]


def weighted_pick(weights: np.ndarray, k: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """k[b] distinct columns of row b with probability proportional to ``weights`` (0 = never)."""
    gumbel = -np.log(-np.log(rng.random(weights.shape)))
    with np.errstate(divide="ignore"):
        return top_k(np.log(weights) + gumbel, np.minimum(k, (weights > 0).sum(axis=1)))


def bool_mm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Boolean matrix product over the last two axes (any path through a middle vertex)."""
    return np.matmul(a.astype(np.float32), b.astype(np.float32)) > 0


def closure(adj: np.ndarray) -> np.ndarray:
    """reach bool[m, N, N]: u reaches v by one or more edges (repeated squaring)."""
    reach = adj.copy()
    for _ in range(max(1, int(np.ceil(np.log2(max(adj.shape[1], 2))))) + 1):
        grown = reach | bool_mm(reach, reach)
        if np.array_equal(grown, reach):
            break
        reach = grown
    return reach


# -- distributions -------------------------------------------------------------------------------------
def naive(m: int, n_max: int, rng: np.random.Generator) -> Graphs:
    """Random DAGs: 3..N vertices; vertex i >= 1 takes one parent with probability 1/2, else 1..3
    (at most i), uniformly among the earlier vertices; (start, goal) is uniform over the pairs with
    a path from one to the other."""
    n_vertices = rng.integers(3, n_max + 1, size=m)
    adj = np.zeros((m, n_max, n_max), dtype=bool)
    for i in range(1, n_max):
        k = np.where(rng.random(m) < 0.5, 1, rng.integers(1, MAX_DEGREE + 1, size=m))
        k = np.where(i < n_vertices, np.minimum(k, i), 0)
        adj[:, :i, i] = top_k(rng.random((m, i)), k)
    pairs = closure(adj)
    keys = np.where(pairs, rng.random(pairs.shape), -1.0).reshape(m, -1)
    start, goal = np.divmod(keys.argmax(axis=1), n_max)
    return Graphs(adj, n_vertices, start, goal)


def star_shapes(n_max: int, max_lookahead: int) -> np.ndarray:
    """The (spoke length, spoke count) pairs of the star distribution: int[k, 2]."""
    return np.array([(s, c) for s in range(1, max_lookahead + 1) for c in range(1, (n_max - 1) // s + 1)])


def star(m: int, n_max: int, max_lookahead: int, rng: np.random.Generator) -> Graphs:
    """Star graphs: (spoke length s, spoke count c) uniform over s in 1..max_lookahead and
    c in 1..(N - 1) // s; the start is the centre, the goal the tip of one spoke."""
    shapes = star_shapes(n_max, max_lookahead)
    s, c = shapes[rng.integers(0, len(shapes), size=m)].T
    adj = np.zeros((m, n_max, n_max), dtype=bool)
    v = np.arange(1, n_max)[None, :]  # vertex v sits on spoke (v-1)//s at depth (v-1)%s + 1
    used = v <= (s * c)[:, None]
    parent = np.where((v - 1) % s[:, None] == 0, 0, v - 1)
    b, col = np.nonzero(used)
    adj[b, parent[b, col], col + 1] = True
    return Graphs(adj, 1 + s * c, np.zeros(m, dtype=np.int64), s.copy())


def balanced(lookahead: np.ndarray, n_max: int, rng: np.random.Generator) -> Graphs:
    """One attempt at a graph of each requested lookahead L (the caller rejects graphs whose
    measured lookahead differs): a path 0 -> 1 -> ... -> L from the start to the goal (L = 0: the
    goal is the start's child); P - 1 distractor branches from the start, P uniform in
    2..(N - 1) // L, each of L vertices or, with probability 1/2 where the vertices allow, L + 1;
    a chain of random length of ancestors above the start; then extra vertices up to
    min(L P + 1 + U{0..5}, N) in all, each taking 0..3 children (at least one parent if none)
    drawn with weights 0.5 + in-degree and 0..3 parents with weights 0.5 + out-degree among
    the earlier vertices that are not its descendants (so the graph stays acyclic)."""
    m, big = len(lookahead), np.maximum(lookahead, 1)
    paths = np.where(lookahead > 0, rng.integers(2, np.maximum((n_max - 1) // big, 2) + 1), 1)
    n_vertices = np.minimum(lookahead * paths + 1 + rng.integers(0, EXTRA_VERTICES, size=m), n_max)
    n_vertices = np.maximum(n_vertices, np.maximum(2, 1 + paths * lookahead))
    adj = np.zeros((m, n_max, n_max), dtype=bool)
    rows, pos = np.arange(m), np.arange(n_max)[None, :]
    b, i = np.nonzero(pos < big[:, None])  # the path's edges i -> i + 1
    adj[b, i, i + 1] = True
    index = 1 + big
    for j in range(1, int(paths.max())):
        live = j < paths
        room = n_vertices - index - (lookahead + 1) - (paths - j - 1) * lookahead >= 0
        length = lookahead + (room & (rng.random(m) < 0.5))
        adj[rows[live], 0, index[live]] = True
        _chain(adj, index, length, live, backwards=False)
        index = index + np.where(live, length, 0)
    prefix = rng.integers(0, n_vertices - index + 1)
    adj[rows[prefix > 0], index[prefix > 0], 0] = True  # the first ancestor points at the start
    _chain(adj, index, prefix, prefix > 0, backwards=True)
    index = index + prefix
    _extra_vertices(adj, index, n_vertices, rng)
    return Graphs(adj, n_vertices, np.zeros(m, dtype=np.int64), big.copy())


def _chain(adj: np.ndarray, first: np.ndarray, length: np.ndarray, live: np.ndarray, backwards: bool) -> None:
    """Link vertices first .. first + length - 1 into a chain (edge i -> i + 1, or i + 1 -> i)."""
    t = np.arange(1, adj.shape[1])[None, :]
    b, col = np.nonzero((t < length[:, None]) & live[:, None])
    a, c = first[b] + t[0, col] - 1, first[b] + t[0, col]
    if backwards:
        adj[b, c, a] = True
    else:
        adj[b, a, c] = True


def _extra_vertices(adj: np.ndarray, first: np.ndarray, n_vertices: np.ndarray, rng: np.random.Generator):
    """Add vertices first .. n_vertices - 1 of each graph: step i adds vertex i to every graph
    that is adding one (a few steps per graph), working on those graphs only."""
    n_max = adj.shape[1]
    if (first >= n_vertices).all():
        return
    reach = np.zeros_like(adj)
    grows = first < n_vertices
    reach[grows] = closure(adj[grows])
    in_deg, out_deg = ALPHA + adj.sum(axis=1), ALPHA + adj.sum(axis=2)  # [m, N] each
    for i in range(int(first.min()), n_max):
        rows = np.nonzero((i >= first) & (i < n_vertices))[0]
        if not len(rows):
            continue
        n_children = rng.integers(0, MAX_DEGREE + 1, size=len(rows))
        n_parents = rng.integers(np.where(n_children == 0, 1, 0), MAX_DEGREE + 1)
        children = np.zeros((len(rows), n_max), dtype=bool)
        children[:, :i] = weighted_pick(in_deg[rows, :i], np.minimum(n_children, i), rng)
        sub = reach[rows]  # [r, N, N]
        below = children | bool_mm(children[:, None, :], sub)[:, 0]  # its descendants
        parents = np.zeros_like(children)
        parents[:, :i] = weighted_pick(np.where(below[:, :i], 0.0, out_deg[rows, :i]), n_parents, rng)
        above = parents | bool_mm(sub, parents[:, :, None])[:, :, 0]  # its ancestors
        adj[rows, i, :] |= children
        adj[rows, :, i] |= parents
        in_deg[rows] += children
        out_deg[rows] += parents
        sub[:, i, :] |= below
        sub |= above[:, :, None] & (below | (np.arange(n_max) == i)[None, :])[:, None, :]
        reach[rows] = sub


# -- measurements --------------------------------------------------------------------------------------
def measure(graphs: Graphs) -> Measured:
    """BFS levels from the start, uniqueness of the shortest start-goal path, the path, and the
    lookahead of its first move (see the module docstring)."""
    adj, start, goal = graphs.adj, graphs.start, graphs.goal
    m, n_max = adj.shape[:2]
    rows = np.arange(m)
    dist = np.full((m, n_max), -1, dtype=np.int64)
    count = np.zeros((m, n_max))  # shortest paths from the start
    level = np.zeros((m, n_max), dtype=bool)
    level[rows, start] = True
    dist[level], count[level] = 0, 1.0
    adjf = adj.astype(np.float32)
    for d in range(1, n_max):
        into = np.matmul((count * level)[:, None, :].astype(np.float32), adjf)[:, 0]  # [m, N]
        level = (into > 0) & (dist < 0)
        if not level.any():
            break
        dist[level], count[level] = d, into[level]
    path_len = np.where(dist[rows, goal] > 0, dist[rows, goal] + 1, 0)
    unique = (path_len > 0) & (count[rows, goal] == 1)
    path = _trace_back(adj, dist, goal, path_len)
    return Measured(dist, unique, path, path_len, lookahead_of(adj, dist, path[:, 1], goal))


def _trace_back(adj, dist, goal, path_len) -> np.ndarray:
    """The vertices of a shortest path, from the start: each vertex's predecessor one level up
    (the only one where the shortest path is unique)."""
    m, n_max = dist.shape
    rows = np.arange(m)
    path = np.full((m, n_max), -1, dtype=np.int64)
    cur = goal.copy()
    path[rows, np.maximum(path_len - 1, 0)] = np.where(path_len > 0, goal, -1)
    for d in range(int(path_len.max()) - 2, -1, -1):
        live = path_len - 1 > d
        pred = ((dist == d) & adj[rows, :, cur]).argmax(axis=1)
        path[live, d] = pred[live]
        cur = np.where(live, pred, cur)
    return path


def lookahead_of(adj: np.ndarray, dist: np.ndarray, nxt: np.ndarray, goal: np.ndarray) -> np.ndarray:
    """int[m]: the lookahead of the move to ``nxt`` (a child of the start, whose BFS levels are
    ``dist``) towards ``goal``; -1 where nxt is not a child of the start."""
    m, n_max = dist.shape
    rows = np.arange(m)
    result = np.where(nxt >= 0, -1, -2)
    branch = np.zeros((m, n_max), dtype=bool)
    branch[rows[nxt >= 0], nxt[nxt >= 0]] = True
    for k in range(1, n_max + 1):
        level = dist == k
        if k > 1:
            branch = bool_mm(branch[:, None, :], adj)[:, 0] & level
        open_ = result == -1
        forced = ~(level & ~branch).any(axis=1)  # level empty, or all of it below nxt
        result = np.where(open_ & forced, k - 1, result)
        result = np.where((result == -1) & level[rows, goal], k, result)
        if (result != -1).all():
            break
    return np.where(result == -2, -1, result)
