"""Write small files so that a crash leaves either the old or the new version, never a torn one."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def fsync_dir(path: Path) -> None:
    """Flush a directory's entries, so a rename or unlink in it survives a power cut."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def private_dir(path: Path) -> None:
    """Create *path* and every missing parent as 0700 directories, whatever the umask.

    ``Path.mkdir(mode=..., parents=True)`` gives the mode to the last one only.
    SECURITY: a fileserver's data directory holds its identity and the chunks it serves.
    """
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for directory in reversed(missing):
        directory.mkdir(mode=0o700, exist_ok=True)


def atomic_write(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Replace *path* with *data*: temp file in the same directory, fsync, rename, fsync the directory."""
    private_dir(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    fsync_dir(path.parent)


def atomic_write_json(path: Path, value: Any, mode: int = 0o600) -> None:
    """Write *value* as JSON with :func:`atomic_write`."""
    atomic_write(path, json.dumps(value, indent=1, sort_keys=True).encode() + b"\n", mode)
