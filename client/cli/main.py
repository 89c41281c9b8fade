"""The client's commands of ``coffer``: what users and administrators run from their own machines.

``coffer.cli`` adds the programs (``coffer server``, ``coffer fileserver``,
``coffer devnet``) above this; the client itself never imports them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import NamedTuple, TypeAlias

from coffer.format.errors import FormatError
from coffer.protocol import __version__, requestids
from coffer.transfer.errors import TransferError

from ..agent.wire import command_word
from ..errors import AuthError, ClientError, exit_code, local_file_error
from . import admin, agent, auth, files, keys, lifecycle, sharing
from .common import drop_cached_session

Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
CommandFunc = Callable[[argparse.Namespace], int]
STALE_SESSION = frozenset({"session_invalid", "session_expired"})

EPILOG = """exit codes:
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

units:
  sizes and rates are decimal everywhere (bars, summaries, ls, info, quotas): 1 KB = 1000 bytes,
  1 MB = 1000 KB, 1 GB = 1000 MB, as disks and cloud bills count. Options that take a size also
  read binary units (512MiB).
"""


class Family(NamedTuple):
    """Commands registered together: their lines in ``coffer --help``, and what adds them in full."""

    helps: Mapping[str, str]
    register: Callable[[Commands], None]


FAMILIES = (
    Family(auth.COMMANDS, auth.register),
    Family(files.COMMANDS, files.register),
    Family(sharing.COMMANDS, sharing.register),
    Family(keys.COMMANDS, keys.register),
    Family(lifecycle.COMMANDS, lifecycle.register_user),
    Family(admin.COMMANDS, admin.register),
    Family(agent.COMMANDS, agent.register),
)
"""The client's commands, in the order of ``coffer --help``."""


def build_parser(*more: Family, command: str | None = None) -> argparse.ArgumentParser:
    """Return the parser of the client's commands and *more*'s; given *command*, only its family's are built in full.

    A ``coffer`` run parses one command line, and building every command's options
    (argparse puts each help string through gettext) was most of what its parser cost.
    The other commands are placeholders: their name and help line, all that
    ``coffer --help`` and argparse's "invalid choice" show. A *command* that names no
    command (``""``: none was given) builds none in full; ``None`` builds them all.
    """
    parser = argparse.ArgumentParser(
        prog="coffer",
        description="Coffer: end-to-end encrypted, sharded file network",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"coffer {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for family in (*FAMILIES, *more):
        if command is None or command in family.helps:
            family.register(commands)
        else:
            for name, help_text in family.helps.items():
                commands.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else argv
    return run(build_parser(command=command_word(words)).parse_args(argv))


def prepared(commands: Iterable[str]) -> Callable[[list[str]], int]:
    """Return :func:`main` with the parsers of *commands* built already: what ``coffer agent`` forks to run each one.

    Building a command's parser cost a fork of the agent 4-6 ms of a 25 MB download's
    100 (its objects are new, and each page they land on is copied from the agent's).
    Built once in the agent, each fork parses with its copy. That gives what a parser
    built in the fork would only because a parser is built from nothing of the
    environment or the working directory: options whose default comes from the
    environment read it as the command runs (:func:`.files.chosen_site`), and
    ``tests/client/test_cli_lazy_parser.py`` holds every parser to that.
    """
    by_family: dict[int | None, argparse.ArgumentParser] = {}
    parsers = {}
    for word in commands:
        family = next((i for i, f in enumerate(FAMILIES) if word in f.helps), None)
        if family not in by_family:  # upload and download are one family: one parser serves both
            by_family[family] = build_parser(command=word)
        parsers[word] = by_family[family]

    def run_prepared(argv: list[str]) -> int:
        word = command_word(argv)
        parser = parsers[word] if word in parsers else build_parser(command=word)
        return run(parser.parse_args(argv))

    return run_prepared


def run(args: argparse.Namespace) -> int:
    """Run the parsed command; turn what it raises into one line for the user and an exit code.

    Every request of the command carries one request id, which an error line ends
    with: an operator finds the command's lines in the server's and fileservers' logs by it.
    """
    request_id = requestids.begin()
    try:
        code: int = args.func(args)
    except (ClientError, FormatError, TransferError) as exc:
        message = exc.message
        if isinstance(exc, AuthError) and exc.code in STALE_SESSION and drop_cached_session():
            message += "; the session kept for COFFER_USER was forgotten: run the command again to log in afresh"
        print(f"coffer: {message} (request id: {request_id})", file=sys.stderr)
        return exit_code(exc)
    except KeyboardInterrupt:
        after_echo = "\n" if sys.stderr.isatty() else ""  # the terminal echoed ^C with no line break
        print(f"{after_echo}coffer: {getattr(args, 'resume', None) or 'interrupted'}", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`coffer ... | head`): not an error of ours.
        sys.stderr.close()
        return 0
    except OSError as exc:
        # Network failures arrive as ClientErrors or TransferErrors; what is left is this machine's files (a config
        # directory that cannot be made, a session file that cannot be written).
        error = local_file_error(exc, str(args.command))
        print(f"coffer: {error.message}", file=sys.stderr)
        return error.exit_code
    return code


if __name__ == "__main__":
    sys.exit(main())
