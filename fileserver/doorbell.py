"""Where a worker rings the agent when the server nudges this fileserver: copy work waits, beat now.

The server's nudge (:mod:`coffer.protocol.nudges`) arrives at whichever gunicorn worker
accepts it, while the heartbeats are the agent's, in its own process. One anonymous
shared page, created by the master before it forks (like :mod:`.beacon`), holds the
monotonic time of the last verified nudge; the agent compares it with the start of its
last beat. One 8-byte cell, written whole, read whole: no lock is needed, and several
nudges before the agent looks cost one beat.
"""

from __future__ import annotations

import mmap
import time


class Doorbell:
    """The time (``time.monotonic()``, the same clock in every process of the host) of the last nudge; 0: none."""

    def __init__(self) -> None:
        self._map = mmap.mmap(-1, 8)  # MAP_SHARED | MAP_ANONYMOUS: inherited by every child
        self._cells = memoryview(self._map).cast("d")

    def ring(self, now: float | None = None) -> None:
        """Note a verified nudge (a worker calls this)."""
        self._cells[0] = time.monotonic() if now is None else now

    def last(self) -> float:
        return float(self._cells[0])
