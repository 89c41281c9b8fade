"""Files of random bytes to move, and their hashes; sizes written as people write them."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from pathlib import Path

BLOCK = 8 * 1024 * 1024
_SIZE = re.compile(r"\A(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|KiB|MiB|GiB)?\Z", re.IGNORECASE)
_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "kib": 2**10, "mib": 2**20, "gib": 2**30}


def parse_size(text: str) -> int:
    """Read ``25MB``, ``1GB``, ``512KiB`` or a plain byte count."""
    match = _SIZE.match(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a size like 25MB, 1GB or 4MiB")
    return int(float(match.group(1)) * _UNITS[(match.group(2) or "b").lower()])


def label(size: int) -> str:
    """Name a size the way the tables do: 25 MB, 1 GB, 4 MiB."""
    for unit, factor in (("GB", 10**9), ("MB", 10**6), ("MiB", 2**20), ("KB", 10**3)):
        if size >= factor and size % factor == 0:
            return f"{size // factor} {unit}"
    return f"{size} B"


def make_file(path: Path, size: int) -> str:
    """Write *size* random bytes to *path* (fsynced); return their SHA-256."""
    digest = hashlib.sha256()
    with open(path, "wb") as f:
        left = size
        while left:
            block = os.urandom(min(BLOCK, left))
            digest.update(block)
            f.write(block)
            left -= len(block)
        f.flush()
        os.fsync(f.fileno())
    return digest.hexdigest()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(BLOCK):
            digest.update(block)
    return digest.hexdigest()


def check_room(directory: Path, needed: int) -> None:
    """Refuse to start when *directory*'s disk has less than *needed* bytes free, saying how much it has."""
    free = shutil.disk_usage(directory).free
    if free < needed:
        raise RuntimeError(
            f"{directory} has {free / 1e9:.1f} GB free and this run needs about {needed / 1e9:.1f} GB: "
            "free some space or run with smaller --sizes"
        )


def remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
