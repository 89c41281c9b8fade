"""``coffer share``, ``shares``, ``unshare``, ``link``, ``links``, ``unlink``, ``fingerprint``, and their admin half.

A thin layer over :class:`client.coffer.Coffer` (docs/sharing.md). ``coffer link``
prints the URL alone on stdout, so a script can pipe it on; notes go to stderr.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..errors import UsageError
from .common import add_json_flag, client, naming_flags, open_coffer, print_json, read_secret
from .files import LINK_PASSWORD_ENV, parse_expiry

if TYPE_CHECKING:
    from ..sharing import LinkInfo

LINK_STATES = ("active", "revoked", "expired", "exhausted")


def parse_max_downloads(text: str) -> int:
    """Read a download limit: a whole number from 1 to 1,000,000."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 1_000_000:
        raise argparse.ArgumentTypeError(f"{text!r} is not a download limit from 1 to 1000000")
    return value


COMMANDS = {
    "share": "share a file with another user (their key is checked first)",
    "shares": "list who a file of yours is shared with",
    "unshare": "end a user's access to your file (your own name: leave a share)",
    "link": "make a link anyone can download the file with; prints the URL",
    "links": "list your links (of one file, if given): state and downloads",
    "unlink": "revoke a link at once (its id or its URL)",
    "fingerprint": "show your key fingerprint, or USER's (and accept a changed key with --fingerprint)",
}
"""Each command :func:`register` adds → its help line, all that is built of it when another command runs."""


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    share = commands.add_parser("share", help=COMMANDS["share"])
    share.add_argument("file_id", metavar="ID")
    share.add_argument("user", metavar="USER")
    share.add_argument(
        "--fingerprint", metavar="FP", help="the key fingerprint USER read out to you (accepts a changed key)"
    )
    add_json_flag(share)
    share.set_defaults(func=do_share)

    shares = commands.add_parser("shares", help=COMMANDS["shares"])
    shares.add_argument("file_id", metavar="ID")
    add_json_flag(shares)
    shares.set_defaults(func=do_shares)

    unshare = commands.add_parser("unshare", help=COMMANDS["unshare"])
    unshare.add_argument("file_id", metavar="ID")
    unshare.add_argument("user", metavar="USER")
    unshare.set_defaults(func=do_unshare)

    link = commands.add_parser("link", help=COMMANDS["link"])
    link.add_argument("file_id", metavar="ID")
    link.add_argument("--expires", type=parse_expiry, help="how long the link works (e.g. 24h); default 7d")
    link.add_argument("--max-downloads", type=parse_max_downloads, metavar="N", help="downloads allowed")
    link.add_argument(
        "--password", action="store_true", help=f"lock the link with a password (asked twice, or ${LINK_PASSWORD_ENV})"
    )
    link.add_argument("--password-stdin", action="store_true", help="lock it with a password read as one stdin line")
    add_json_flag(link)
    link.set_defaults(func=do_link)

    links = commands.add_parser("links", help=COMMANDS["links"])
    links.add_argument("file_id", nargs="?", metavar="ID")
    add_json_flag(links)
    links.set_defaults(func=do_links)

    unlink = commands.add_parser("unlink", help=COMMANDS["unlink"])
    unlink.add_argument("link", metavar="LINK")
    unlink.set_defaults(func=do_unlink)

    fingerprint = commands.add_parser("fingerprint", help=COMMANDS["fingerprint"])
    fingerprint.add_argument("user", nargs="?", metavar="USER")
    fingerprint.add_argument("--fingerprint", metavar="FP", help="pin USER's key if it has this fingerprint")
    add_json_flag(fingerprint)
    fingerprint.set_defaults(func=do_fingerprint)


