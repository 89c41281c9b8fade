"""Many files in one command: several move at once, results come back in the order given, one large at a time."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from coffer.client.batch import OneAtATimeEach, OneLargeAtATime, in_order


class Gauge:
    """Count the moves running together, and the most there were."""

    def __init__(self) -> None:
        self.now = 0
        self.most = 0
        self._lock = threading.Lock()

    def __enter__(self) -> Gauge:
        with self._lock:
            self.now += 1
            self.most = max(self.most, self.now)
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self.now -= 1


def test_results_come_back_in_the_order_given_though_later_files_finish_first() -> None:
    def move(n: int) -> int:
        time.sleep(0.02 * (5 - n))
        return n * 10

    assert list(in_order(range(6), move, at_once=3)) == [0, 10, 20, 30, 40, 50]


def test_no_more_than_at_once_files_move_together_and_they_do_overlap() -> None:
    gauge = Gauge()

    def move(n: int) -> int:
        with gauge:
            time.sleep(0.02)
        return n

    assert list(in_order(range(20), move, at_once=4)) == list(range(20))
    assert gauge.most == 4


def test_the_first_failure_in_order_is_raised_and_nothing_starts_after_it() -> None:
    started: list[int] = []

    def move(n: int) -> int:
        started.append(n)
        if n == 2:
            raise OSError("the disk went away")
        time.sleep(0.01)
        return n

    results: list[int] = []
    with pytest.raises(OSError, match="the disk went away"):
        for result in in_order(range(50), move, at_once=4):
            results.append(result)
    assert results == [0, 1]
    assert max(started) < 2 + 4, "no file is started once the failure is seen"


def test_large_files_take_turns_while_small_ones_overlap() -> None:
    turns = OneLargeAtATime()
    large, small = Gauge(), Gauge()

    def move(n: int) -> int:
        is_large = n % 2 == 0
        with turns.turn(is_large), large if is_large else small:
            time.sleep(0.02)
        return n

    assert list(in_order(range(16), move, at_once=8)) == list(range(16))
    assert large.most == 1
    assert small.most > 1


def test_at_once_below_one_is_refused() -> None:
    with pytest.raises(ValueError):
        list(in_order([1], lambda n: n, at_once=0))


def test_moves_of_one_key_take_turns_while_other_keys_overlap() -> None:
    """The same file listed twice, or two names with one destination, never move together."""
    same = OneAtATimeEach()
    gauges = {Path("a"): Gauge(), Path("b"): Gauge()}
    everyone = Gauge()

    def move(n: int) -> int:
        key = Path("a") if n % 2 else Path("b")
        with same.turn(key), gauges[key], everyone:
            time.sleep(0.02)
        return n

    assert list(in_order(range(12), move, at_once=6)) == list(range(12))
    assert gauges[Path("a")].most == 1 and gauges[Path("b")].most == 1
    assert everyone.most == 2
