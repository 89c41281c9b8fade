"""The arithmetic of rate limits and of login backoff: pure functions of counts and times.

Request limits count requests in fixed windows of one minute. Each key's window
is shifted by an offset derived from the key (CRC-32, so every server instance
computes the same one), so that the windows of many clients do not all turn over
in the same second and send every throttled client back at once. A fixed window
lets a client send up to twice its limit across a window boundary; for limits
meant to stop floods rather than to meter, that is the price of one counter and
one statement per check.

Login failures follow :class:`LoginPolicy`: a few free failures, then a delay
that doubles with each further failure (capped), then a lock. Each attempt is
counted as a failure *before* the password is checked and forgiven if it was
right, so parallel guesses cannot all slip past the check together.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from typing import Literal

MINUTE = 60.0
OFFSET_STEPS = 1000


@dataclass(frozen=True)
class Window:
    """Fixed windows of *seconds*, shifted per key."""

    seconds: float

    def start(self, key: str, now: float) -> float:
        """Return when the window holding *now* began for *key*."""
        offset = (zlib.crc32(key.encode()) % OFFSET_STEPS) * self.seconds / OFFSET_STEPS
        return math.floor((now - offset) / self.seconds) * self.seconds + offset

    def end(self, key: str, now: float) -> float:
        return self.start(key, now) + self.seconds


@dataclass(frozen=True)
class Decision:
    """Whether a request may go ahead and, if not, how many seconds until it may."""

    allowed: bool
    count: int
    retry_after: float = 0.0


@dataclass(frozen=True)
class RateRule:
    """At most *limit* requests per window for each key; 0 lifts the limit."""

    limit: int
    window: Window = Window(MINUTE)

    @property
    def enabled(self) -> bool:
        return self.limit > 0

    def judge(self, key: str, count: int, now: float) -> Decision:
        """Decide on a request that is the *count*-th of its key's current window."""
        if count <= self.limit:
            return Decision(True, count)
        return Decision(False, count, max(self.window.end(key, now) - now, 0.0))


@dataclass(frozen=True)
class Failures:
    """The login failures of one name: how many in a row, the last, and until when it must wait.

    ``blocked_until`` is the earliest time of the next attempt, whether the wait is
    a backoff delay or a lock; ``count`` tells the two apart.
    """

    count: int
    last_at: float
    blocked_until: float | None = None


@dataclass(frozen=True)
class Refusal:
    """An attempt refused before its password was checked."""

    kind: Literal["throttled", "locked"]
    retry_after: float


@dataclass(frozen=True)
class LoginPolicy:
    """How failed logins slow down and then lock a name.

    After ``free_failures`` failures each attempt must wait 1, 2, 4, … seconds
    (at most ``max_delay``) after the previous one; the ``lock_failures``-th
    failure locks the name for ``lock_seconds``, and so does every failure after
    it until a success. Failures older than ``forget_after`` with no lock running
    are forgotten.
    """

    free_failures: int = 5
    lock_failures: int = 20
    lock_seconds: float = 900.0
    max_delay: float = 60.0
    forget_after: float = 86400.0

    def delay(self, failures: int) -> float:
        """Return how long the next attempt must wait after *failures* failures in a row."""
        if failures < self.free_failures:
            return 0.0
        return float(min(self.max_delay, 2.0 ** min(failures - self.free_failures, 62)))

    def locks(self, failures: int) -> bool:
        """Say whether *failures* failures in a row lock the name (0 ``lock_failures``: never)."""
        return 0 < self.lock_failures <= failures

    def current(self, state: Failures | None, now: float) -> Failures | None:
        """Return *state*, or None once it is old enough to forget."""
        if state is None:
            return None
        running = state.blocked_until is not None and state.blocked_until > now
        return state if running or now - state.last_at < self.forget_after else None

    def attempt(self, state: Failures | None, now: float) -> tuple[Failures | None, Refusal | None]:
        """Decide on a login attempt: refuse it, or let it go ahead counted as one more failure.

        Returns the state to store and the refusal, if any. A refused attempt
        changes nothing, so hammering a locked name does not extend its lock.
        """
        state = self.current(state, now)
        if state is not None and state.blocked_until is not None and state.blocked_until > now:
            kind: Literal["throttled", "locked"] = "locked" if self.locks(state.count) else "throttled"
            return state, Refusal(kind, state.blocked_until - now)
        count = (state.count if state else 0) + 1
        wait = self.lock_seconds if self.locks(count) else self.delay(count)
        return Failures(count, now, now + wait if wait > 0 else None), None
