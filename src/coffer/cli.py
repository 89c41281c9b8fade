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
    """Return the parser of every command; a program's own module loads only when *argv* runs that program.

    Each ``coffer`` run is a new process, so a client command does not pay for
    importing the programs' settings and launchers it will not use.
    """
    words = sys.argv[1:] if argv is None else argv
    chosen = next((word for word in words if not word.startswith("-")), None)
    return client_main.build_parser(*(_registrar(name, chosen == name) for name in PROGRAMS))


def _registrar(name: str, load: bool) -> Callable[[client_main.Commands], None]:
    module, help_text = PROGRAMS[name]

    def register(commands: client_main.Commands) -> None:
        if load:
            registers = cast(Callable[[client_main.Commands, str], None], importlib.import_module(module).register)
            registers(commands, help_text)
        else:
            commands.add_parser(name, help=help_text, add_help=False)

    return register


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
