"""A token bucket: keep the bytes a fileserver fetches for a shard's copies under its link's cap.

An office line shared with people must stay usable while a site catches up. The server
sends each copy order with the cap of the target cluster's link to the shard
(``bandwidth`` in shard-config, bytes per second); the copier asks the bucket before each
chunk it fetches. The bucket lets a burst of one second's bytes through and then waits
out any debt: a chunk larger than the burst is let through at once and paid for after,
so the average over a few chunks is the cap while no chunk is ever refused. Pure: its
clock and sleep are handed in, so it is tested without sockets or waiting.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucket:
    """Hand out bytes at *rate* per second, with a burst of one second's worth."""

    def __init__(
        self,
        rate: int,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if rate <= 0:
            raise ValueError("a token bucket needs a positive rate")
        self._rate = float(rate)
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(rate)
        self._at = clock()
        self._lock = threading.Lock()

    @property
    def rate(self) -> int:
        return int(self._rate)

    def set_rate(self, rate: int) -> None:
        """Take a new cap (the link's bandwidth changed) without forgetting the debt already run up."""
        if rate <= 0:
            raise ValueError("a token bucket needs a positive rate")
        with self._lock:
            self._refill()
            self._rate = float(rate)
            self._tokens = min(self._tokens, self._rate)

    def wait_time(self, size: int) -> float:
        """Take *size* bytes from the bucket and return the seconds to wait before moving them."""
        with self._lock:
            self._refill()
            self._tokens -= size
            return 0.0 if self._tokens >= 0 else -self._tokens / self._rate

    def take(self, size: int) -> float:
        """Take *size* bytes, sleeping as long as the cap requires; return the seconds slept."""
        delay = self.wait_time(size)
        if delay > 0:
            self._sleep(delay)
        return delay

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self._rate, self._tokens + (now - self._at) * self._rate)
        self._at = now


class Buckets:
    """One bucket per shard, its rate the latest cap the server sent; a shard with no cap has none."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep):
        self._clock = clock
        self._sleep = sleep
        self._buckets: dict[str, TokenBucket] = {}

    def take(self, shard: str, rate: int, size: int) -> float:
        """Let *size* bytes of *shard* through at *rate* bytes per second (0: at once); return the seconds slept."""
        if rate <= 0:
            self._buckets.pop(shard, None)
            return 0.0
        bucket = self._buckets.get(shard)
        if bucket is None:
            bucket = self._buckets[shard] = TokenBucket(rate, self._clock, self._sleep)
        elif bucket.rate != rate:
            bucket.set_rate(rate)
        return bucket.take(size)
