"""``coffer``: the one command, the client's commands and the programs side by side.

The client's commands come from :mod:`coffer.client.cli`; ``coffer server``,
``coffer fileserver`` and ``coffer devnet`` are wired in here, above the client,
so the client never imports a server. Registering a program imports only the
standard library and :mod:`coffer.protocol`; what it needs to run (falcon,
gunicorn, psycopg, ...) is installed by an extra, and a missing one is named
before anything starts.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from collections.abc import Callable
from typing import cast

from coffer.client.agent.wire import command_word
from coffer.client.cli import main as client_main
from coffer.client.errors import UsageError

_SERVER = ("falcon", "gunicorn", "psycopg", "psycopg_pool", "apscheduler", "redis", "prometheus_client")
_FILESERVER = ("falcon", "gunicorn", "prometheus_client")
EXTRAS: dict[str, tuple[str, tuple[str, ...]]] = {
    "server": ("server", _SERVER),
    "fileserver": ("fileserver", _FILESERVER),
    "devnet": ("server,fileserver", tuple(dict.fromkeys(_SERVER + _FILESERVER))),
}
"""Command → (the extras that install what it runs, the modules they bring)."""


PROGRAMS = {
    "server": ("coffer.server.cli", "run the central server, or manage it on its host"),
    "fileserver": ("coffer.fileserver.cli", "run a fileserver from the cluster config an admin exported"),
    "devnet": ("coffer.devnet.command", "run a server and two fileservers on this machine until Ctrl-C"),
}
"""Program → (the module that registers its command, its one line in ``coffer --help``)."""


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """Return the parser of every command, built in full only for the command *argv* runs.

    Each ``coffer`` run parses one command line, so it does not pay for the options of
    commands it will not run, nor for importing the programs' settings and launchers.
    """
    words = sys.argv[1:] if argv is None else argv
    return client_main.build_parser(*(program(name) for name in PROGRAMS), command=command_word(words))


def program(name: str) -> client_main.Family:
    """Return program *name* as a family of one command, its module imported only to add it in full."""
    module, help_text = PROGRAMS[name]

    def register(commands: client_main.Commands) -> None:
        registers = cast(Callable[[client_main.Commands, str], None], importlib.import_module(module).register)
        registers(commands, help_text)

    return client_main.Family({name: help_text}, register)


def check_extras(command: str) -> None:
    """Raise a UsageError naming the extra to install when *command* cannot run here."""
    extras, modules = EXTRAS.get(command, ("", ()))
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise UsageError(
            f"coffer {command} needs {', '.join(missing)}, which this installation lacks: "
            f"install the {extras} extra with `pip install 'coffer[{extras}]'`"
        )


def main(argv: list[str] | None = None) -> int:
    args = build_parser(argv).parse_args(argv)
    args.func = _checked(args.command, args.func)
    return client_main.run(args)


def _checked(command: str, func: client_main.CommandFunc) -> client_main.CommandFunc:
    def checked(args: argparse.Namespace) -> int:
        check_extras(command)
        return func(args)

    return checked
