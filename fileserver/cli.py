"""``coffer fileserver --config FILE.toml``: run a fileserver from the cluster config an admin exported."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

CONFIG_ENV = "COFFER_FS_CONFIG"


def register(subparsers: argparse._SubParsersAction, help_text: str) -> None:  # type: ignore[type-arg]
    """Add the ``fileserver`` command to the ``coffer`` command group."""
    parser = subparsers.add_parser(
        "fileserver",
        help=help_text,
        description="Run a fileserver: store and serve encrypted chunks for the shards of its cluster. "
        "COFFER_FS_<NAME> environment variables override the [fileserver] table (e.g. COFFER_FS_BIND).",
    )
    add_arguments(parser)
    parser.set_defaults(func=command)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        default=os.environ.get(CONFIG_ENV),
        help=f"the cluster config exported by the server, plus an optional [fileserver] table [env {CONFIG_ENV}]",
    )
    parser.add_argument("--check", action="store_true", help="check the config and exit without serving")


def command(args: argparse.Namespace) -> int:
    """Run the command; return the exit status (2 for a configuration problem)."""
    from .run import EXIT_CONFIG, run

    if args.config is None:
        print(f"coffer fileserver: no config given: pass --config FILE.toml or set {CONFIG_ENV}", file=sys.stderr)
        return EXIT_CONFIG
    return run(Path(args.config), check_only=args.check)
