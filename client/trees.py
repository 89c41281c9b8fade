"""Find the files of a directory to upload whole, each with the relative name a download restores it under."""

from __future__ import annotations

import os
from pathlib import Path

from coffer.format.errors import IntegrityError
from coffer.format.metadata import relative_path

from .errors import UsageError


def tree_files(root: Path) -> list[tuple[Path, str]]:
    """Return every file below *root*, in name order, with its name: *root*'s own name, then the path below it.

    Names use ``/`` whatever the platform, as the format does. Directory links are not followed
    (a tree that links to itself would never end); links to files are uploaded as the file.
    Empty directories have nothing to upload and are left out.
    """
    prefix = root.resolve().name
    found: list[tuple[Path, str]] = []
    for here, dirs, names in os.walk(root, onerror=_raise):
        dirs.sort()
        for name in sorted(names):
            path = Path(here) / name
            if not path.is_file():
                continue  # a socket, a fifo, a broken link: not a file to upload
            relative = path.relative_to(root).as_posix()
            found.append((path, f"{prefix}/{relative}" if prefix else relative))
    for path, name in found:
        _check_restorable(path, name)
    return found


def _check_restorable(path: Path, name: str) -> None:
    """Refuse a name that a download would refuse to restore (a backslash in a file name, say)."""
    try:
        relative_path(name)
    except IntegrityError as exc:
        raise UsageError(
            f"{path} cannot be uploaded under its relative name {name!r}: a download would refuse to restore it "
            "(a backslash or NUL in a name); rename it, or upload it alone"
        ) from exc


def _raise(error: OSError) -> None:
    raise error
