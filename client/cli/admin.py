"""``coffer admin``: users, declarative shard config, cluster configs and the fileserver registry."""

from __future__ import annotations

import argparse
import json
import time
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from coffer.protocol.errors import ProtocolError
from coffer.protocol.ids import check_username
from coffer.protocol.units import human_rate

from ..errors import UsageError
from ..server_api import ServerApi
from . import lifecycle, sharing, sync
from .common import add_json_flag, client, print_json, write_private
from .files import parse_expiry

if TYPE_CHECKING:
    from coffer.protocol.api.admin import ClusterConfig


COMMANDS = {"admin": "administer the server (needs an admin session)"}
"""Each command :func:`register` adds → its help line, all that is built of it when another command runs."""


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    admin = commands.add_parser("admin", help=COMMANDS["admin"])
    sub = admin.add_subparsers(dest="admin_command", required=True, metavar="COMMAND")

    apply = sub.add_parser("apply", help="apply a shard and cluster definition file, idempotently")
    apply.add_argument("file", type=Path)
    apply.add_argument("--prune", action="store_true", help="also remove shards, clusters and links the file omits")
    apply.add_argument("--dry-run", action="store_true", help="show the changes without making them")
    add_json_flag(apply)
    apply.set_defaults(func=do_apply)

    config = sub.add_parser("cluster-config", help="print the config a fileserver of CLUSTER boots from")
    config.add_argument("cluster")
    config.add_argument("-o", "--output", type=Path, help="write it to this file (mode 600) instead of stdout")
    config.set_defaults(func=do_cluster_config)

    rotate = sub.add_parser("rotate", help="give CLUSTER a new credential and print the new config")
    rotate.add_argument("cluster")
    rotate.add_argument(
        "--grace", type=float, default=0.0, help="seconds the old credential keeps working (default 0: none)"
    )
    rotate.add_argument("-o", "--output", type=Path, help="write the new config to this file (mode 600)")
    rotate.set_defaults(func=do_rotate)

    fileservers = sub.add_parser("fileservers", help="list fileservers: live or dead, last seen, shards, load")
    add_json_flag(fileservers)
    fileservers.set_defaults(func=do_fileservers)

    fileserver = sub.add_parser("fileserver", help="act on one registered fileserver")
    fileserver_commands = fileserver.add_subparsers(dest="fileserver_command", required=True, metavar="COMMAND")
    forget = fileserver_commands.add_parser(
        "forget",
        help="unpin a fileserver's identity key (its identity file was lost): its next registration pins a new one",
    )
    forget.add_argument("fileserver_id", metavar="ID")
    forget.set_defaults(func=do_fileserver_forget)

    for name, text in (
        ("shards", "list shards and the clusters that serve them"),
        ("clusters", "list clusters and their shard links"),
        ("users", "list users"),
    ):
        listing = sub.add_parser(name, help=text)
        add_json_flag(listing)
        listing.set_defaults(func=do_list, listing=name)

    user = sub.add_parser("user", help="manage users")
    user_commands = user.add_subparsers(dest="user_command", required=True, metavar="COMMAND")
    invite = user_commands.add_parser(
        "invite", help="invite a user: prints a one-time `coffer join` command; they choose their own password"
    )
    create = user_commands.add_parser(
        "create", help="the same as `invite` (users are invited: no administrator sets their password or keys)"
    )
    for parser in (invite, create):
        parser.add_argument("username", type=parse_username)
        parser.add_argument("--role", choices=("user", "admin"), default="user")
        parser.add_argument("--expires", type=parse_expiry, default=None, help="how long the code works (default 7d)")
        add_json_flag(parser)
        parser.set_defaults(func=do_invite)
    create.add_argument("--password-stdin", action="store_true", help=argparse.SUPPRESS)
    pending = user_commands.add_parser("invitations", help="list the invitations not yet used nor expired")
    add_json_flag(pending)
    pending.set_defaults(func=do_invitations)
    uninvite = user_commands.add_parser("uninvite", help="withdraw NAME's open invitation: its code stops working")
    uninvite.add_argument("username", type=parse_username)
    uninvite.set_defaults(func=do_uninvite)
    lifecycle.register_admin(sub, user_commands)
    sharing.register_admin(sub)
    sync.register_admin(sub)


def do_apply(args: argparse.Namespace) -> int:
    try:
        config = tomllib.loads(args.file.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"cannot read {args.file}: {exc}") from exc
    with client() as api:
        result = api.apply(config, prune=args.prune, dry_run=args.dry_run)
    if args.json:
        print_json(result.to_json())
        return 0
    changes = [c.to_json() for c in result.changes]
    verb = "would change" if args.dry_run else "changed"
    for c in changes:
        print(f"{c['action']:>6} {c['kind']:<7} {c['name']}")
    print(f"{verb} {len(changes)} item(s)" if changes else "already up to date")
    return 0


