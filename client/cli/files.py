"""``coffer upload``, ``download``, ``ls``, ``info`` and ``rm``: a thin layer over :class:`client.coffer.Coffer`."""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

from protocol.units import human_bytes

from ..coffer import FileInfo
from ..errors import UsageError
from .common import add_json_flag, open_coffer, print_json
from .progress import bar

DURATION = re.compile(r"\A(\d+(?:\.\d+)?)([smhdw]?)\Z")
UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> float:
    """Read ``7d``, ``12h``, ``30m``, ``90s`` or plain seconds."""
    match = DURATION.match(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 7d, 12h, 30m or 3600")
    return float(match.group(1)) * UNITS[match.group(2)]


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    upload = commands.add_parser("upload", help="encrypt and upload files; prints each file id")
    upload.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    upload.add_argument("--shard", default=os.environ.get("COFFER_SHARD", "default"), help="shard to store in")
    upload.add_argument(
        "--expires", type=parse_duration, help="keep the file this long (e.g. 7d); default: the maximum"
    )
    upload.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    add_json_flag(upload)
    upload.set_defaults(func=do_upload)

    download = commands.add_parser("download", help="download and decrypt a file")
    download.add_argument("file_id", metavar="ID")
    download.add_argument("-o", "--output", type=Path, help="where to write it (default: its name, here)")
    download.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    download.set_defaults(func=do_download)

    listing = commands.add_parser("ls", help="list your files")
    add_json_flag(listing)
    listing.set_defaults(func=do_ls)

    info = commands.add_parser("info", help="show one file")
    info.add_argument("file_id", metavar="ID")
    add_json_flag(info)
    info.set_defaults(func=do_info)

    remove = commands.add_parser("rm", help="delete a file")
    remove.add_argument("file_ids", nargs="+", metavar="ID")
    remove.set_defaults(func=do_rm)


def do_upload(args: argparse.Namespace) -> int:
    for path in args.paths:
        if not path.is_file():
            raise UsageError(f"{path} is not a readable file")
    results = []
    with open_coffer() as coffer:
        for path in args.paths:
            with bar(path.name, not args.quiet) as progress:
                result = coffer.upload(path, shard=args.shard, expires_in=args.expires, on_progress=progress)
            results.append(result)
            if not args.quiet and not args.json:
                rate = result.bytes / max(result.seconds, 1e-9) / 1e6
                resumed = f", {result.chunks_skipped} chunk(s) already there" if result.chunks_skipped else ""
                print(f"uploaded {path} ({human_bytes(result.bytes)}, {rate:.0f} MB/s{resumed})", file=sys.stderr)
            if not args.json:
                print(result.file_id, flush=True)
    if args.json:
        print_json([r.to_json() for r in results])
    return 0


def do_download(args: argparse.Namespace) -> int:
    with open_coffer() as coffer:
        started = time.monotonic()
        with bar(args.file_id[:8], not args.quiet) as progress:
            path = coffer.download(args.file_id, args.output, on_progress=progress)
    if not args.quiet:
        size = path.stat().st_size
        print(
            f"downloaded {path} ({human_bytes(size)}, {size / max(time.monotonic() - started, 1e-9) / 1e6:.0f} MB/s)",
            file=sys.stderr,
        )
    print(path)
    return 0


def _row(f: FileInfo) -> str:
    expires = time.strftime("%Y-%m-%d", time.localtime(f.expires_at))
    if f.name:
        name = f.name
    elif f.state == "pending":
        name = "(upload in progress: its name is sealed at the end)"
    else:
        name = "(metadata does not decrypt: altered, or not sealed to your key)"
    return f"{f.id}  {human_bytes(f.size):>9}  {f.state:<8}  expires {expires}  {name}"


def do_ls(args: argparse.Namespace) -> int:
    with open_coffer() as coffer:
        files = coffer.list()
    if args.json:
        print_json([f.to_json() for f in files])
    else:
        for f in files:
            print(_row(f))
    return 0


def do_info(args: argparse.Namespace) -> int:
    with open_coffer() as coffer:
        f = coffer.info(args.file_id)
    data: dict[str, Any] = f.to_json()
    if args.json:
        print_json(data)
    else:
        for key, value in data.items():
            print(f"{key:>12}: {value}")
    return 0


def do_rm(args: argparse.Namespace) -> int:
    with open_coffer() as coffer:
        for file_id in args.file_ids:
            coffer.remove(file_id)
            print(f"deleted {file_id}", file=sys.stderr)
    return 0
