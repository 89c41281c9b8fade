"""The ``coffer`` command: one group of subcommands for users, admins, and the programs themselves."""

from __future__ import annotations

import argparse
import sys

from coffer.format.errors import FormatError
from coffer.protocol import __version__

from ..errors import ClientError, exit_code, local_file_error
from . import admin, auth, devnet, files, lifecycle, sharing

EXIT_CODES = """exit codes:
  0  done
  1  the server or a fileserver refused the request (the message says why)
  2  usage: a wrong option, or a local file or directory that cannot be read or written
     (a missing directory, no permission, a full disk)
  3  the server or the fileservers cannot be reached, or no live fileserver serves the shard
  4  not logged in, wrong password, or the session expired: run `coffer login`
  5  permission denied
  6  not found
  7  integrity: a chunk or record failed its hash or decryption (nothing unverified was written),
     a user's key is not the one pinned for them, or a link's password or key is wrong
  8  the file was written in a newer format than this version of coffer reads: upgrade coffer
"""


def build_parser() -> argparse.ArgumentParser:
    from coffer.fileserver import cli as fileserver_cli
    from coffer.server import cli as server_cli

    parser = argparse.ArgumentParser(
        prog="coffer",
        description="Coffer: end-to-end encrypted, sharded file network",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"coffer {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    auth.register(commands)
    files.register(commands)
    sharing.register(commands)
    lifecycle.register_user(commands)
    admin.register(commands)
    server_cli.register(commands)
    fileserver_cli.register(commands)
    devnet.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except (ClientError, FormatError) as exc:
        print(f"coffer: {exc.message}", file=sys.stderr)
        return exit_code(exc)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`coffer ... | head`): not an error of ours.
        sys.stderr.close()
        return 0
    except OSError as exc:
        # Network failures arrive as ClientErrors; what is left is this machine's files (a config
        # directory that cannot be made, a session file that cannot be written).
        error = local_file_error(exc, str(args.command))
        print(f"coffer: {error.message}", file=sys.stderr)
        return error.exit_code
    return code


if __name__ == "__main__":
    sys.exit(main())
