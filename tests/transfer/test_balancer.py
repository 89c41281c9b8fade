"""The balancer: spread chunks over every live fileserver, prefer the fast, step around the failing."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coffer.protocol.api.tickets import LiveFileserver
from coffer.transfer.balancer import Balancer, FileserverInfo, backoff_delay
from coffer.transfer.errors import FileserverBusy, FileserverUnavailable

NOW = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def servers(n: int, **load: Any) -> list[FileserverInfo]:
    return [FileserverInfo(f"fs{i}", f"http://127.0.0.1:{9000 + i}", **load) for i in range(n)]


def balancer(n: int = 3, clock: Clock | None = None, seed: int = 1, **kwargs: object) -> Balancer:
    return Balancer(servers(n), clock=clock or Clock(), rng=random.Random(seed), **kwargs)  # type: ignore[arg-type]


def test_a_single_file_is_spread_over_every_fileserver_before_any_measurement() -> None:
    b = balancer(3)
    picks = []
    for _ in range(6):
        fs = b.choose()
        assert fs is not None
        b.started(fs.id)
        picks.append(fs.id)
    assert Counter(picks) == {"fs0": 2, "fs1": 2, "fs2": 2}


def test_choices_are_deterministic_given_the_random_seed() -> None:
    def run(seed: int) -> list[str]:
        b = balancer(4, seed=seed)
        out = []
        for _ in range(8):
            fs = b.choose()
            assert fs is not None
            b.started(fs.id)
            out.append(fs.id)
        return out

    assert run(7) == run(7)
    assert sorted(run(7)) == sorted(run(8))


def test_reported_load_breaks_ties_before_we_have_observations() -> None:
    listed = [
        FileserverInfo("busy", "http://a", active_transfers=9),
        FileserverInfo("idle", "http://b", active_transfers=0),
    ]
    for seed in range(10):
        b = Balancer(listed, clock=Clock(), rng=random.Random(seed))
        chosen = b.choose()
        assert chosen is not None and chosen.id == "idle"


def test_the_faster_fileserver_gets_more_chunks_in_flight() -> None:
    b = balancer(2)
    b.started("fs0")
    b.finished("fs0", 100_000_000, 1.0)  # 100 MB/s
    b.started("fs1")
    b.finished("fs1", 10_000_000, 1.0)  # 10 MB/s
    picks = []
    for _ in range(11):
        fs = b.choose()
        assert fs is not None
        b.started(fs.id)
        picks.append(fs.id)
    counts = Counter(picks)
    assert counts["fs0"] == 10 and counts["fs1"] == 1  # (n+1)/100 < 1/10 until n reaches 10


def test_an_unmeasured_fileserver_is_assumed_as_fast_as_the_mean() -> None:
    b = balancer(2)
    b.started("fs0")
    b.finished("fs0", 50_000_000, 1.0)
    b.started("fs0")
    fs = b.choose()
    assert fs is not None and fs.id == "fs1"
    assert b.throughput("fs0") == 50_000_000 and b.throughput("fs1") is None


def test_throughput_is_an_exponentially_weighted_average() -> None:
    b = balancer(1, ewma_weight=0.5)
    b.started("fs0")
    b.finished("fs0", 100, 1.0)
    b.started("fs0")
    b.finished("fs0", 300, 1.0)
    assert b.throughput("fs0") == 200


def test_a_failed_fileserver_cools_down_and_is_skipped_while_others_are_healthy() -> None:
    clock = Clock()
    b = balancer(2, clock=clock, cooldown_base=1.0, cooldown_cap=8.0)
    b.started("fs0")
    b.failed("fs0")
    for _ in range(5):
        fs = b.choose()
        assert fs is not None and fs.id == "fs1"
        b.started("fs1")
    assert not b.all_cooling()
    clock.now += 1.01
    assert b.choose() is not None and b.choose().id == "fs0"  # type: ignore[union-attr]


def test_cooldown_grows_exponentially_is_capped_and_ends_on_success() -> None:
    clock = Clock()
    b = balancer(1, clock=clock, cooldown_base=1.0, cooldown_cap=8.0)
    assert [b.cooldown(n) for n in range(1, 7)] == [1, 2, 4, 8, 8, 8]
    for _ in range(3):
        b.started("fs0")
        b.failed("fs0")
    assert b.all_cooling()
    clock.now += 3.9
    assert b.all_cooling()
    clock.now += 0.2
    assert not b.all_cooling()
    b.started("fs0")
    b.finished("fs0", 1, 1.0)
    b.started("fs0")
    b.failed("fs0")
    clock.now += 1.01
    assert not b.all_cooling(), "a success resets the failure count"


def test_when_every_candidate_cools_the_one_recovering_first_is_offered() -> None:
    clock = Clock()
    b = balancer(2, clock=clock)
    for _ in range(3):
        b.started("fs0")
        b.failed("fs0")
    b.started("fs1")
    b.failed("fs1")
    assert b.all_cooling()
    fs = b.choose()
    assert fs is not None and fs.id == "fs1"


def test_among_and_exclude_limit_the_candidates() -> None:
    b = balancer(3)
    fs = b.choose(among={"fs2"})
    assert fs is not None and fs.id == "fs2"
    fs = b.choose(exclude={"fs0", "fs1"})
    assert fs is not None and fs.id == "fs2"
    assert b.choose(among={"fs1"}, exclude={"fs1"}) is None
    assert b.choose(among={"unknown"}) is None
    assert b.all_cooling(among=set()), "no candidate counts as all cooling: the caller refreshes the list"


def test_a_fileserver_without_room_for_the_chunk_is_a_last_resort() -> None:
    listed = [
        FileserverInfo("full", "http://a", free_bytes=100),
        FileserverInfo("roomy", "http://b", free_bytes=10_000_000),
    ]
    b = Balancer(listed, clock=Clock(), rng=random.Random(3), need_bytes=1_000_000)
    for _ in range(4):
        fs = b.choose()
        assert fs is not None and fs.id == "roomy"
        b.started(fs.id)
    fs = b.choose(exclude={"roomy"})
    assert fs is not None and fs.id == "full"


def test_a_new_live_list_keeps_what_was_learnt_and_drops_the_gone() -> None:
    clock = Clock()
    b = balancer(2, clock=clock)
    b.started("fs0")
    b.failed("fs0")
    b.update([servers(3)[0], servers(3)[2]])
    assert {s.id for s in b.servers()} == {"fs0", "fs2"}
    fs = b.choose()
    assert fs is not None and fs.id == "fs2", "fs0 is still cooling after the update"
    b.started("fs1")  # a fileserver that left the list is ignored, not an error
    b.finished("fs1", 1, 1.0)
    assert b.get("fs1") is None


def test_in_flight_counts_never_go_negative() -> None:
    b = balancer(1)
    b.released("fs0")
    b.failed("fs0")
    b.finished("fs0", 0, 0.0)
    b.started("fs0")
    fs = b.choose()
    assert fs is not None


@given(st.integers(min_value=1, max_value=60), st.integers(min_value=0, max_value=2**32))
def test_backoff_is_jittered_between_half_and_all_of_a_capped_exponential(attempt: int, seed: int) -> None:
    delay = backoff_delay(attempt, random.Random(seed), base=0.2, cap=5.0)
    ceiling = min(5.0, 0.2 * 2 ** (attempt - 1))
    assert ceiling / 2 <= delay <= ceiling


def test_a_listed_fileserver_becomes_the_balancers_view_of_it() -> None:
    listed = {
        "id": "x",
        "url": "http://h:1/",
        "active_transfers": 2,
        "bytes_per_s": 5,
        "free_bytes": None,
        "last_seen": 1,
    }
    info = FileserverInfo.of(LiveFileserver.parse(listed))
    assert info == FileserverInfo("x", "http://h:1", 2, 5, None)


def test_an_attempt_that_fails_cools_the_fileserver_down_and_passes_the_error_on() -> None:
    b = balancer(1)

    def outage() -> bytes:
        raise FileserverUnavailable("down")

    with pytest.raises(FileserverUnavailable):
        b.attempt("fs0", outage, len)
    assert b.all_cooling()


def test_an_attempt_refused_for_another_reason_only_ends_the_request() -> None:
    b = balancer(1)

    def refused() -> bytes:
        raise KeyError("a bad ticket, say")

    for _ in range(3):
        with pytest.raises(KeyError):
            b.attempt("fs0", refused, len)
    assert not b.all_cooling()
    assert b.choose() is not None


def test_a_successful_attempt_returns_its_result_and_ends_a_cooldown() -> None:
    clock = Clock()
    b = balancer(1, clock=clock)

    def outage() -> bytes:
        raise FileserverUnavailable("down")

    try:
        b.attempt("fs0", outage, len)
    except FileserverUnavailable:
        pass
    assert b.all_cooling()

    def fetch() -> bytes:
        clock.now += 0.5
        return b"x" * 1000

    assert b.attempt("fs0", fetch, len) == b"x" * 1000
    assert not b.all_cooling()


def test_a_busy_fileserver_rests_for_its_retry_after_without_counting_a_failure() -> None:
    clock = [NOW]
    balancer = Balancer([FileserverInfo("a", "http://a"), FileserverInfo("b", "http://b")], clock=lambda: clock[0])

    def refuse() -> int:
        raise FileserverBusy("busy", retry_after=4)

    with pytest.raises(FileserverBusy):
        balancer.attempt("a", refuse, lambda n: n)
    assert balancer.choose().id == "b"  # type: ignore[union-attr]
    assert balancer.ready_in(exclude={"b"}) == 4.0
    clock[0] += 4
    assert balancer.ready_in(exclude={"b"}) == 0.0
    balancer.failed("a")
    assert balancer.ready_in(exclude={"b"}) == balancer.cooldown(1), "the busy answer did not count as a failure"