def _emit_config(result: ClusterConfig, output: Path | None) -> None:
    if output is None:
        print(result.toml, end="")
    else:
        write_private(output, result.toml)
        print(f"wrote {output} (it holds the cluster credential: keep it private)")


def do_cluster_config(args: argparse.Namespace) -> int:
    with client() as api:
        _emit_config(api.cluster_config(args.cluster), args.output)
    return 0


def do_rotate(args: argparse.Namespace) -> int:
    with client() as api:
        result = api.rotate_cluster(args.cluster, args.grace)
    _emit_config(result, args.output)
    return 0


def _ago(ts: float) -> str:
    seconds = max(0, time.time() - ts)
    return f"{seconds:.0f}s ago" if seconds < 120 else f"{seconds / 60:.0f}m ago"


def do_fileservers(args: argparse.Namespace) -> int:
    with client() as api:
        servers = [s.to_json() for s in api.fileservers()]
    if args.json:
        print_json(servers)
        return 0
    if not servers:
        print("no fileserver has registered yet")
    for s in servers:
        shards = ", ".join(f"{x['name']}({'r' if x['read'] else ''}{'w' if x['write'] else ''})" for x in s["shards"])
        load = s["load"]
        print(
            f"{'live' if s['live'] else 'DEAD':<4}  {s['url']:<28} {s['id']}  seen {_ago(s['last_seen'])}  "
            f"shards {shards or '-'}  transfers {load['active_transfers']}  {human_rate(load['bytes_per_s'])}"
        )
    return 0


def do_fileserver_forget(args: argparse.Namespace) -> int:
    with client() as api:
        api.forget_fileserver(args.fileserver_id)
    print(
        f"forgot the identity key of fileserver {args.fileserver_id}: the next fileserver to register under this id "
        "pins its own key, so restart the right one now"
    )
    return 0


def _listing(api: ServerApi, name: str) -> list[dict[str, Any]]:
    if name == "shards":
        return [shard.to_json() for shard in api.admin_shards()]
    if name == "clusters":
        return [cluster.to_json() for cluster in api.admin_clusters()]
    return [user.to_json() for user in api.admin_users()]


def do_list(args: argparse.Namespace) -> int:
    with client() as api:
        rows = _listing(api, args.listing)
    if args.json:
        print_json(rows)
    else:
        for row in rows:
            print("  ".join(f"{k}={v if isinstance(v, (str, int, float)) else json.dumps(v)}" for k, v in row.items()))
    return 0


def parse_username(text: str) -> str:
    """Check a new user's name before anything is asked: the server would refuse it only after the password."""
    try:
        return check_username(text)
    except ProtocolError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a user name: use 1-64 lowercase letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        ) from None


def do_invite(args: argparse.Namespace) -> int:
    """Invite a user and print the command they run; the password and the key pair are made on their machine."""
    from coffer.protocol.api.invitations import DEFAULT_INVITE_SECONDS, Invite

    if getattr(args, "password_stdin", False):
        raise UsageError(
            "`coffer admin user create` no longer takes a password: users are invited, and choose their own "
            f"password on their own machine. Run `coffer admin user invite {args.username}` and give them the "
            "command it prints"
        )
    with client() as api:
        expires = DEFAULT_INVITE_SECONDS if args.expires is None else args.expires
        invitation = api.invite(Invite(args.username, args.role, expires))
        server = api.url
    command = f"coffer join {server} {invitation.code}"
    if args.json:
        print_json(invitation.to_json() | {"server": server, "command": command})
        return 0
    expires = datetime.fromtimestamp(invitation.expires_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"{invitation.username} invited ({invitation.role}); the code works once, until {expires}.")
    print(f"Give {invitation.username} this command to run on their own machine:\n\n    {command}\n")
    print("Their client asks for their password and makes their key pair; you never see either.")
    return 0


def do_invitations(args: argparse.Namespace) -> int:
    with client() as api:
        rows = [i.to_json() for i in api.invitations()]
    if args.json:
        print_json(rows)
        return 0
    if not rows:
        print("no open invitation")
    for row in rows:
        expires = datetime.fromtimestamp(row["expires_at"], UTC).strftime("%Y-%m-%d %H:%M UTC")
        print(f"{row['username']:<24} {row['role']:<6} until {expires}  by {row['created_by'] or '-'}")
    return 0


def do_uninvite(args: argparse.Namespace) -> int:
    with client() as api:
        api.revoke_invitation(args.username)
    print(f"the invitation for {args.username} was withdrawn; its code no longer works")
    return 0
