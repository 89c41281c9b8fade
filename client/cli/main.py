"""The ``coffer`` command: one group of subcommands for users, admins, and the programs themselves."""

from __future__ import annotations

import argparse
import sys

from protocol import __version__

from ..errors import ClientError
from . import admin, auth, devnet


def build_parser() -> argparse.ArgumentParser:
    from fileserver import cli as fileserver_cli
    from server import cli as server_cli

    parser = argparse.ArgumentParser(prog="coffer", description="Coffer: end-to-end encrypted, sharded file network")
    parser.add_argument("--version", action="version", version=f"coffer {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    auth.register(commands)
    admin.register(commands)
    server_cli.register(commands)
    fileserver_cli.register(commands)
    devnet.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except ClientError as exc:
        print(f"coffer: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`coffer ... | head`): not an error of ours.
        sys.stderr.close()
        return 0
    return code


if __name__ == "__main__":
    sys.exit(main())
