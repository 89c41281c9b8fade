"""Byte counts as people read them, the same in every program's messages."""

from __future__ import annotations


def human_bytes(n: int, *, binary: bool = False) -> str:
    """Return ``25.0 MB`` (decimal units) or, with *binary*, ``23.8 MiB``."""
    step, units = (
        (1024, ("B", "KiB", "MiB", "GiB", "TiB", "PiB")) if binary else (1000, ("B", "KB", "MB", "GB", "TB", "PB"))
    )
    value = float(n)
    for unit in units:
        if value < step or unit == units[-1]:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= step
    raise AssertionError("unreachable")
