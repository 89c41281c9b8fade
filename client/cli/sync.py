"""``coffer admin sync status`` and ``coffer admin verify``: what is left to copy between sites, and what is wrong."""

from __future__ import annotations

import argparse

from coffer.protocol.units import human_bytes, human_rate

from .common import add_json_flag, client, print_json

NOT_CLEAN = 1
"""The exit code of a verification that found a MISSING, EXTRA or CORRUPT copy."""


def register_admin(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    sync = sub.add_parser("sync", help="sync between sites: per shard and site, what is left to copy")
    sync_commands = sync.add_subparsers(dest="sync_command", required=True, metavar="COMMAND")
    status = sync_commands.add_parser(
        "status", help="per shard and site: backlog, lag, chunks below their copy count, errors, copy rate"
    )
    add_json_flag(status)
    status.set_defaults(func=do_sync_status)
    verify = sub.add_parser(
        "verify", help="check each chunk of SHARD at each site: MISSING, EXTRA or CORRUPT (exit 1 unless clean)"
    )
    verify.add_argument("shard")
    add_json_flag(verify)
    verify.set_defaults(func=do_verify)


def do_sync_status(args: argparse.Namespace) -> int:
    with client() as api:
        rows = api.sync_status()
    if args.json:
        print_json([row.to_json() for row in rows])
        return 0
    if not rows:
        print("no shard is linked to a cluster")
    for r in rows:
        mode = "keeps a copy" if r.read else "keeps none (no read link)"
        print(
            f"{r.shard:<20} {r.site:<20} {mode:<26} backlog {r.backlog_chunks} chunk(s), {human_bytes(r.backlog_bytes)}"
            f"  lag {r.lag_seconds:.0f}s  below copies {r.below_copies}  errors {r.errors}"
            f"  copying {human_rate(r.bytes_per_s)}"
        )
        for e in r.recent_errors:
            state = "given up for now" if e.given_up else f"try {e.tries}"
            print(f"    file {e.file} chunk {e.chunk[:16]}…: {e.problem} ({state})")
    return 0


def do_verify(args: argparse.Namespace) -> int:
    with client() as api:
        result = api.verify_shard(args.shard)
    if args.json:
        print_json(result.to_json())
        return 0 if result.clean else NOT_CLEAN
    for site in result.sites:
        role = "keeps a copy" if site.read else "keeps none"
        print(
            f"{site.site:<20} {role:<13} missing {site.missing}  extra {site.extra}  corrupt {site.corrupt}"
            f"  listed {'never' if site.inventory_at is None else 'yes'}"
        )
    for e in result.entries:
        print(f"{e.status:<8} {e.site:<20} file {e.file} chunk {e.chunk or '(deleted file, not purged yet)'}")
    if result.truncated:
        print(f"(only the first {len(result.entries)} problems are listed)")
    print(
        f"shard {result.shard}: {result.chunks} chunk(s) "
        + ("clean at every site" if result.clean else "NOT clean: see above")
    )
    return 0 if result.clean else NOT_CLEAN
