"""Parse a ``Range`` header into the one byte range a download may ask for.

A client resuming a download asks for the rest of a chunk (``bytes=a-``), a part
of it (``bytes=a-b``) or its tail (``bytes=-n``). One range per request is enough
for that; several ranges (multipart answers) are refused rather than half-served.
Any Range the fileserver cannot serve exactly is a 416 naming the chunk size, so
a client never mistakes a whole chunk for the part it asked for.
"""

from __future__ import annotations

import re

from ..errors import BadRange

_SPEC = re.compile(r"\A(\d{0,19})-(\d{0,19})\Z")


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """Return ``(start, length)`` for *header* against a chunk of *size* bytes, or None for no Range."""
    if header is None or not header.strip():
        return None
    unit, sep, spec = header.strip().partition("=")
    if not sep or unit.strip().lower() != "bytes":
        raise BadRange(f"Range must be 'bytes=first-last', got {header[:80]!r}", size=size)
    if "," in spec:
        raise BadRange("only one byte range per request is supported", size=size)
    match = _SPEC.match(spec.strip())
    if match is None or match.group(1) == match.group(2) == "":
        raise BadRange(
            f"Range must be 'bytes=first-last', 'bytes=first-' or 'bytes=-count', got {header[:80]!r}", size=size
        )
    first, last = match.group(1), match.group(2)
    if first == "":
        count = int(last)
        if count == 0 or size == 0:
            raise BadRange(f"the range asks for the last {count} bytes of a {size}-byte chunk", size=size)
        count = min(count, size)
        return size - count, count
    start = int(first)
    if start >= size:
        raise BadRange(f"the range starts at byte {start}, beyond the chunk's {size} bytes", size=size)
    if last == "":
        return start, size - start
    end = int(last)
    if end < start:
        raise BadRange(f"the range ends (byte {end}) before it starts (byte {start})", size=size)
    return start, min(end, size - 1) - start + 1


def content_range(start: int, length: int, size: int) -> str:
    """Return the Content-Range value of a 206 answer."""
    return f"bytes {start}-{start + length - 1}/{size}"
