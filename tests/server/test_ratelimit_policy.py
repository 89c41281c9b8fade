"""The arithmetic of rate limits and login backoff (pure: no store, no clock of its own)."""

from __future__ import annotations

import zlib

from hypothesis import given
from hypothesis import strategies as st

from coffer.server.ratelimit.policy import Failures, LoginPolicy, RateRule, Window

NOW = 1_800_000_000.0


@given(key=st.text(max_size=40), now=st.floats(min_value=0, max_value=4e9), seconds=st.sampled_from([1.0, 60.0, 900.0]))
def test_a_window_holds_now_and_lasts_its_length(key: str, now: float, seconds: float) -> None:
    start = Window(seconds).start(key, now)
    assert start <= now < start + seconds + 1e-6
    assert Window(seconds).end(key, now) == start + seconds


def test_windows_of_different_keys_turn_over_at_different_times() -> None:
    window = Window(60.0)
    starts = {window.start(f"address:10.0.0.{n}", NOW) % 60 for n in range(50)}
    assert len(starts) > 40


def test_a_keys_window_offset_comes_from_crc32_so_every_server_instance_agrees() -> None:
    # Not hash(): Python randomises str hashes per process, and instances must share windows.
    key = "address:127.0.0.1"
    offset = (zlib.crc32(key.encode()) % 1000) * 60 / 1000
    start = Window(60.0).start(key, NOW)
    assert round((start - offset) % 60, 6) in (0, 60)


def test_a_rule_allows_up_to_its_limit_then_says_when_the_window_ends() -> None:
    rule = RateRule(3)
    assert all(rule.judge("k", n, NOW).allowed for n in (1, 2, 3))
    refused = rule.judge("k", 4, NOW)
    assert not refused.allowed
    assert refused.retry_after == rule.window.end("k", NOW) - NOW
    assert 0 < refused.retry_after <= 60


def test_a_limit_of_zero_is_no_limit() -> None:
    assert not RateRule(0).enabled and RateRule(1).enabled


def test_the_login_delay_is_free_then_doubles_up_to_its_cap() -> None:
    policy = LoginPolicy(free_failures=3, max_delay=10)
    assert [policy.delay(n) for n in range(9)] == [0, 0, 0, 1, 2, 4, 8, 10, 10]
    assert policy.delay(10_000) == 10


def test_attempts_are_counted_before_the_check_and_free_ones_leave_no_wait() -> None:
    policy = LoginPolicy(free_failures=2, lock_failures=5)
    state, refusal = policy.attempt(None, NOW)
    assert refusal is None and state == Failures(1, NOW, None)
    state, refusal = policy.attempt(state, NOW)
    assert refusal is None and state == Failures(2, NOW, NOW + 1)


def test_an_attempt_inside_the_delay_is_throttled_and_changes_nothing() -> None:
    policy = LoginPolicy(free_failures=2, lock_failures=5)
    waiting = Failures(3, NOW, NOW + 2)
    state, refusal = policy.attempt(waiting, NOW + 0.5)
    assert state == waiting
    assert refusal is not None and refusal.kind == "throttled" and refusal.retry_after == 1.5


def test_the_lock_failure_locks_for_the_lock_time_and_each_later_failure_again() -> None:
    policy = LoginPolicy(free_failures=2, lock_failures=5, lock_seconds=900)
    state, refusal = policy.attempt(Failures(4, NOW, NOW + 4), NOW + 4)
    assert refusal is None and state == Failures(5, NOW + 4, NOW + 904)
    assert policy.locks(5)
    _, refusal = policy.attempt(state, NOW + 100)
    assert refusal is not None and refusal.kind == "locked" and refusal.retry_after == 804
    state, refusal = policy.attempt(state, NOW + 904)
    assert refusal is None and state == Failures(6, NOW + 904, NOW + 1804)


def test_old_failures_are_forgotten_but_never_while_locked() -> None:
    policy = LoginPolicy(forget_after=3600)
    assert policy.current(Failures(4, NOW, None), NOW + 3600) is None
    assert policy.current(Failures(4, NOW, None), NOW + 3599) is not None
    locked = Failures(30, NOW, NOW + 7200)
    assert policy.current(locked, NOW + 3600) == locked


def test_a_lock_count_of_zero_never_locks() -> None:
    policy = LoginPolicy(free_failures=1, lock_failures=0, max_delay=5)
    state = None
    for _ in range(50):
        state, _ = policy.attempt(state, state.blocked_until if state and state.blocked_until else NOW)
    assert state is not None and state.count == 50 and not policy.locks(50)
    assert state.blocked_until == state.last_at + 5
