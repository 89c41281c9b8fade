"""``coffer quota`` and the lifecycle half of ``coffer admin``: holds, quotas, user removal, audit, purges."""

from __future__ import annotations

import argparse
import re
import sys
import time
from datetime import datetime
from typing import Any

from coffer.protocol import routes
from coffer.protocol.units import human_bytes

from ..errors import UsageError
from .common import add_json_flag, client, print_json
from .files import parse_duration

SIZE = re.compile(r"\A(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB|KIB|MIB|GIB|TIB)?\Z", re.IGNORECASE)
SIZE_UNITS = {
    "B": 1,
    "KB": 10**3,
    "MB": 10**6,
    "GB": 10**9,
    "TB": 10**12,
    "KIB": 1 << 10,
    "MIB": 1 << 20,
    "GIB": 1 << 30,
    "TIB": 1 << 40,
}


def parse_size(text: str) -> int:
    """Read ``10GB``, ``512MiB`` or plain bytes."""
    match = SIZE.match(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size like 10GB, 512MiB or 1048576")
    return int(float(match.group(1)) * SIZE_UNITS[(match.group(2) or "B").upper()])


DEFAULT = "default"


def _limit(parse: Any) -> Any:
    """Accept ``default`` (back to the server default) as well as a value."""

    def read(text: str) -> int | str:
        return DEFAULT if text.strip().lower() == DEFAULT else parse(text)

    return read


def parse_since(text: str) -> float:
    """Read a duration back from now (``1h``, ``7d``) or an ISO 8601 time (``2026-11-23T10:00``)."""
    try:
        return time.time() - parse_duration(text)
    except argparse.ArgumentTypeError:
        pass
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is neither a duration like 1h nor a time like 2026-11-23") from exc


COMMANDS = {"quota": "show your storage quota and what you use of it"}
"""Each command :func:`register_user` adds → its help line, all that is built of it when another command runs."""


def register_user(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    quota = commands.add_parser("quota", help=COMMANDS["quota"])
    add_json_flag(quota)
    quota.set_defaults(func=do_quota)


def register_admin(
    sub: argparse._SubParsersAction,  # type: ignore[type-arg]
    user_commands: argparse._SubParsersAction,  # type: ignore[type-arg]
) -> None:
    for name, held, text in (
        ("hold", True, "put a file, or every file of a user, under legal hold (kept past expiry, not deletable)"),
        ("release", False, "release a legal hold; expiry then takes its course"),
    ):
        command = sub.add_parser(name, help=text)
        target = command.add_mutually_exclusive_group(required=True)
        target.add_argument("file_id", nargs="?", metavar="ID", help="the file")
        target.add_argument("--user", metavar="NAME", help="every file of this user, present and future")
        command.add_argument("--reason", help="why (kept in the audit log)")
        command.set_defaults(func=do_hold, held=held)

    holds = sub.add_parser("holds", help="list what is under legal hold")
    add_json_flag(holds)
    holds.set_defaults(func=do_holds)

    quota = sub.add_parser("quota", help="show or set a user's quota")
    quota.add_argument("username")
    quota.add_argument("--bytes", type=_limit(parse_size), help="byte limit (10GB, 512MiB; 'default': server's)")
    quota.add_argument("--files", type=_limit(int), help="file count limit ('default': server's)")
    add_json_flag(quota)
    quota.set_defaults(func=do_admin_quota)

    remove = user_commands.add_parser(
        "delete", help="remove a user and delete all their files from every fileserver (refused under legal hold)"
    )
    remove.add_argument("username")
    remove.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    remove.set_defaults(func=do_user_delete)

    audit = sub.add_parser("audit", help="show the audit log (oldest first)")
    audit.add_argument("--since", type=parse_since, help="from this long ago (1h, 7d) or this time (2026-11-23)")
    audit.add_argument("--user", metavar="NAME", help="only events by or about this user")
    audit.add_argument("--limit", type=int, default=1000, help="at most this many of the newest (default 1000)")
    add_json_flag(audit)
    audit.set_defaults(func=do_audit)

    purges = sub.add_parser("purges", help="deletions waiting for a fileserver to confirm, per fileserver")
    add_json_flag(purges)
    purges.set_defaults(func=do_purges)

    sweep = sub.add_parser("sweep", help="run the lifecycle job now: expiry, abandoned uploads, lost fileservers")
    add_json_flag(sweep)
    sweep.set_defaults(func=do_sweep)


def _print_quota(quota: dict[str, dict[str, int]]) -> None:
    b, f = quota["bytes"], quota["files"]
    print(f"bytes: {human_bytes(b['used'])} of {human_bytes(b['limit'])} ({100 * b['used'] / max(b['limit'], 1):.0f}%)")
    print(f"files: {f['used']} of {f['limit']}")


def do_quota(args: argparse.Namespace) -> int:
    with client() as api:
        quota = api.my_quota().to_json()
    print_json(quota) if args.json else _print_quota(quota)
    return 0


def do_admin_quota(args: argparse.Namespace) -> int:
    from coffer.protocol.api.quotas import SetQuota

    body: dict[str, int | None] = {}
    for key in ("bytes", "files"):
        value = getattr(args, key)
        if value is not None:
            body[key] = None if value == DEFAULT else value
    with client() as api:
        if body:
            quota = api.set_user_quota(args.username, SetQuota(body)).to_json()
        else:
            quota = api.user_quota(args.username).to_json()
    print_json(quota) if args.json else _print_quota(quota)
    return 0


def do_hold(args: argparse.Namespace) -> int:
    path = routes.admin_user_hold(args.user) if args.user else routes.admin_file_hold(args.file_id)
    body = {"reason": args.reason} if args.reason else None
    with client() as api:
        api.set_hold(path, args.held, body)
    what = f"every file of {args.user}" if args.user else f"file {args.file_id}"
    print(f"{what}: {'on legal hold' if args.held else 'hold released'}", file=sys.stderr)
    return 0


def do_holds(args: argparse.Namespace) -> int:
    with client() as api:
        holds = api.holds()
    if args.json:
        print_json(holds.to_json())
        return 0
    for user in holds.users:
        print(f"user {user}: every file")
    for f in holds.files:
        print(f"file {f.id}  owner {f.owner}  {human_bytes(f.size)}  {f.state}")
    if not holds.users and not holds.files:
        print("nothing is under legal hold")
    return 0


def do_user_delete(args: argparse.Namespace) -> int:
    if not args.yes:
        if not sys.stdin.isatty():
            raise UsageError("removing a user deletes all their files: confirm with --yes")
        answer = input(f"Remove {args.username} and delete all their files? Type the user name to confirm: ")
        if answer.strip() != args.username:
            raise UsageError("not confirmed: nothing was removed")
    with client() as api:
        result = api.delete_user(args.username)
    print(f"removed {result.removed}; {result.files_deleted} file(s) deleted", file=sys.stderr)
    return 0


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def do_audit(args: argparse.Namespace) -> int:
    params = {"limit": str(args.limit)}
    if args.since is not None:
        params["since"] = str(args.since)
    if args.user:
        params["user"] = args.user
    with client() as api:
        events = api.audit(params)
    if args.json:
        print_json([e.to_json() for e in events])
        return 0
    for e in events:
        detail = " ".join(f"{k}={v}" for k, v in e.detail.items())
        print(
            f"{_when(e.at)}  {e.action:<20} {e.outcome:<9} {e.actor or '-':<16} "
            f"{e.address or '-':<15} {e.object or '-'}  {detail}".rstrip()
        )
    return 0


def do_purges(args: argparse.Namespace) -> int:
    with client() as api:
        rows = api.purges()
    if args.json:
        print_json([r.to_json() for r in rows])
        return 0
    for r in rows:
        print(f"{r.url:<28} {r.fileserver}  {r.purges} file(s) waiting since {_when(r.oldest)}")
    if not rows:
        print("no deletion is waiting: every fileserver has confirmed")
    return 0


def do_sweep(args: argparse.Namespace) -> int:
    with client() as api:
        result = api.sweep()
    if args.json:
        print_json(result.to_json())
    else:
        print(f"expired {result.expired}, abandoned uploads {result.abandoned}, lost fileservers {result.lost}")
    return 0
