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

from coffer.client.cli import main as client_main
from coffer.client.errors import UsageError
from coffer.devnet import command as devnet_command
from coffer.fileserver import cli as fileserver_cli
from coffer.server import cli as server_cli

_SERVER = ("falcon", "gunicorn", "psycopg", "psycopg_pool", "apscheduler", "redis")
_FILESERVER = ("falcon", "gunicorn")
EXTRAS: dict[str, tuple[str, tuple[str, ...]]] = {
    "server": ("server", _SERVER),
    "fileserver": ("fileserver", _FILESERVER),
    "devnet": ("server,fileserver", tuple(dict.fromkeys(_SERVER + _FILESERVER))),
}
"""Command → (the extras that install what it runs, the modules they bring)."""


def build_parser() -> argparse.ArgumentParser:
    return client_main.build_parser(server_cli.register, fileserver_cli.register, devnet_command.register)


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
    args = build_parser().parse_args(argv)
    args.func = _checked(args.command, args.func)
    return client_main.run(args)


def _checked(command: str, func: client_main.CommandFunc) -> client_main.CommandFunc:
    def checked(args: argparse.Namespace) -> int:
        check_extras(command)
        return func(args)

    return checked
