"""ASCII rendering for people and error messages: `#` walls, `S` origin, `E` target, `X` path.

Cell (r, c) sits at text position (2r + 1, 2c + 1); the character between two cells is open
(` ` or `X` when the path uses that connection) or a wall `#`. Same layout as maze-dataset's
``as_ascii``.
"""

from __future__ import annotations

from search_scaling.tasks.maze.text import SolvedMaze


def render_ascii(maze: SolvedMaze, show_path: bool = True) -> str:
    size = 2 * maze.grid_n + 1
    grid = [["#"] * size for _ in range(size)]
    for r in range(maze.grid_n):
        for c in range(maze.grid_n):
            grid[2 * r + 1][2 * c + 1] = " "
    for (r1, c1), (r2, c2) in maze.edges:
        grid[r1 + r2 + 1][c1 + c2 + 1] = " "
    if show_path:
        for (r1, c1), (r2, c2) in zip(maze.path, maze.path[1:]):
            grid[2 * r1 + 1][2 * c1 + 1] = grid[r1 + r2 + 1][c1 + c2 + 1] = "X"
            grid[2 * r2 + 1][2 * c2 + 1] = "X"
    for (r, c), mark in ((maze.origin, "S"), (maze.target, "E")):
        grid[2 * r + 1][2 * c + 1] = mark
    return "\n".join("".join(row) for row in grid)
