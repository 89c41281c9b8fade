"""Transfer counters shared by every gunicorn worker and read by the agent for its heartbeats.

One anonymous shared memory map, created in the gunicorn master before it forks,
so every worker and the agent see the same pages. It holds one slot per worker;
a worker writes only its own slot (its threads take a lock among themselves), so
no lock is ever shared between processes and a worker killed mid-update cannot
block anyone. The agent sums the slots. Each slot holds four 64-bit integers:

    pid       the worker owning the slot (0: free)
    active    transfers in progress now
    bytes     bytes moved since the slot was first used (monotonic, never reset)
    created   chunks created since the slot was first used (monotonic)

The table also holds the cap on concurrent transfers (``max_active``, from the
``max_transfers`` setting): a worker admits a new transfer only while the sum of
the ``active`` cells is below it. The check and the later increment are not one
atomic step across processes, so under a burst the cap can be passed by at most
one transfer per worker; it is a guard against overload, not an exact quota.

The master assigns a slot before forking a worker and clears its ``active`` when
the worker exits (its transfers died with it); ``bytes`` and ``created`` stay, so
the totals the agent turns into rates never run backwards.
"""

from __future__ import annotations

import mmap
import threading
from dataclasses import dataclass

FIELDS = 4
PID, ACTIVE, BYTES, CREATED = range(FIELDS)
DEFAULT_SLOTS = 256


@dataclass(frozen=True)
class Totals:
    active: int
    bytes: int
    created: int


class SharedCounters:
    """The table of all slots. Create it before forking; it is inherited, not copied."""

    def __init__(self, slots: int = DEFAULT_SLOTS, *, max_active: int = 0):
        self.slots = slots
        self.max_active = max_active
        """Transfers this fileserver runs at once, all workers together; 0: no cap."""
        self._map = mmap.mmap(-1, slots * FIELDS * 8)  # MAP_SHARED | MAP_ANONYMOUS
        self._cells = memoryview(self._map).cast("q")
        self._owners: dict[int, object] = {}

    def slot(self, index: int) -> SlotCounters:
        """Return the writer for slot *index*; only one process may write a slot."""
        if not 0 <= index < self.slots:
            raise IndexError(f"slot {index} is outside 0..{self.slots - 1}")
        return SlotCounters(self, index)

    def active(self) -> int:
        """Return the transfers in progress now, all workers together (cheaper than :meth:`totals`)."""
        cells = self._cells
        return sum(max(cells[i * FIELDS + ACTIVE], 0) for i in range(self.slots))

    def totals(self) -> Totals:
        """Sum every slot (the agent's view)."""
        cells = self._cells
        active = sum(max(cells[i * FIELDS + ACTIVE], 0) for i in range(self.slots))
        moved = sum(cells[i * FIELDS + BYTES] for i in range(self.slots))
        created = sum(cells[i * FIELDS + CREATED] for i in range(self.slots))
        return Totals(active=active, bytes=moved, created=created)

    # -- slot bookkeeping, done by the gunicorn master only ---------------------------------

    def assign(self, owner: object) -> int | None:
        """Reserve a free slot for a worker about to be forked; None if all are taken."""
        for index in range(self.slots):
            if index not in self._owners:
                self._owners[index] = owner
                return index
        return None

    def release(self, index: int | None) -> None:
        """Free a dead worker's slot; its transfers ended with it, its byte count stays."""
        if index is None:
            return
        self._owners.pop(index, None)
        self._cells[index * FIELDS + ACTIVE] = 0
        self._cells[index * FIELDS + PID] = 0

    def _cell(self, index: int, field: int) -> int:
        return int(self._cells[index * FIELDS + field])

    def _set(self, index: int, field: int, value: int) -> None:
        self._cells[index * FIELDS + field] = value


class SlotCounters:
    """One worker's counters; its threads update them under a lock of this process alone."""

    def __init__(self, table: SharedCounters, index: int):
        self._table = table
        self._index = index
        self._lock = threading.Lock()

    def claim(self, pid: int) -> None:
        """Take the slot for worker *pid* (called in the worker after fork)."""
        with self._lock:
            self._table._set(self._index, PID, pid)
            self._table._set(self._index, ACTIVE, 0)

    def begin(self) -> None:
        self._add(ACTIVE, 1)

    def full(self) -> bool:
        """Say whether the fileserver already runs its maximum of transfers (never, without a cap)."""
        cap = self._table.max_active
        return cap > 0 and self._table.active() >= cap

    def end(self) -> None:
        self._add(ACTIVE, -1)

    def moved(self, count: int) -> None:
        self._add(BYTES, count)

    def created(self) -> None:
        self._add(CREATED, 1)

    def _add(self, field: int, delta: int) -> None:
        with self._lock:
            self._table._set(self._index, field, self._table._cell(self._index, field) + delta)


def private_counters(max_active: int = 0) -> SlotCounters:
    """Return counters nobody else reads: for in-process tests and single-process use."""
    return SharedCounters(slots=1, max_active=max_active).slot(0)
