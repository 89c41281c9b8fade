"""When the agent last heard the server accept this fileserver, shared with every worker for the readiness probe.

The agent registers and heartbeats in its own process; the workers answer
``/api/ready``. One anonymous shared page, created by the master before it forks
(like :mod:`.counters`), holds the time of the agent's last good round with the
server; a worker reads it. One 8-byte cell, written whole by one process, read by
others: no lock is needed.
"""

from __future__ import annotations

import mmap
import time
from collections.abc import Callable


class Beacon:
    """The time of the last registration or heartbeat the server accepted (0: none yet)."""

    def __init__(self) -> None:
        self._map = mmap.mmap(-1, 8)  # MAP_SHARED | MAP_ANONYMOUS: inherited by every child
        self._cells = memoryview(self._map).cast("d")

    def mark(self, now: float | None = None) -> None:
        """Note a round the server accepted (the agent calls this)."""
        self._cells[0] = time.time() if now is None else now

    def clear(self) -> None:
        """Forget it: the server refused this fileserver, which must register again."""
        self._cells[0] = 0.0

    def last(self) -> float:
        return float(self._cells[0])

    def fresh(self, max_age: float, clock: Callable[[], float] = time.time) -> bool:
        """Say whether the server accepted this fileserver within the last *max_age* seconds."""
        last = self.last()
        return last > 0 and clock() - last <= max_age
