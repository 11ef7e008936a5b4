"""The `search-scaling` commands, one module per subject; `search_scaling.cli` dispatches to them and
`search_scaling.cli_parser` declares their arguments."""
