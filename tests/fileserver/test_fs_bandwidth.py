"""The token bucket that keeps copies under a link's bandwidth cap, on a fake clock: no sockets, no waiting."""

from __future__ import annotations

import pytest

from coffer.fileserver.agent.bandwidth import Buckets, TokenBucket


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_a_burst_of_one_seconds_bytes_passes_at_once_and_then_the_rate_holds() -> None:
    t = FakeTime()
    bucket = TokenBucket(1000, t.clock, t.sleep)
    assert bucket.take(1000) == 0.0
    assert bucket.take(500) == pytest.approx(0.5)
    for _ in range(10):
        bucket.take(1000)
    assert t.now == pytest.approx(10.5)  # 11,500 bytes at 1,000 B/s after a 1,000-byte burst


def test_idle_time_refills_the_bucket_but_never_past_one_second_of_bytes() -> None:
    t = FakeTime()
    bucket = TokenBucket(1000, t.clock, t.sleep)
    bucket.take(1000)
    t.now += 60.0
    assert bucket.take(1000) == 0.0
    assert bucket.take(1000) == pytest.approx(1.0)


def test_a_chunk_larger_than_the_burst_is_let_through_and_paid_for_by_waiting() -> None:
    t = FakeTime()
    bucket = TokenBucket(1000, t.clock, t.sleep)
    assert bucket.take(8000) == pytest.approx(7.0)


def test_a_new_rate_applies_to_what_follows_without_forgetting_the_debt() -> None:
    t = FakeTime()
    bucket = TokenBucket(1000, t.clock, t.sleep)
    assert bucket.wait_time(3000) == pytest.approx(2.0)
    bucket.set_rate(2000)
    assert bucket.wait_time(0) == pytest.approx(1.0)  # 2,000 bytes owed, now paid at 2,000 B/s


@pytest.mark.parametrize("rate", [0, -1])
def test_a_bucket_needs_a_positive_rate(rate: int) -> None:
    with pytest.raises(ValueError, match="positive rate"):
        TokenBucket(rate)


def test_buckets_keep_one_per_shard_and_none_for_a_shard_without_a_cap() -> None:
    t = FakeTime()
    buckets = Buckets(t.clock, t.sleep)
    assert buckets.take("a", 1000, 3000) == pytest.approx(2.0)
    assert buckets.take("b", 1000, 1000) == 0.0  # its own bucket, full
    assert buckets.take("c", 0, 10**9) == 0.0
    assert buckets.take("a", 0, 10**9) == 0.0  # the cap was lifted
