"""``coffer login``, ``coffer join`` (an invitation), ``coffer passwd`` and ``coffer logout``."""

from __future__ import annotations

import argparse
import os

from coffer.protocol.errors import ProtocolError

from .. import session
from ..api import ServerClient
from ..coffer import Coffer
from ..errors import AuthError, ConnectionFailed, NotLoggedIn, UsageError
from ..server_address import server_url
from .common import add_json_flag, current_session, open_coffer, print_json, read_new_password, read_secret

COMMANDS = {
    "login": "log in to a server and keep the session for later commands",
    "join": "accept an invitation: choose your password; your key pair is made on this machine",
    "passwd": "change your password (your files and keys stay as they are)",
    "logout": "end the stored session on the server and forget it here",
}
"""Each command :func:`register` adds → its help line, all that is built of it when another command runs."""
DEFAULT_SERVER = "http://127.0.0.1:8000"


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    login = commands.add_parser("login", help=COMMANDS["login"])
    login.add_argument("username")
    login.add_argument(
        "--server",
        help="server URL, https://HOST[:PORT]; a bare 127.0.0.1:PORT means http:// "
        "[env COFFER_SERVER, default http://127.0.0.1:8000]",
    )
    login.add_argument("--password-stdin", action="store_true", help="read the password as one line from stdin")
    add_json_flag(login)
    login.set_defaults(func=do_login)
    join = commands.add_parser("join", help=COMMANDS["join"])
    join.add_argument("server", help="the server URL the invitation names, https://HOST[:PORT]")
    join.add_argument("code", help="the one-time invitation code your administrator gave you")
    join.add_argument("--password-stdin", action="store_true", help="read the new password as one line from stdin")
    add_json_flag(join)
    join.set_defaults(func=do_join)
    passwd = commands.add_parser("passwd", help=COMMANDS["passwd"])
    passwd.add_argument(
        "--password-stdin", action="store_true", help="read the current and the new password as two lines"
    )
    passwd.set_defaults(func=do_passwd)
    logout = commands.add_parser("logout", help=COMMANDS["logout"])
    logout.set_defaults(func=do_logout)


def do_login(args: argparse.Namespace) -> int:
    given = args.server if args.server is not None else os.environ.get("COFFER_SERVER", DEFAULT_SERVER)
    server = server_url(given)  # a wrong address is refused before the password is asked
    password = read_secret(f"Password for {args.username}: ", args.password_stdin, "COFFER_PASSWORD")
    with Coffer.login(server, args.username, password) as coffer:
        stored = coffer.stored_session()
    session.save(stored)
    if args.json:
        print_json({"server": stored.server, "user": args.username, "expires_at": stored.expires_at})
    else:
        print(f"logged in to {stored.server} as {args.username}")
    return 0


def do_join(args: argparse.Namespace) -> int:
    """Spend an invitation: the password is asked here and the key pair made here; then log in as after `login`."""
    server = server_url(args.server)
    code = check_invitation_code(args.code)
    password = read_new_password("Choose your password: ", args.password_stdin, then="you have not joined yet")
    with Coffer.join(server, code, password) as coffer:
        stored = coffer.stored_session()
        fingerprint = coffer.fingerprint
    session.save(stored)
    if args.json:
        print_json({"server": stored.server, "user": stored.username, "fingerprint": fingerprint})
    else:
        print(f"joined {stored.server} as {stored.username}, and logged in")
        print(f"your key pair was made on this machine; its fingerprint is {fingerprint}")
    return 0


def check_invitation_code(text: str) -> str:
    """Refuse what cannot be an invitation code before the password is asked."""
    from coffer.protocol.api.invitations import check_code

    try:
        return check_code(text.strip())
    except ProtocolError as exc:
        raise UsageError(exc.message) from None


def do_logout(args: argparse.Namespace) -> int:
    """Forget this command's session here, then end it on the server: the login's, or the one cached for the env.

    SECURITY: the session file holds the user's private key, so it is deleted first,
    whatever the server then answers: an expired or revoked token, or a server that
    cannot be reached, must not leave the key on disk.
    """
    try:
        stored = current_session()
    except NotLoggedIn:
        session.forget()  # a damaged file may still hold a key
        raise
    _forget_here(stored)
    try:
        with ServerClient(stored.server, stored.token) as api:
            api.logout()
    except AuthError:
        print("logged out (the session had already ended on the server)")
        return 0
    except ConnectionFailed as exc:
        raise ConnectionFailed(
            f"logged out on this machine, but the server could not be told ({exc}): "
            "the session ends there by itself when it expires"
        ) from exc
    print("logged out")
    return 0


def _forget_here(stored: session.StoredSession) -> None:
    """Delete the file *stored* came from: the login's session file, or the environment's cached session."""
    try:
        login: session.StoredSession | None = session.load()
    except NotLoggedIn:
        login = None
    if login is not None and login.token == stored.token:
        session.forget()
    else:
        session.forget_cached(stored.server, stored.username)


def do_passwd(args: argparse.Namespace) -> int:
    old = read_secret("Current password: ", args.password_stdin)
    new = read_new_password("New password: ", args.password_stdin, then="nothing was changed")
    with open_coffer() as coffer:
        coffer.change_password(old, new)
    print("password changed; your other sessions have ended")
    return 0
