"""Byte counts as people read them, the same in every program's messages: decimal units, as disks and bills count.

One convention everywhere: 1 KB = 1000 bytes, 1 MB = 1000 KB, and rates in MB/s. A
progress bar, the summary after it, ``coffer ls``, ``coffer info``, a quota and the
benchmarks all print the same figure for the same bytes, so they compare at a glance.
(``coffer admin quota --bytes`` still *reads* ``512MiB`` as well as ``500GB``.)
"""

from __future__ import annotations

UNITS = ("B", "KB", "MB", "GB", "TB", "PB")
STEP = 1000


def human_bytes(n: float) -> str:
    """Return ``25.0 MB`` for 25,000,000 bytes; whole bytes below 1 KB (``999 B``)."""
    value = float(n)
    for unit in UNITS:
        if value < STEP or unit == UNITS[-1]:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= STEP
    raise AssertionError("unreachable")


def human_rate(bytes_per_second: float) -> str:
    """Return a transfer rate in the same units: ``134.2 MB/s``."""
    return f"{human_bytes(bytes_per_second)}/s"
