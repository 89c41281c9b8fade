"""The `coffer` command line: one command group, one module per command family."""
