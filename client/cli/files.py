"""``coffer upload``, ``download``, ``ls``, ``info`` and ``rm``: a thin layer over :class:`client.coffer.Coffer`.

``coffer download`` takes a share link as well as a file id: a link needs no login
(:mod:`client.link_download`), and asks for a password only when the link is locked.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

from coffer.format import links
from coffer.protocol.api.files import STATES, FileFilter
from coffer.protocol.ids import UUID_RE
from coffer.protocol.units import human_bytes, human_rate

from ..batch import download_many, upload_many
from ..coffer import FileInfo
from ..download import DownloadResult
from ..errors import ApiError, UsageError, exit_code
from ..link_download import download_link
from ..local_names import shown
from ..trees import tree_files
from ..upload import UploadResult
from .common import add_json_flag, naming_flags, open_coffer, print_json, print_json_pages, read_secret
from .progress import bar

LINK_PASSWORD_ENV = "COFFER_LINK_PASSWORD"
DURATION = re.compile(r"\A(\d+(?:\.\d+)?)([smhdw]?)\Z")
UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> float:
    """Read ``7d``, ``12h``, ``30m``, ``90s`` or plain seconds."""
    match = DURATION.match(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 7d, 12h, 30m or 3600")
    return float(match.group(1)) * UNITS[match.group(2)]


def parse_expiry(text: str) -> float:
    """Read how long to keep something (``--expires``): a duration, as :func:`parse_duration`, above zero."""
    seconds = parse_duration(text)
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} would expire at once: give how long to keep it, like 7d or 12h")
    return seconds


EXPIRY_FLAGS = {"expires_in": "--expires"}
"""The API field each option of ``coffer upload`` sets, to name the option when the server refuses the field."""


COMMANDS = {
    "upload": "encrypt and upload files; prints each file id",
    "download": "download and decrypt files, or the file of a share link",
    "ls": "list your files, oldest first, as they arrive",
    "info": "show one file",
    "rm": "delete a file",
}
"""Each command :func:`register` adds → its help line, all that is built of it when another command runs."""


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    upload = commands.add_parser("upload", help=COMMANDS["upload"])
    upload.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    upload.add_argument(
        "-r",
        "--recursive",
        action="store_true",
        help="upload directories and everything in them; a download restores each file's path below the directory",
    )
    upload.add_argument("--shard", help="shard to store in [env COFFER_SHARD; default: default]")
    upload.add_argument("--expires", type=parse_expiry, help="keep the file this long (e.g. 7d); default: the maximum")
    upload.add_argument(
        "--copies",
        type=parse_copies,
        default=1,
        help="store each chunk on this many fileservers (1-8); never fewer than the shard keeps",
    )
    add_site_flag(upload)
    upload.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    add_json_flag(upload)
    upload.set_defaults(func=do_upload)

    download = commands.add_parser("download", help=COMMANDS["download"])
    download.add_argument("file_ids", nargs="+", metavar="ID|URL", help="file ids, or one share link (no login needed)")
    download.add_argument(
        "-o", "--output", type=Path, help="where to write it (default: its name, here); with several ids, a directory"
    )
    download.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    add_site_flag(download)
    download.add_argument(
        "--overwrite", action="store_true", help="replace the destination if it exists (only once verified)"
    )
    download.add_argument(
        "--password-stdin",
        action="store_true",
        help=f"read a locked link's password as one stdin line [else ${LINK_PASSWORD_ENV}, else asked]",
    )
    download.set_defaults(func=do_download)

    listing = commands.add_parser("ls", help=COMMANDS["ls"])
    listing.add_argument("--shared", action="store_true", help="list the files others shared with you instead")
    listing.add_argument("--state", choices=STATES, help="only the files in this state")
    listing.add_argument("--shard", help="only the files in this shard")
    add_json_flag(listing)
    listing.set_defaults(func=do_ls)

    info = commands.add_parser("info", help=COMMANDS["info"])
    info.add_argument("file_id", metavar="ID")
    add_json_flag(info)
    info.set_defaults(func=do_info)

    remove = commands.add_parser("rm", help=COMMANDS["rm"])
    remove.add_argument("file_ids", nargs="+", metavar="ID")
    remove.set_defaults(func=do_rm)


def chosen_site(args: argparse.Namespace) -> str | None:
    """``--site``, else ``COFFER_SITE``.

    Defaults that come from the environment are read as the command runs, never while
    its parser is built: ``coffer agent`` builds the parser of ``upload`` and
    ``download`` once, in its own environment, and each command runs in the caller's
    (:func:`coffer.client.cli.main.prepared`).
    """
    return args.site if args.site is not None else os.environ.get("COFFER_SITE") or None


def parse_copies(text: str) -> int:
    """Read ``--copies``: a whole number from 1 to 8."""
    if not text.isdigit() or not 1 <= int(text) <= 8:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of copies: use a whole number from 1 to 8")
    return int(text)


def add_site_flag(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--site",
        metavar="CLUSTER",
        help="the cluster of your office: its fileservers are used first [env COFFER_SITE; default: the nearest, "
        "learned from connect times]",
    )


def upload_sources(paths: list[Path], recursive: bool) -> list[tuple[Path, str]]:
    """Return each file to upload with the name to seal in its metadata; check them all before any is sent."""
    sources: list[tuple[Path, str]] = []
    for path in paths:
        if path.is_dir():
            if not recursive:
                raise UsageError(f"{path} is a directory: use -r to upload it and everything in it")
            found = tree_files(path)
            if not found:
                raise UsageError(f"{path} has no files in it: nothing to upload")
            sources.extend(found)
        elif path.is_file():
            sources.append((path, path.name))
        else:
            raise UsageError(f"{path} is not a readable file")
    return sources


def do_upload(args: argparse.Namespace) -> int:
    results: list[UploadResult] = []
    sources = upload_sources(args.paths, args.recursive)
    shard = args.shard if args.shard is not None else os.environ.get("COFFER_SHARD", "default")
    options = {"shard": shard, "copies": args.copies, "expires_in": args.expires}
    with open_coffer() as coffer:
        coffer.use_site(chosen_site(args))
        if len(sources) == 1:
            path, name = sources[0]
            args.resume = _resume_upload(path, 0, 1)
            with bar(name, not args.quiet) as progress, naming_flags(EXPIRY_FLAGS):
                results.append(coffer.upload(path, on_progress=progress, name=name, **options))
            _uploaded(args, path, results[0])
        else:
            # Several files move at once (client.batch): a warning still prints, a bar per file cannot.
            args.resume = _resume_upload(sources[0][0], 0, len(sources))
            with bar("", False), naming_flags(EXPIRY_FLAGS):
                for result in upload_many(coffer, sources, **options):
                    _uploaded(args, sources[len(results)][0], result)
                    results.append(result)
                    if len(results) < len(sources):
                        args.resume = _resume_upload(sources[len(results)][0], len(results), len(sources))
    if args.json:
        print_json([r.to_json() for r in results])
    return 0


def _uploaded(args: argparse.Namespace, path: Path, result: UploadResult) -> None:
    """Say that *path* is uploaded: a line for a person on stderr, its id on stdout (unless ``--json``)."""
    if not args.quiet and not args.json:
        rate = human_rate(result.bytes / max(result.seconds, 1e-9))
        resumed = f", {result.chunks_skipped} chunk(s) already there" if result.chunks_skipped else ""
        print(f"uploaded {path} ({human_bytes(result.bytes)}, {rate}{resumed})", file=sys.stderr)
    if not args.json:
        print(result.file_id, flush=True)


def _resume_upload(path: Path, done: int, total: int) -> str:
    """What to tell a person who pressed Ctrl-C during the upload of *path*, after *done* of *total* files."""
    if done == 0:
        return RESUME.format(verb="upload")
    return (
        f"upload interrupted after {done} of {total} files: to resume, run it again with {path} and the files "
        "after it (what was already sent of it is not sent again)"
    )


RESUME = "{verb} interrupted; run the same command again to resume: what was already transferred is not sent again"
"""What Ctrl-C leaves behind (``coffer.client.cli.main`` prints it): resume state, kept by upload and download."""


def do_download(args: argparse.Namespace) -> int:
    if len(args.file_ids) > 1:
        return _download_several(args)
    args.file_id = args.file_ids[0]
    started = time.monotonic()
    args.resume = RESUME.format(verb="download")
    if links.is_link(args.file_id):
        path = _download_link(args).path
    else:
        with open_coffer() as coffer:
            coffer.use_site(chosen_site(args))
            with bar(args.file_id[:8], not args.quiet) as progress:
                path = coffer.download(args.file_id, args.output, on_progress=progress, overwrite=args.overwrite)
    if not args.quiet:
        size = path.stat().st_size
        rate = human_rate(size / max(time.monotonic() - started, 1e-9))
        print(f"downloaded {path} ({human_bytes(size)}, {rate})", file=sys.stderr)
    print(path)
    return 0


def _download_several(args: argparse.Namespace) -> int:
    """Download several files at once (client.batch) into one directory, each under its own name."""
    if any(links.is_link(f) for f in args.file_ids):
        raise UsageError("a share link is downloaded alone: give it as the only argument")
    if args.output is not None and args.output.exists() and not args.output.is_dir():
        raise UsageError(f"{args.output} is a file: with several ids, -o names the directory to write them in")
    if args.output is not None:
        args.output.mkdir(parents=True, exist_ok=True)
    args.resume = RESUME.format(verb="download")
    with open_coffer() as coffer, bar("", False):
        coffer.use_site(chosen_site(args))
        for result in download_many(coffer, args.file_ids, args.output, overwrite=args.overwrite):
            if not args.quiet:
                rate = human_rate(result.bytes_per_second)
                print(f"downloaded {result.path} ({human_bytes(result.size)}, {rate})", file=sys.stderr)
            print(result.path, flush=True)
    return 0


def _download_link(args: argparse.Namespace) -> DownloadResult:
    """Download by share link, with no session; ask for the password only if the link is locked."""
    ref = links.parse_link(args.file_id)
    password = None
    if links.is_locked(ref.fragment):
        password = read_secret("Link password: ", args.password_stdin, LINK_PASSWORD_ENV) or None
    with bar(ref.link_id[:8], not args.quiet) as progress:
        return download_link(
            args.file_id,
            args.output,
            password=password,
            on_progress=progress,
            overwrite=args.overwrite,
            site=chosen_site(args),
        )


def _row(f: FileInfo) -> str:
    expires = time.strftime("%Y-%m-%d", time.localtime(f.expires_at))
    if f.name:
        name = shown(f.name)  # SECURITY: chosen by whoever holds the key, a sharer included
    elif f.state == "pending":
        name = "(upload in progress: its name is sealed at the end)"
    elif f.problem:
        name = f"({f.problem})"
    else:
        name = "(metadata does not decrypt: altered, or not sealed to your key)"
    if f.access == "shared":
        return f"{f.id}  {human_bytes(f.size):>9}  from {f.owner:<12}  expires {expires}  {name}"
    return f"{f.id}  {human_bytes(f.size):>9}  {f.state:<8}  expires {expires}  {name}"


def do_ls(args: argparse.Namespace) -> int:
    """Print each page of the listing as it arrives: an account of 100,000 files starts printing at once."""
    only = FileFilter(state=args.state, shard=args.shard)
    with open_coffer() as coffer:
        pages = coffer.pages(shared=args.shared, only=only)
        if args.json:
            print_json_pages([f.to_json() for f in page] for page in pages)
            return 0
        for page in pages:
            for f in page:
                print(_row(f))
            sys.stdout.flush()
    return 0


def do_info(args: argparse.Namespace) -> int:
    with open_coffer() as coffer:
        f = coffer.info(args.file_id)
    data: dict[str, Any] = f.to_json()
    if args.json:
        print_json(data)
    else:
        for key, value in data.items():
            if value != "":  # no blank lines: a file with no problem has none to show, an untyped file no type
                print(f"{key:>12}: {_readable(key, value)}")
    return 0


TIMES = ("mtime", "created_at", "completed_at", "expires_at")
SIZES = ("size", "stored_size")


def _readable(key: str, value: Any) -> str:
    """A field of ``coffer info`` for a person: a local time, a size with its unit. Scripts read ``--json``."""
    if key in TIMES and isinstance(value, int | float):
        return time.strftime("%Y-%m-%d %H:%M:%S %z", time.localtime(value))
    if key in SIZES and isinstance(value, int):
        return f"{human_bytes(value)} ({value} bytes)"
    return shown(str(value))  # SECURITY: the name and type come from metadata, remote input


def do_rm(args: argparse.Namespace) -> int:
    """Delete one file, or many a page per request: each refusal is reported and the rest still go.

    The exit code is that of the first file refused, so a script sees a failure.
    """
    file_ids = list(dict.fromkeys(args.file_ids))
    if len(file_ids) > 1:
        for file_id in file_ids:
            if not UUID_RE.match(file_id):
                raise UsageError(f"{file_id!r} is not a file id: `coffer ls` shows them (nothing was deleted)")
    first: ApiError | None = None
    with open_coffer() as coffer:
        if len(file_ids) == 1:
            coffer.remove(file_ids[0])
            print(f"deleted {file_ids[0]}", file=sys.stderr)
            return 0
        for file_id, error in coffer.remove_many(file_ids):
            if error is None:
                print(f"deleted {file_id}", file=sys.stderr)
            else:
                print(f"coffer: {file_id} was not deleted: {error.message}", file=sys.stderr)
                first = first or error
    return exit_code(first) if first else 0
