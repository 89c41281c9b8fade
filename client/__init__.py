"""The Coffer client library and the `coffer` command line."""
