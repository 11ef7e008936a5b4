"""search-scaling: grids of small transformers on searchy toy tasks, and their scaling laws.

``search_scaling.load_run(store, run_hash, step=None)`` opens a trained run for analysis (see
`search_scaling.loader`); it is imported on first use, so importing the package stays cheap."""


def __getattr__(name: str):
    if name == "load_run":
        from search_scaling.loader import load_run

        return load_run
    raise AttributeError(f"module 'search_scaling' has no attribute {name!r}")
