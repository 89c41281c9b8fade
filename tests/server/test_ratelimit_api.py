"""Rate limits and login brute-force protection through the API, with a clock the test moves (no sleeping)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import falcon.testing
import pytest

from coffer.protocol import settings as settings_loader
from coffer.protocol.encoding import b64encode
from coffer.server.api.base import Context
from coffer.server.domain import audit
from coffer.server.proxies import TrustedProxies
from coffer.server.settings import ServerSettings
from tests.redis_server import redis_space

from .conftest import Harness

WRONG = b64encode(b"x" * 32)
LOGIN_LIMITS = {"login_free_failures": 3, "login_lock_failures": 6, "login_lock_seconds": 600.0}


@pytest.fixture
def make(database_url: str) -> Iterator[Any]:
    """Build harnesses with the settings a test needs; close them all at the end."""
    made: list[Harness] = []

    def build(**settings: Any) -> Harness:
        made.append(Harness(database_url, **settings))
        return made[-1]

    yield build
    for h in made:
        h.db.close()


def login(h: Harness, name: str, auth_key: str | None = None, **kw: Any) -> falcon.testing.Result:
    key = auth_key if auth_key is not None else b64encode(h._auth_keys[name])
    return h.call("POST", "/api/auth/login", {"username": name, "auth_key": key}, **kw)


def retry_after(result: falcon.testing.Result) -> int:
    header = int(result.headers["Retry-After"])
    assert header == result.json["retry_after"], "the header and the body agree"
    return header


def logins(h: Harness, name: str) -> list[str]:
    """The outcome of every login the audit log knows of, a counted refusal once per time it happened."""
    events = [e for e in audit.query(h.db, user=name) if e.action == "login"]
    return [e.outcome for e in events for _ in range(1 + e.detail.get("repeats", 0))]


def audit_rows(h: Harness) -> int:
    with h.db.transaction(readonly=True) as tx:
        row = tx.one("SELECT COUNT(*) AS n FROM audit_log")
    assert row is not None
    return int(row["n"])


# -- logins -------------------------------------------------------------------------------------


def test_after_the_free_failures_each_login_waits_a_growing_delay(make: Any) -> None:
    h = make(**LOGIN_LIMITS)
    h.make_user("alice")
    assert [login(h, "alice", WRONG).status_code for _ in range(3)] == [401, 401, 401]
    for delay in (1, 2, 4):
        early = login(h, "alice", WRONG)
        assert (early.status_code, early.json["error"]) == (429, "login_throttled")
        assert retry_after(early) == delay
        h.clock.now += delay
        assert login(h, "alice", WRONG).status_code == 401


def test_the_throttled_answer_does_not_tell_a_right_password_or_a_real_user(make: Any) -> None:
    h = make(**LOGIN_LIMITS)
    h.make_user("alice")
    for name in ("alice", "nobody"):
        for _ in range(3):
            assert login(h, name, WRONG).status_code == 401
    right = login(h, "alice")
    wrong = login(h, "alice", WRONG)
    stranger = login(h, "nobody", WRONG)
    assert right.status_code == wrong.status_code == stranger.status_code == 429
    assert right.json == wrong.json == stranger.json
    assert right.headers["Retry-After"] == stranger.headers["Retry-After"]


def test_the_lock_failure_locks_the_name_audits_it_and_the_lock_expires(make: Any) -> None:
    h = make(**LOGIN_LIMITS)
    h.make_user("alice")
    for _ in range(6):
        assert login(h, "alice", WRONG).status_code == 401
        h.clock.now += 60  # past every delay
    locked = login(h, "alice")
    assert (locked.status_code, locked.json["error"]) == (429, "login_locked")
    assert retry_after(locked) == 600 - 60
    assert "locked" in locked.json["message"] and "alice" not in locked.json["message"]
    outcomes = logins(h, "alice")
    assert outcomes[-2:] == ["locked", "locked"], "the locking failure and the refused attempt"
    assert outcomes.count("failed") == 5
    h.clock.now += 600
    assert login(h, "alice").status_code == 200
    assert logins(h, "alice")[-1] == "ok"


def test_a_success_resets_the_names_failures(make: Any) -> None:
    h = make(**LOGIN_LIMITS)
    h.make_user("alice")
    for _ in range(2):
        assert login(h, "alice", WRONG).status_code == 401
    assert login(h, "alice").status_code == 200
    assert [login(h, "alice", WRONG).status_code for _ in range(3)] == [401, 401, 401], "three free failures again"


def test_parallel_guesses_cannot_share_a_free_attempt(make: Any) -> None:
    """An attempt is counted before its password is checked, so a guess in flight blocks the next one."""
    h = make(**LOGIN_LIMITS)
    h.make_user("alice")
    for _ in range(3):
        login(h, "alice", WRONG)
    h.clock.now += 1
    # Another worker's request: an attempt begun (its password being checked) and not finished.
    ctx = Context(settings=h.settings, db=h.db, keys=h.keys, clock=h.clock)
    pending = ctx.limiter.login.begin("alice", "10.1.1.1", h.clock())
    assert pending.failures == 4
    assert login(h, "alice").status_code == 429, "even the right password waits for the guess in flight"


def test_one_address_failing_on_many_names_is_locked_out(make: Any) -> None:
    h = make(login_address_failures=4, login_lock_seconds=600.0)
    h.make_user("alice")
    for n in range(4):
        assert login(h, f"guess{n}", WRONG, remote_addr="10.0.0.66").status_code == 401
    refused = login(h, "alice", remote_addr="10.0.0.66")
    assert (refused.status_code, refused.json["error"]) == (429, "login_locked")
    assert 0 < retry_after(refused) <= 600
    assert login(h, "alice", remote_addr="10.0.0.7").status_code == 200, "other addresses are not affected"
    address_events = [e for e in audit.query(h.db) if e.action == "login" and e.address == "10.0.0.66"]
    assert any(e.outcome == "locked" and e.detail["scope"] == "address" for e in address_events)


def test_successful_logins_from_one_address_do_not_count_against_it(make: Any) -> None:
    h = make(login_address_failures=3)
    h.make_user("alice")
    for _ in range(10):
        assert login(h, "alice").status_code == 200


def test_login_and_logout_are_audited_with_the_address(make: Any) -> None:
    h = make()
    token = h.make_user("alice")
    h.clock.now += 1
    assert h.call("POST", "/api/auth/logout", token=token).status_code == 204
    events = [e for e in audit.query(h.db, user="alice") if e.action in ("login", "logout")]
    assert [(e.action, e.outcome) for e in events] == [("login", "ok"), ("logout", "ok")]
    assert all(e.address and e.object == "user:alice" for e in events)


def test_refused_logins_from_one_address_are_counted_in_one_row_per_kind_and_window(make: Any) -> None:
    """2,000 wrong passwords from one address make two rows (failed, then locked), not 2,000."""
    h = make(login_free_failures=10_000, login_lock_failures=0, login_address_failures=0, rate_limit_per_address=0)
    h.make_user("alice")
    before = audit_rows(h)
    for i in range(2000):
        login(h, "alice" if i % 2 else f"nobody{i}", WRONG)
    rows = audit_rows(h) - before
    assert rows == 1, "one refusal opened the window; the rest are counted against it"
    (event,) = [e for e in audit.query(h.db, since=h.clock.now - 1) if e.outcome != "ok"]
    assert (event.outcome, event.detail["repeats"]) == ("failed", 1999)
    h.clock.now += audit.REFUSAL_WINDOW
    login(h, "alice", WRONG)
    assert audit_rows(h) - before == 2, "a new window opens a new row"
    assert login(h, "alice").status_code == 200
    assert audit_rows(h) - before == 3, "successes are never counted away"


# -- requests -------------------------------------------------------------------------------------


def test_requests_over_the_address_limit_get_429_with_retry_after(make: Any) -> None:
    h = make(rate_limit_per_address=5)
    assert [h.call("GET", "/api/info").status_code for _ in range(5)] == [200] * 5
    limited = h.call("GET", "/api/info")
    assert (limited.status_code, limited.json["error"]) == (429, "rate_limited")
    assert 1 <= retry_after(limited) <= 60
    assert h.call("GET", "/api/info", remote_addr="10.0.0.2").status_code == 200, "another address has its own count"
    assert h.call("GET", "/api/health").status_code == 200, "health checks are exempt"
    h.clock.now += retry_after(limited)
    assert h.call("GET", "/api/info").status_code == 200, "the next window starts afresh"


def test_addresses_of_one_ipv6_64_share_one_count_and_ipv4_written_as_ipv6_is_ipv4(make: Any) -> None:
    h = make(rate_limit_per_address=3)
    one_host = [f"2001:db8:1:2::{i:x}" for i in range(1, 4)] + ["2001:db8:1:2:ffff:ffff:ffff:ffff"]
    codes = [h.call("GET", "/api/info", remote_addr=address).status_code for address in one_host]
    assert codes == [200, 200, 200, 429], "one /64 is one client"
    assert h.call("GET", "/api/info", remote_addr="2001:db8:1:3::1").status_code == 200, "the next /64 is another"
    mapped = [h.call("GET", "/api/info", remote_addr=a).status_code for a in ("192.0.2.7", "::ffff:192.0.2.7") * 2]
    assert mapped == [200, 200, 200, 429]


def test_a_users_sessions_share_one_limit_wherever_they_come_from(make: Any) -> None:
    h = make(rate_limit_per_user=3, rate_limit_per_address=0)
    first = h.make_user("alice")
    second = h.login("alice")
    bob = h.make_user("bob")
    assert h.call("GET", "/api/me", token=first).status_code == 200
    assert h.call("GET", "/api/me", token=second, remote_addr="10.0.0.3").status_code == 200
    assert h.call("GET", "/api/me", token=first, remote_addr="10.0.0.4").status_code == 200
    over = h.call("GET", "/api/me", token=second, remote_addr="10.0.0.5")
    assert (over.status_code, over.json["error"]) == (429, "rate_limited")
    assert "account" in over.json["message"]
    assert h.call("GET", "/api/me", token=bob).status_code == 200


def test_looking_users_up_by_name_has_a_tighter_limit_of_its_own(make: Any) -> None:
    """Each lookup tells whether a name is a user with keys: a script must not walk the user directory."""
    h = make(rate_limit_lookups=3, rate_limit_per_address=0)
    alice = h.make_user("alice")
    h.give_keys(h.make_user("bob"))
    codes = [h.call("GET", f"/api/users/{n}/public-key", token=alice).status_code for n in ("bob", "x", "y", "z")]
    assert codes == [200, 404, 404, 429]
    assert "account" in h.call("GET", "/api/users/bob/public-key", token=alice).json["message"]
    assert h.call("GET", "/api/me", token=alice).status_code == 200, "other requests are not held back"


def test_fileserver_calls_have_their_own_bucket_beside_the_users_of_an_address(make: Any) -> None:
    h = make(rate_limit_per_address=4, rate_limit_fileservers=100)
    admin = h.make_user("root", "admin")
    assert h.apply(admin).status_code == 200
    fs = h.fileserver(admin)
    while h.call("GET", "/api/info").status_code != 429:
        pass
    assert h.register(fs).status_code == 200
    assert h.beat(fs).status_code == 200


def test_fileserver_calls_are_limited_too(make: Any) -> None:
    h = make(rate_limit_fileservers=2)
    codes = [h.call("POST", "/api/fileservers/heartbeat", {}).status_code for _ in range(3)]
    assert codes[:2] != [429, 429] and codes[2] == 429


def test_limits_of_zero_switch_request_limiting_off(make: Any) -> None:
    h = make(rate_limit_per_address=0, rate_limit_per_user=0)
    assert all(h.call("GET", "/api/info").status_code == 200 for _ in range(50))


def test_behind_a_trusted_proxy_the_forwarded_client_is_limited(make: Any) -> None:
    h = make(rate_limit_per_address=2, trusted_proxies="10.9.0.0/16")
    proxy = {"remote_addr": "10.9.0.1"}
    for client in ("198.51.100.1", "198.51.100.2"):
        codes = [h.call("GET", "/api/info", headers={"X-Forwarded-For": client}, **proxy).status_code for _ in range(3)]
        assert codes == [200, 200, 429]
    spoofed = [h.call("GET", "/api/info", headers={"X-Forwarded-For": f"203.0.113.{n}"}) for n in range(3)]
    assert spoofed[-1].status_code == 429, "an untrusted peer's X-Forwarded-For is ignored"


def test_only_hops_added_by_trusted_proxies_are_believed() -> None:
    proxies = TrustedProxies.parse("10.0.0.1, 192.168.0.0/24")
    assert proxies.client("10.0.0.1", "1.2.3.4") == "1.2.3.4"
    assert proxies.client("10.0.0.1", "6.6.6.6, 1.2.3.4, 192.168.0.9") == "1.2.3.4"
    assert proxies.client("1.2.3.4", "5.6.7.8") == "1.2.3.4"
    assert proxies.client("10.0.0.1", "garbage, 192.168.0.9") == "192.168.0.9"
    assert proxies.client("10.0.0.1", None) == "10.0.0.1"
    assert TrustedProxies.parse("").client("10.0.0.1", "1.2.3.4") == "10.0.0.1"


# -- stores -------------------------------------------------------------------------------------


def test_logins_are_throttled_the_same_on_redis(make: Any) -> None:
    with redis_space() as space:
        h = make(redis_url=space.url, redis_prefix=space.prefix, **LOGIN_LIMITS)
        h.make_user("alice")
        assert [login(h, "alice", WRONG).status_code for _ in range(4)] == [401, 401, 401, 429]


def test_with_the_store_down_requests_pass_but_logins_are_refused(make: Any) -> None:
    h = make(redis_url="redis://127.0.0.1:1/0", rate_limit_per_address=1)
    assert [h.call("GET", "/api/info").status_code for _ in range(3)] == [200, 200, 200]
    refused = h.call("POST", "/api/auth/login", {"username": "alice", "auth_key": WRONG})
    assert (refused.status_code, refused.json["error"]) == (503, "unavailable")
    assert "127.0.0.1" not in refused.text and ":1" not in refused.text, "the store's address stays in the log"


# -- settings -------------------------------------------------------------------------------------


def test_limits_come_from_the_environment() -> None:
    env = {
        "COFFER_RATE_LIMIT_PER_USER": "42",
        "COFFER_LOGIN_LOCK_SECONDS": "120",
        "COFFER_REDIS_URL": "redis://r:6379/1",
    }
    s = settings_loader.load(ServerSettings, {}, env_prefix="COFFER_", source="test", environ=env)
    assert (s.rate_limit_per_user, s.login_lock_seconds, s.redis_url) == (42, 120.0, "redis://r:6379/1")


@pytest.mark.parametrize(
    "bad",
    [
        {"rate_limit_per_address": -1},
        {"login_free_failures": 5, "login_lock_failures": 5},
        {"login_lock_seconds": 0.0},
        {"redis_url": "http://r:6379"},
        {"trusted_proxies": "not-an-address"},
        {"body_idle_timeout": 0.0},
        {"body_idle_timeout": float("inf")},
    ],
)
def test_impossible_limits_stop_the_server_with_a_reason(bad: dict[str, Any]) -> None:
    with pytest.raises(settings_loader.SettingsError):
        ServerSettings(**bad)


def test_a_redis_password_is_never_echoed_in_a_settings_error() -> None:
    with pytest.raises(settings_loader.SettingsError) as caught:
        ServerSettings(redis_url="http://:hunter2@r:6379")
    assert "hunter2" not in str(caught.value)