def register_admin(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    shares = sub.add_parser("shares", help="list shares: who shared which file with whom (never a key)")
    shares.add_argument("--owner", metavar="NAME")
    shares.add_argument("--recipient", metavar="NAME")
    shares.add_argument("--file", metavar="ID")
    add_json_flag(shares)
    shares.set_defaults(func=do_admin_shares)

    unshare = sub.add_parser("unshare", help="end a user's access to a file shared with them")
    unshare.add_argument("file_id", metavar="ID")
    unshare.add_argument("user", metavar="USER")
    unshare.set_defaults(func=do_admin_unshare)

    links = sub.add_parser("links", help="list share links, with their owners, states and downloads")
    links.add_argument("--owner", metavar="NAME")
    links.add_argument("--file", metavar="ID")
    links.add_argument("--state", choices=LINK_STATES)
    add_json_flag(links)
    links.set_defaults(func=do_admin_links)

    unlink = sub.add_parser("unlink", help="revoke a share link (its id or its URL)")
    unlink.add_argument("link", metavar="LINK")
    unlink.set_defaults(func=do_admin_unlink)


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M")


def do_share(args: argparse.Namespace) -> int:
    with open_coffer() as coffer:
        result = coffer.share(args.file_id, args.user, expect_fingerprint=args.fingerprint)
    if args.json:
        print_json(result.to_json())
        return 0
    print(f"shared {result.file} with {result.user}")
    print(f"{result.user}'s key fingerprint: {result.fingerprint}")
    if result.first_time and args.fingerprint is None:
        print(
            f"first share with {result.user}: compare this fingerprint with {result.user} over another channel "
            f"(in person, by phone); they see theirs with `coffer fingerprint`",
            file=sys.stderr,
        )
    return 0


def do_shares(args: argparse.Namespace) -> int:
    with open_coffer() as coffer:
        shares = coffer.shares(args.file_id)
    if args.json:
        print_json([s.to_json() for s in shares])
        return 0
    for s in shares:
        again = f"  (a key was rotated: run `coffer share {args.file_id} {s.user}` again)" if s.stale else ""
        print(f"{s.user:<24} since {_when(s.created_at)}{again}")
    if not shares:
        print(f"file {args.file_id} is not shared with anyone", file=sys.stderr)
    return 0


def do_unshare(args: argparse.Namespace) -> int:
    with open_coffer() as coffer:
        coffer.unshare(args.file_id, args.user)
    print(f"file {args.file_id} is no longer shared with {args.user}", file=sys.stderr)
    return 0


def link_password(args: argparse.Namespace) -> str | None:
    """The password to lock a link with: $COFFER_LINK_PASSWORD, a stdin line, or asked twice on the terminal."""
    if not (args.password or args.password_stdin):
        return None
    password = read_secret("Link password: ", args.password_stdin, LINK_PASSWORD_ENV)
    asked = not os.environ.get(LINK_PASSWORD_ENV) and not args.password_stdin and sys.stdin.isatty()
    if asked and read_secret("Repeat: ", False) != password:
        raise UsageError("the passwords differ; no link was made")
    if not password:
        raise UsageError("a link password cannot be empty; no link was made")
    return password


def _limits(link: LinkInfo) -> str:
    count = "unlimited downloads" if link.max_downloads is None else f"{link.max_downloads} download(s)"
    return f"until {_when(link.expires_at)} ({count})"


def do_link(args: argparse.Namespace) -> int:
    password = link_password(args)
    with open_coffer() as coffer, naming_flags({"expires_in": "--expires", "max_downloads": "--max-downloads"}):
        link = coffer.link(args.file_id, expires_in=args.expires, max_downloads=args.max_downloads, password=password)
    if args.json:
        print_json(link.to_json())
        return 0
    print(link.url, flush=True)
    print(f"anyone with this link can download the file {_limits(link)}", file=sys.stderr)
    if password is not None:
        print("send the password by another channel than the link", file=sys.stderr)
    return 0


def _link_row(link: dict[str, Any]) -> str:
    limit = "" if link.get("max_downloads") is None else f" of {link['max_downloads']}"
    lock = "  password" if link.get("protected") else ""
    owner = f"  owner {link['owner']}" if link.get("owner") else ""
    return (
        f"{link['id']}  file {link['file']}  {link['state']:<9}  expires {_when(link['expires_at'])}  "
        f"downloads {link['downloads']}{limit}{lock}{owner}"
    )


def do_links(args: argparse.Namespace) -> int:
    with open_coffer() as coffer:
        links = coffer.links(args.file_id)
    if args.json:
        print_json([link.to_json() for link in links])
        return 0
    for link in links:
        print(_link_row(link.to_json()))
    if not links:
        print("no links", file=sys.stderr)
    return 0


def do_unlink(args: argparse.Namespace) -> int:
    with open_coffer() as coffer:
        link_id = coffer.unlink(args.link)
    print(f"link {link_id} revoked", file=sys.stderr)
    return 0


_STATUS = {
    "pinned": "this is the key you pinned for {name}",
    "seen": "you have seen this key only on files {name} shared with you, and never compared it: compare it with "
    "{name} over another channel; your first share with {name} pins it, or pin it now with "
    '`coffer fingerprint {name} --fingerprint "{fp}"`',
    "new": "you have not met {name} yet: compare this with {name} over another channel; "
    'sharing pins it, or pin it now with `coffer fingerprint {name} --fingerprint "{fp}"`',
    "changed": "this is NOT the key you pinned for {name}: the server may be handing out a false key. Compare "
    "it with {name} over another channel; if it is theirs, accept it with "
    '`coffer fingerprint {name} --fingerprint "{fp}"`',
}


def do_fingerprint(args: argparse.Namespace) -> int:
    with open_coffer() as coffer:
        if args.user is None:
            if args.fingerprint is not None:
                raise UsageError("--fingerprint needs a USER: whose key to accept")
            mine = {"user": coffer.username, "fingerprint": coffer.fingerprint}
            print_json(mine) if args.json else print(f"your key fingerprint ({coffer.username}): {coffer.fingerprint}")
            return 0
        if args.fingerprint is not None:
            info = coffer.trust(args.user, args.fingerprint)
            status = "pinned"
        else:
            info = coffer.public_key_of(args.user)
            status = coffer.known_keys.status(info.name, info.public_key)
    if args.json:
        print_json({"user": info.name, "fingerprint": info.fingerprint, "pin": status})
        return 0
    print(f"{info.name}'s key fingerprint: {info.fingerprint}")
    print(_STATUS[status].format(name=info.name, fp=info.fingerprint), file=sys.stderr)
    return 0


def _params(args: argparse.Namespace, *names: str) -> dict[str, str]:
    return {n: getattr(args, n) for n in names if getattr(args, n) is not None}


def do_admin_shares(args: argparse.Namespace) -> int:
    with client() as api:
        rows = api.admin_shares(_params(args, "owner", "recipient", "file"))
    if args.json:
        print_json([r.to_json() for r in rows])
        return 0
    for r in rows:
        print(f"file {r.file}  owner {r.owner:<16} shared with {r.user:<16} since {_when(r.created_at)}")
    if not rows:
        print("no shares", file=sys.stderr)
    return 0


def do_admin_unshare(args: argparse.Namespace) -> int:
    from ..sharing import file_id_of, user_name  # sharing's modules load only for the commands that share

    with client() as api:
        api.admin_unshare(file_id_of(args.file_id), user_name(args.user))
    print(f"file {args.file_id} is no longer shared with {args.user}", file=sys.stderr)
    return 0


def do_admin_links(args: argparse.Namespace) -> int:
    with client() as api:
        rows = [link.to_json() for link in api.admin_links(_params(args, "owner", "file", "state"))]
    if args.json:
        print_json(rows)
        return 0
    for r in rows:
        print(_link_row(r))
    if not rows:
        print("no links", file=sys.stderr)
    return 0


def do_admin_unlink(args: argparse.Namespace) -> int:
    from ..sharing import link_id_of

    with client() as api:
        link_id = link_id_of(args.link, api.url)
        api.admin_unlink(link_id)
    print(f"link {link_id} revoked", file=sys.stderr)
    return 0
