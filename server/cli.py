"""``coffer server``: run the central server, or create the first administrator on its host."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
import time
from pathlib import Path

from coffer.format.kdf import derive
from coffer.protocol import kdf
from coffer.protocol.api.auth import Account
from coffer.protocol.errors import CofferError
from coffer.protocol.settings import PRIVATE_UMASK, SettingsError

from . import settings as server_settings


def register(commands: argparse._SubParsersAction, help_text: str) -> None:  # type: ignore[type-arg]
    parser = commands.add_parser("server", help=help_text)
    parser.add_argument(
        "--config",
        type=Path,
        default=os.environ.get("COFFER_SERVER_CONFIG"),
        help="server settings file (TOML); COFFER_<NAME> variables override it [env COFFER_SERVER_CONFIG]",
    )
    parser.set_defaults(func=run_server)
    sub = parser.add_subparsers(dest="server_command")
    create = sub.add_parser("create-admin", help="create an administrator; the password is read from stdin")
    create.add_argument("name")
    create.add_argument(
        "--if-missing", action="store_true", help="succeed without a change when the user exists already"
    )
    create.add_argument("--config", type=Path, default=argparse.SUPPRESS, help="server settings file (TOML)")
    create.set_defaults(func=create_admin)


def _settings(args: argparse.Namespace) -> server_settings.ServerSettings:
    try:
        return server_settings.load(args.config)
    except SettingsError as exc:
        raise SystemExit(f"coffer server: bad configuration: {exc}") from exc


def run_server(args: argparse.Namespace) -> int:
    from .run import serve

    serve(_settings(args))
    return 0


def read_password(prompt: str) -> str:
    """Read a password from the terminal without echo, or as one line from a pipe."""
    if sys.stdin.isatty():
        first = getpass.getpass(prompt)
        if getpass.getpass("Repeat: ") != first:
            raise SystemExit("the passwords differ; nothing was changed")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def create_admin_user(settings: server_settings.ServerSettings, name: str, password: str) -> Account:
    """Create an administrator directly in the database, deriving the auth key as a client would."""
    from .domain import accounts  # the database driver loads here, not with every `coffer` command
    from .run import prepare

    if len(password) < 8:
        raise SystemExit("the password must have at least 8 characters; nothing was changed")
    db = prepare(settings)
    try:
        params = kdf.KdfParams(salt=os.urandom(kdf.SALT_BYTES))
        keys = derive(password, params)
        return accounts.create_user(db, name, "admin", params.salt, keys.auth_key, time.time(), params)
    finally:
        db.close()


def create_admin(args: argparse.Namespace) -> int:
    os.umask(PRIVATE_UMASK)  # SECURITY: it may be the first to create the database
    settings = _settings(args)
    password = read_password(f"Password for {args.name}: ")
    try:
        user = create_admin_user(settings, args.name, password)
    except CofferError as exc:
        if exc.code == "user_exists" and args.if_missing:
            print(f"user {args.name} exists already; nothing was changed")
            return 0
        print(f"coffer server create-admin: {exc.message}", file=sys.stderr)
        return 1
    print(f"administrator {user.name} created")
    return 0
