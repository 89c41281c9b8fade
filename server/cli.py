"""``coffer server``: run the central server, or invite the first administrator on its host."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from coffer.protocol.api.invitations import (
    DEFAULT_INVITE_SECONDS,
    MAX_INVITE_SECONDS,
    MIN_INVITE_SECONDS,
    Invitation,
    Invite,
)
from coffer.protocol.errors import CofferError
from coffer.protocol.ids import check_username
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
    create = sub.add_parser(
        "create-admin",
        help="invite an administrator: prints a one-time `coffer join` command; the password is chosen there",
    )
    create.add_argument("name")
    create.add_argument(
        "--if-missing", action="store_true", help="succeed without a change when the user exists already"
    )
    create.add_argument(
        "--expires", type=parse_lifetime, default=DEFAULT_INVITE_SECONDS, help="how long the code works (default 7d)"
    )
    create.add_argument("--json", action="store_true", help="print the invitation as JSON")
    create.add_argument("--config", type=Path, default=argparse.SUPPRESS, help="server settings file (TOML)")
    create.set_defaults(func=create_admin)


def parse_lifetime(text: str) -> float:
    """Read ``7d``, ``12h``, ``30m`` or seconds, within what an invitation may last."""
    match = re.fullmatch(r"(\d+)([smhd]?)", text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 7d, 12h or 30m")
    lifetime = float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]
    if not MIN_INVITE_SECONDS <= lifetime <= MAX_INVITE_SECONDS:
        raise argparse.ArgumentTypeError(f"an invitation lasts from 1m to {MAX_INVITE_SECONDS / 86400:.0f}d")
    return lifetime


def _settings(args: argparse.Namespace) -> server_settings.ServerSettings:
    try:
        return server_settings.load(args.config)
    except SettingsError as exc:
        raise SystemExit(f"coffer server: bad configuration: {exc}") from exc


def run_server(args: argparse.Namespace) -> int:
    from .run import serve

    settings = _settings(args)
    try:
        serve(settings)
    except OSError as exc:  # a listener that cannot be opened (metrics_bind in use)
        raise SystemExit(f"coffer server: cannot start: {exc}") from exc
    return 0


def invite_admin(settings: server_settings.ServerSettings, name: str, lifetime: float) -> Invitation:
    """Invite administrator *name* straight in the database, as no administrator exists yet to do it.

    SECURITY: no password and no key is made here: the person runs the printed ``coffer join``
    on their own machine, whose client makes them (``coffer.server.domain.invitations``).
    """
    from .domain import audit, invitations  # the database driver loads here, not with every `coffer` command
    from .run import prepare

    db = prepare(settings)
    try:
        request = Invite(check_username(name), "admin", lifetime)
        return invitations.invite(db, request, time.time(), audit.SYSTEM)
    finally:
        db.close()


def create_admin(args: argparse.Namespace) -> int:
    os.umask(PRIVATE_UMASK)  # SECURITY: it may be the first to create the database
    settings = _settings(args)
    try:
        invitation = invite_admin(settings, args.name, args.expires)
    except CofferError as exc:
        if exc.code == "user_exists" and args.if_missing:
            said = f"user {args.name} exists already; nothing was changed"
            print(json.dumps({"exists": True}) if args.json else said)
            return 0
        print(f"coffer server create-admin: {exc.message}", file=sys.stderr)
        return 1
    command = f"coffer join {settings.public_url} {invitation.code}"
    if args.json:
        print(json.dumps(invitation.to_json() | {"server": settings.public_url, "command": command}))
        return 0
    expires = datetime.fromtimestamp(invitation.expires_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"administrator {invitation.username} invited; the code works once, until {expires}.")
    print(f"On {invitation.username}'s own machine, run:\n\n    {command}\n")
    print("That client asks for a new password and makes the key pair; neither ever reaches this server.")
    return 0
