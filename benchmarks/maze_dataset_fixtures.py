"""Write tests/data/maze_dataset_samples.jsonl with maze-dataset 1.4.2 (run in its own venv).

    .venv-maze-dataset/bin/python benchmarks/maze_dataset_fixtures.py        # AOTP samples
    .venv-maze-dataset/bin/python benchmarks/maze_dataset_fixtures.py ctt    # coordinate tuples

Each line: the generator, grid_n, maze-dataset's connection_list, its solution, its legacy AOTP
tokens (shuffled adjacency list) and its sorted-coordinates AOTP tokens. The test suite checks our
parser, solver and writer against these without needing maze-dataset installed.

``ctt`` writes tests/data/maze_dataset_ctt_samples.jsonl: the same fields with coordinate-tuple
tokens (``( r , c )``), the legacy AOTP_CTT_indexed tokens and their ids, and the sorted modular
CTT tokens (our ``aotp_ctt`` tokenization).
"""

import json
import sys
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")

from maze_dataset import LatticeMazeGenerators, MazeDataset, MazeDatasetConfig  # noqa: E402
from maze_dataset.tokenization import (  # noqa: E402
    AdjListTokenizers,
    CoordTokenizers,
    EdgePermuters,
    MazeTokenizer,
    MazeTokenizerModular,
    PromptSequencers,
    TokenizationMode,
)

LEGACY = MazeTokenizer(tokenization_mode=TokenizationMode.AOTP_UT_uniform, max_grid_size=16)


def sorted_tokenizer(coords):
    """maze-dataset's AOTP with the adjacency list in sorted order (no shuffling): the order our own
    generator is compared in."""
    sorted_edges = AdjListTokenizers.AdjListCoord(
        shuffle_d0=False, edge_permuter=EdgePermuters.SortedCoords()
    )
    return MazeTokenizerModular(
        prompt_sequencer=PromptSequencers.AOTP(coord_tokenizer=coords, adj_list_tokenizer=sorted_edges)
    )


SORTED = sorted_tokenizer(CoordTokenizers.UT())
LEGACY_CTT = MazeTokenizer(tokenization_mode=TokenizationMode.AOTP_CTT_indexed, max_grid_size=16)
SORTED_CTT = sorted_tokenizer(CoordTokenizers.CTT())
GENERATORS = {"dfs": LatticeMazeGenerators.gen_dfs, "wilson": LatticeMazeGenerators.gen_wilson}


def main() -> None:
    out = Path(__file__).resolve().parents[1] / "tests" / "data" / "maze_dataset_samples.jsonl"
    lines = []
    for name, ctor in GENERATORS.items():
        for grid_n in (2, 3, 5, 8):
            cfg = MazeDatasetConfig(name=f"fx-{name}-{grid_n}", grid_n=grid_n, n_mazes=5, maze_ctor=ctor)
            ds = MazeDataset.from_config(
                cfg, load_local=False, do_download=False, save_local=False, verbose=False
            )
            for maze in ds:
                lines.append({
                    "generator": name, "grid_n": grid_n,
                    "connection_list": maze.connection_list.astype(int).tolist(),
                    "solution": maze.solution.tolist(),
                    "legacy_tokens": " ".join(maze.as_tokens(LEGACY)),
                    "sorted_tokens": " ".join(maze.as_tokens(SORTED)),
                    "ascii": maze.as_ascii(),
                })  # fmt: skip
    out.write_text("".join(json.dumps(x) + "\n" for x in lines))
    print(f"wrote {len(lines)} mazes to {out}")


def main_ctt() -> None:
    out = Path(__file__).resolve().parents[1] / "tests" / "data" / "maze_dataset_ctt_samples.jsonl"
    lines = []
    for name, ctor in GENERATORS.items():
        for grid_n in (2, 3, 5):
            cfg = MazeDatasetConfig(name=f"ctt-{name}-{grid_n}", grid_n=grid_n, n_mazes=4, maze_ctor=ctor)
            ds = MazeDataset.from_config(
                cfg, load_local=False, do_download=False, save_local=False, verbose=False
            )
            for maze in ds:
                legacy = maze.as_tokens(LEGACY_CTT)
                lines.append({
                    "generator": name, "grid_n": grid_n,
                    "connection_list": maze.connection_list.astype(int).tolist(),
                    "solution": maze.solution.tolist(),
                    "legacy_ctt_tokens": " ".join(legacy),
                    "legacy_ctt_ids": [int(i) for i in LEGACY_CTT.encode(legacy)],
                    "sorted_ctt_tokens": " ".join(maze.as_tokens(SORTED_CTT)),
                })  # fmt: skip
    out.write_text("".join(json.dumps(x) + "\n" for x in lines))
    print(f"wrote {len(lines)} mazes to {out}")


if __name__ == "__main__":
    main_ctt() if sys.argv[1:] == ["ctt"] else main()
