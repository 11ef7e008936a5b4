"""Graph tasks with published results to reproduce: graph search with a balanced lookahead
distribution (`search`, Saparov et al. 2025) and the path-star graph (`path_star`, Bachmann &
Nagarajan 2024). `dag` holds the batched DAG generators and measurements, `reference` plain Python
generators of both (the tests' reference and the generation benchmark's baseline)."""

from search_scaling.tasks.graphs.path_star import PathStar
from search_scaling.tasks.graphs.search import GraphSearch

__all__ = ["GraphSearch", "PathStar"]
