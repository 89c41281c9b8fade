"""Keep a dev network running: a process that stops is named and started again after a growing back-off.

``coffer devnet`` is where people watch failover and self-registration, so a
fileserver killed by hand must not take the network down with it: it comes back
by itself and re-registers. A process that keeps dying waits longer each time
(1, 2, 4 … 30 s) instead of spinning; one that stayed up a minute starts over
at 1 s. Only Ctrl-C or SIGTERM (handled by the caller) stop the whole network.

The policy is pure (a clock and a ``say`` are handed in); the processes are
anything with :class:`Supervised`'s shape, :class:`~coffer.devnet.procs.Service` in practice.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


class Supervised(Protocol):
    name: str
    log: Path

    def alive(self) -> bool: ...

    @property
    def returncode(self) -> int | None: ...

    def restart(self) -> object: ...


@dataclass
class Backoff:
    """The wait before each restart: doubling from *first* to *cap*, reset after *steady* seconds of running."""

    first: float = 1.0
    cap: float = 30.0
    steady: float = 60.0
    delay: float = 0.0

    def next(self, ran_for: float) -> float:
        if ran_for >= self.steady:
            self.delay = 0.0
        self.delay = self.first if self.delay == 0.0 else min(self.cap, self.delay * 2)
        return self.delay


def how_it_ended(returncode: int | None) -> str:
    if returncode is None:
        return "for an unknown reason"
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit status {returncode}"


@dataclass
class Watched:
    """One process under watch, and how to tell it is back (it answers, the server lists it live)."""

    proc: Supervised
    ready: Callable[[], bool]
    started: float
    backoff: Backoff
    restart_at: float | None = None
    coming_back: bool = False


class Supervisor:
    """Call :meth:`tick` every half second or so; it restarts what stopped and says what it did."""

    def __init__(
        self,
        procs: list[tuple[Supervised, Callable[[], bool]]],
        say: Callable[[str], None],
        clock: Callable[[], float] = time.monotonic,
        backoff: Callable[[], Backoff] = Backoff,
    ) -> None:
        self._say = say
        self._clock = clock
        now = clock()
        self.watched = [Watched(proc, ready, now, backoff()) for proc, ready in procs]

    def tick(self) -> None:
        now = self._clock()
        for w in self.watched:
            if w.restart_at is None and not w.proc.alive():
                delay = w.backoff.next(now - w.started)
                w.restart_at = now + delay
                w.coming_back = False
                self._say(
                    f"coffer devnet: {w.proc.name} stopped unexpectedly ({how_it_ended(w.proc.returncode)}); "
                    f"starting it again in {delay:.0f} s (its log: {w.proc.log})"
                )
            elif w.restart_at is not None and now >= w.restart_at:
                w.proc.restart()
                w.started, w.restart_at, w.coming_back = now, None, True
                self._say(f"coffer devnet: {w.proc.name} started again")
            elif w.coming_back and w.proc.alive() and w.ready():
                w.coming_back = False
                self._say(f"coffer devnet: {w.proc.name} is back and live")
