"""The format version every file record carries, and the check a client makes before reading one.

A record without the field predates it and is version 1. A record in a version this code
does not implement is refused by name, before any byte of it is decrypted, so the person
is told to upgrade instead of being told the file is damaged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import UnknownFormatVersion

FORMAT_VERSION = 1
"""The version this code writes."""

READABLE_VERSIONS = frozenset({1})
"""The versions this code reads."""


def record_version(record: Mapping[str, Any]) -> int:
    """Return the format version of a file *record*, or raise UnknownFormatVersion naming the file."""
    version = record.get("format", 1)
    if type(version) is int and version in READABLE_VERSIONS:
        return version
    name = record.get("id", "?")
    shown = f"v{version}" if type(version) is int else f"{version!r}"
    raise UnknownFormatVersion(
        f"file {name} was written in format {shown}, which this version of coffer cannot read "
        f"(it reads format v{max(READABLE_VERSIONS)}): upgrade coffer"
    )
