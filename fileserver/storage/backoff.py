"""How long to wait before the next try when the server is unreachable: capped exponential, with jitter.

The wait doubles with each consecutive failure up to a cap, so a fileserver notices
a returning server quickly and a dead one is not hammered. The jitter ("equal
jitter": between half and all of the ceiling) spreads the retries of many
fileservers that lost the server at the same moment, without ever retrying in a
tight loop.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    base: float = 0.5
    cap: float = 10.0
    factor: float = 2.0

    def ceiling(self, failures: int) -> float:
        """Return the longest wait after *failures* consecutive failures (1 or more)."""
        exponent = min(max(failures - 1, 0), 64)
        return float(min(self.cap, self.base * self.factor**exponent))

    def delay(self, failures: int, rand: float) -> float:
        """Return the wait after *failures* failures, for a uniform random *rand* in [0, 1)."""
        ceiling = self.ceiling(failures)
        return ceiling / 2 + ceiling / 2 * rand
