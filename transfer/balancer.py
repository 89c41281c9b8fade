"""Pick the fileserver for the next chunk: spread the load, learn who is fast, step around who fails.

The server hands a transfer (a client's, or a fileserver's copying chunks) the
live fileservers of a shard with the load each last reported (``active_transfers``,
``bytes_per_s``, ``free_bytes``); that is seconds old by the time a chunk moves. So
the :class:`Balancer` mostly trusts what this process sees for itself:

- its own requests in flight per fileserver;
- an EWMA of the throughput it measured per fileserver (bytes over seconds of
  each finished request).

The next chunk goes where it is expected to finish first: ``(in flight + 1) /
throughput``, the throughput of a fileserver not measured yet being the mean of
those measured (or a default before any is). Ties, which is every choice before
the first measurement, go to the lower reported load, then to a fixed random
rank, so a single file is spread round-robin over every live fileserver from its
first chunks and many clients do not all start on the same one.

A fileserver that fails is put in cooldown, exponential in its consecutive
failures and capped; it is skipped while any other candidate is healthy. A
success ends the cooldown. A fileserver that answers "busy" (429, at its transfer
limit) is not failing: it rests for the ``Retry-After`` it asked for (capped) and
its failure count is left alone.

Pure: no sockets, no clock or randomness it was not given. Thread-safe, since
the transfer workers report to it concurrently.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import TypeVar

from coffer.protocol.api.tickets import LiveFileserver

from .errors import FileserverBusy, FileserverUnavailable

T = TypeVar("T")

DEFAULT_THROUGHPUT = 50e6
"""Bytes per second assumed for a fileserver before anything has been measured."""
EWMA_WEIGHT = 0.3
COOLDOWN_BASE = 1.0
COOLDOWN_CAP = 30.0


@dataclass(frozen=True)
class FileserverInfo:
    """A live fileserver as the server listed it, with the load it last reported."""

    id: str
    url: str
    active_transfers: int = 0
    bytes_per_s: int = 0
    free_bytes: int | None = None
    cluster: str | None = None
    """Its cluster, the site it stands in (None from a server older than sites)."""

    @classmethod
    def of(cls, listed: LiveFileserver) -> FileserverInfo:
        """Take a fileserver as the server listed it (its URL without a trailing slash)."""
        url = listed.url.rstrip("/")
        return cls(listed.id, url, listed.active_transfers, listed.bytes_per_s, listed.free_bytes, listed.cluster)


@dataclass
class _Observed:
    info: FileserverInfo
    rank: float
    in_flight: int = 0
    throughput: float | None = None
    failures: int = 0
    cooldown_until: float = 0.0


class Balancer:
    """Choose fileservers for chunks; be told how each transfer went.

    ``need_bytes`` (the chunk size, for uploads) sends chunks elsewhere while a
    fileserver reports less free space than that, unless it is the only choice.
    """

    def __init__(
        self,
        servers: Iterable[FileserverInfo],
        *,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        need_bytes: int = 0,
        default_throughput: float = DEFAULT_THROUGHPUT,
        ewma_weight: float = EWMA_WEIGHT,
        cooldown_base: float = COOLDOWN_BASE,
        cooldown_cap: float = COOLDOWN_CAP,
    ):
        self._clock = clock
        self._rng = rng or random.Random()
        self._need = need_bytes
        self._default = default_throughput
        self._weight = ewma_weight
        self._base = cooldown_base
        self._cap = cooldown_cap
        self._lock = threading.Lock()
        self._fs: dict[str, _Observed] = {}
        self.update(servers)

    def update(self, servers: Iterable[FileserverInfo]) -> None:
        """Take a fresh live list: keep what we learnt of those still in it, forget the others."""
        with self._lock:
            fresh: dict[str, _Observed] = {}
            for info in servers:
                known = self._fs.get(info.id)
                if known is None:
                    fresh[info.id] = _Observed(info, self._rng.random())
                else:
                    known.info = info
                    fresh[info.id] = known
            self._fs = fresh

    def servers(self) -> list[FileserverInfo]:
        with self._lock:
            return [o.info for o in self._fs.values()]

    def get(self, fs_id: str) -> FileserverInfo | None:
        with self._lock:
            known = self._fs.get(fs_id)
            return known.info if known else None

    def choose(self, among: Collection[str] | None = None, exclude: Collection[str] = ()) -> FileserverInfo | None:
        """Return the fileserver expected to finish a chunk first, or None if no candidate is left.

        Candidates are the known fileservers (only those in *among*, if given) not in
        *exclude*. Healthy ones with room come first; when every candidate is cooling
        down, the one whose cooldown ends first is returned (see :meth:`all_cooling`).
        """
        with self._lock:
            now = self._clock()
            candidates = [
                o for o in self._fs.values() if (among is None or o.info.id in among) and o.info.id not in exclude
            ]
            if not candidates:
                return None
            healthy = [o for o in candidates if o.cooldown_until <= now]
            if not healthy:
                return min(candidates, key=lambda o: (o.cooldown_until, o.rank)).info
            roomy = [o for o in healthy if o.info.free_bytes is None or o.info.free_bytes >= self._need]
            mean = self._mean_throughput()
            return min(roomy or healthy, key=lambda o: self._score(o, mean)).info

    def all_cooling(self, among: Collection[str] | None = None, exclude: Collection[str] = ()) -> bool:
        """Say whether every candidate (as :meth:`choose` counts them) is in cooldown, or there is none."""
        with self._lock:
            now = self._clock()
            return all(
                o.cooldown_until > now
                for o in self._fs.values()
                if (among is None or o.info.id in among) and o.info.id not in exclude
            )

    def started(self, fs_id: str) -> None:
        with self._lock:
            if (o := self._fs.get(fs_id)) is not None:
                o.in_flight += 1

    def finished(self, fs_id: str, nbytes: int, seconds: float) -> None:
        """Record a transfer that succeeded: update the throughput estimate and end any cooldown."""
        with self._lock:
            if (o := self._fs.get(fs_id)) is None:
                return
            o.in_flight = max(0, o.in_flight - 1)
            o.failures = 0
            o.cooldown_until = 0.0
            if nbytes > 0 and seconds > 0:
                rate = nbytes / seconds
                o.throughput = rate if o.throughput is None else self._weight * rate + (1 - self._weight) * o.throughput

    def failed(self, fs_id: str) -> None:
        """Record a transfer that failed: cool the fileserver down, longer at each failure in a row."""
        with self._lock:
            if (o := self._fs.get(fs_id)) is None:
                return
            o.in_flight = max(0, o.in_flight - 1)
            o.failures += 1
            o.cooldown_until = self._clock() + self.cooldown(o.failures)

    def busy(self, fs_id: str, retry_after: float | None) -> None:
        """Record a "busy" answer: rest the fileserver for the time it asked (capped), without counting a failure."""
        with self._lock:
            if (o := self._fs.get(fs_id)) is None:
                return
            o.in_flight = max(0, o.in_flight - 1)
            rest = min(self._cap, max(0.0, retry_after if retry_after is not None else self._base))
            o.cooldown_until = max(o.cooldown_until, self._clock() + rest)

    def ready_in(self, among: Collection[str] | None = None, exclude: Collection[str] = ()) -> float:
        """Return the seconds until the first candidate (as :meth:`choose` counts them) ends its cooldown."""
        with self._lock:
            now = self._clock()
            ends = [
                o.cooldown_until
                for o in self._fs.values()
                if (among is None or o.info.id in among) and o.info.id not in exclude
            ]
            return max(0.0, min(ends) - now) if ends else 0.0

    def attempt(self, fs_id: str, call: Callable[[], T], nbytes: Callable[[T], int]) -> T:
        """Make one request to *fs_id* and keep the books: in flight while it runs, then finished or not.

        A :class:`~coffer.transfer.errors.FileserverUnavailable` counts against the fileserver
        (cooldown); any other error says nothing about it and only ends the request.
        """
        self.started(fs_id)
        began = self._clock()
        try:
            result = call()
        except FileserverBusy as exc:
            self.busy(fs_id, exc.retry_after)
            raise
        except FileserverUnavailable:
            self.failed(fs_id)
            raise
        except BaseException:
            self.released(fs_id)
            raise
        self.finished(fs_id, nbytes(result), self._clock() - began)
        return result

    def released(self, fs_id: str) -> None:
        """Record a transfer that ended saying nothing about the fileserver (a 404, a bad ticket)."""
        with self._lock:
            if (o := self._fs.get(fs_id)) is not None:
                o.in_flight = max(0, o.in_flight - 1)

    def cooldown(self, failures: int) -> float:
        """Return how long a fileserver rests after *failures* failures in a row."""
        return float(min(self._cap, self._base * 2 ** max(0, failures - 1)))

    def throughput(self, fs_id: str) -> float | None:
        """Return the measured throughput of a fileserver in bytes per second, if any."""
        with self._lock:
            o = self._fs.get(fs_id)
            return o.throughput if o else None

    def _mean_throughput(self) -> float:
        measured = [o.throughput for o in self._fs.values() if o.throughput is not None]
        return sum(measured) / len(measured) if measured else self._default

    def _score(self, o: _Observed, mean: float) -> tuple[float, int, int, float]:
        throughput = o.throughput if o.throughput is not None else mean
        return ((o.in_flight + 1) / throughput, o.info.active_transfers, o.info.bytes_per_s, o.rank)


def backoff_delay(attempt: int, rng: random.Random, base: float = 0.2, cap: float = 5.0) -> float:
    """Return the pause before retry *attempt* (1, 2, ...): capped exponential with equal jitter."""
    ceiling: float = min(cap, base * 2.0 ** max(0, attempt - 1))
    return ceiling / 2 + rng.uniform(0, ceiling / 2)
