"""``coffer keys``: where your key pair was made, and ``coffer keys rotate`` to make a new one here."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from coffer.format.keys import UserKeys

from .. import session
from ..coffer import Coffer
from ..errors import NotLoggedIn
from .common import add_json_flag, open_coffer, print_json, read_new_password, read_secret

if TYPE_CHECKING:
    from .. import key_rotation

ORIGINS = {
    "invitation": "on your own client, when you joined with an invitation: only you have ever held it",
    "rotation": "on your own client, by `coffer keys rotate`: only you have ever held it",
    "legacy": (
        "before invitations: the administrator who created your account made it (and your first password) "
        "and may still hold it; run `coffer keys rotate` to make a new one here"
    ),
}


COMMANDS = {"keys": "show your key fingerprint and where your key pair was made"}
"""Each command :func:`register` adds → its help line, all that is built of it when another command runs."""


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    keys = commands.add_parser("keys", help=COMMANDS["keys"])
    add_json_flag(keys)
    keys.set_defaults(func=do_keys)
    sub = keys.add_subparsers(dest="keys_command", metavar="COMMAND")
    rotate = sub.add_parser(
        "rotate", help="make a new key pair here and a new password; your file keys are sealed to it again"
    )
    rotate.add_argument(
        "--password-stdin", action="store_true", help="read the current and the new password as two lines"
    )
    add_json_flag(rotate)
    rotate.set_defaults(func=do_rotate)


def do_keys(args: argparse.Namespace) -> int:
    from .. import key_rotation

    with open_coffer() as coffer:
        me = coffer.api.me()
    origin, unfinished = me.key_origin or "unknown", key_rotation.unfinished(me)
    if args.json:
        print_json({"fingerprint": coffer.fingerprint, "key_origin": origin, "rotation_unfinished": unfinished})
        return 0
    print(f"fingerprint  {coffer.fingerprint}")
    print(f"made         {ORIGINS.get(origin, 'the server does not say (it predates invitations)')}")
    if unfinished:
        print("a key rotation is unfinished: run `coffer keys rotate` to finish it", file=sys.stderr)
    return 0


def _keep(coffer: Coffer) -> Callable[[UserKeys], None]:
    """Return what puts a new pair into *coffer* and into this command's stored session at once."""
    try:
        login: session.StoredSession | None = session.load()
    except NotLoggedIn:
        login = None

    def use(keys: UserKeys) -> None:
        coffer.keys = keys  # SECURITY: the new private key, kept only where the old one was
        stored = coffer.stored_session()
        if login is not None and login.token == stored.token:
            session.save(stored)
        else:
            session.save_cached(stored)

    return use


def do_rotate(args: argparse.Namespace) -> int:
    from .. import key_rotation

    with open_coffer() as coffer:
        finishing = key_rotation.unfinished(coffer.api.me())
        current = read_secret("Current password: ", args.password_stdin)
        new = None
        if not finishing:
            new = read_new_password("New password: ", args.password_stdin, then="your keys are as they were")
        report = key_rotation.rotate(coffer.api, coffer.username, coffer.known_keys, current, new, _keep(coffer))
    if args.json:
        print_json(
            {
                "fingerprint": report.fingerprint,
                "resumed": report.resumed,
                "resealed": report.resealed,
                "unopened": report.unopened,
                "reshared": [{"file_id": f, "user": u} for f, u in report.reshared],
                "share_by_hand": [{"file_id": f, "user": u, "why": w} for f, u, w in report.share_by_hand],
                "stale_incoming": [s.to_json() for s in report.stale_incoming],
            }
        )
        return 0
    _say(report)
    return 0


def _say(report: key_rotation.RotationReport) -> None:
    verb = "finished the key rotation" if report.resumed else "made a new key pair on this machine"
    print(f"{verb}; your new fingerprint is {report.fingerprint}")
    print(f"sealed {report.resealed} file key(s) to it; your other sessions have ended")
    print("people who share with you will be told your key changed: read them the fingerprint above")
    for file_id in report.unopened:
        print(f"file {file_id}: its key opened with neither key pair; it was left as it was", file=sys.stderr)
    for file_id, user in report.reshared:
        print(f"shared {file_id} with {user} again, boxed with the new key")
    for file_id, user, why in report.share_by_hand:
        print(f"share {file_id} with {user} again by hand (`coffer share {file_id} {user}`): {why}", file=sys.stderr)
    owners = sorted({s.owner for s in report.stale_incoming})
    if owners:
        print(
            f"{len(report.stale_incoming)} file(s) shared with you were boxed for your old key: ask "
            f"{', '.join(owners)} to share them again (`coffer shares ID` shows them which)",
            file=sys.stderr,
        )
