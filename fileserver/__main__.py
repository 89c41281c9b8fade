"""``python -m coffer.fileserver --config FILE.toml``: the same as ``coffer fileserver``, without the client CLI."""

from __future__ import annotations

import argparse
import sys

from .cli import add_arguments, command


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m coffer.fileserver", description="Run a Coffer fileserver.")
    add_arguments(parser)
    return command(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
