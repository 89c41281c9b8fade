"""Apply the limits: requests per address and per user, and the login brute-force guard.

:class:`Limiter` is built once per worker from the settings and shared by every
request thread. Each request check is one store call; a refusal raises
:class:`~server.errors.RateLimited` (429 with ``Retry-After``).

If the store cannot be reached, request limits let the request through and log
it (a limiter must not take the API down with it), but logins are refused with
503: an unreachable store must not open a window for password guessing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from coffer.serving.limits import client_key

from .. import metrics
from ..errors import RateLimited, Unavailable
from ..settings import ServerSettings
from ..store.db import Database
from .policy import MINUTE, Failures, LoginPolicy, RateRule, Refusal, Window
from .stores import Store, StoreDown, open_store

log = logging.getLogger(__name__)

PRUNE_EVERY = 300.0
"""Seconds between two deletions of stale counters by one worker."""
WARN_EVERY = 60.0
"""At most one warning per this many seconds while the store is down."""

BUCKETS = ("address", "fileservers", "user", "lookups")
USER_BUCKETS = frozenset({"user", "lookups"})
"""The buckets counted per account, not per address."""


@dataclass(frozen=True)
class Limits:
    """The rules in force, from the settings."""

    per_address: RateRule
    per_user: RateRule
    fileservers: RateRule
    lookups: RateRule
    login: LoginPolicy
    login_per_address: RateRule

    @classmethod
    def from_settings(cls, s: ServerSettings) -> Limits:
        return cls(
            per_address=RateRule(s.rate_limit_per_address),
            per_user=RateRule(s.rate_limit_per_user),
            fileservers=RateRule(s.rate_limit_fileservers),
            lookups=RateRule(s.rate_limit_lookups),
            login=LoginPolicy(
                free_failures=s.login_free_failures,
                lock_failures=s.login_lock_failures,
                lock_seconds=s.login_lock_seconds,
                max_delay=s.login_max_delay,
            ),
            login_per_address=RateRule(s.login_address_failures, Window(s.login_lock_seconds)),
        )

    @property
    def longest_window(self) -> float:
        return max(MINUTE, self.login_per_address.window.seconds)


class LoginRefused(RateLimited):
    """A login attempt refused before its password was checked: throttled (a delay runs) or locked."""

    def __init__(self, refusal: Refusal, scope: str):
        wait = max(1, int(refusal.retry_after + 0.999))
        if refusal.kind == "locked":
            message = (
                "logins for this name or from this address are locked after too many failed attempts: "
                f"try again in {wait} s, or ask an administrator"
            )
        else:
            message = f"too many failed logins for this name or from this address: wait {wait} s before trying again"
        super().__init__(message, retry_after=refusal.retry_after, code=f"login_{refusal.kind}")
        self.outcome = refusal.kind
        self.scope = scope
        """``name`` or ``address``: which counter refused (for the audit log, never for the answer)."""


@dataclass
class LoginAttempt:
    """A login attempt let through, already counted as a failure until :meth:`succeeded` says otherwise."""

    guard: LoginGuard
    name: str
    address: str
    failures: int
    address_window: float | None

    def succeeded(self) -> None:
        """Forgive the attempt: the name's failures reset and the address gets its attempt back."""
        self.guard.succeeded(self)

    def failed(self) -> bool:
        """Return whether this failure locked the name (it was counted when the attempt began)."""
        return self.guard.limits.login.locks(self.failures)


@dataclass
class LoginGuard:
    """Slow down and then lock password guessing, per user name and per address."""

    store: Store
    limits: Limits

    def begin(self, name: str, address: str, now: float) -> LoginAttempt:
        """Let an attempt go ahead, counted as a failure, or raise :class:`LoginRefused`.

        SECURITY: this runs before the password is checked and whether or not the
        name exists, so a refusal says nothing about either.
        """
        rule = self.limits.login_per_address
        key = f"login-addr:{client_key(address)}"
        window: float | None = None
        try:
            if rule.enabled:
                window = rule.window.start(key, now)
                decision = rule.judge(key, self.store.hit(key, window, rule.window.seconds), now)
                if not decision.allowed:
                    raise LoginRefused(Refusal("locked", decision.retry_after), "address")
            policy = self.limits.login
            refusal = self.store.change(
                f"login-name:{name}", lambda state: _claim(policy, state, now), policy.forget_after
            )
        except StoreDown as exc:
            # SECURITY: the store's own text (its address) goes to the log, never to the client.
            log.warning("logins refused: the rate-limit store is unavailable", extra={"kv": {"error": str(exc)}})
            raise Unavailable("logins are paused: the rate-limit store is unavailable; try again shortly") from exc
        if isinstance(refusal, Refusal):
            raise LoginRefused(refusal, "name")
        return LoginAttempt(self, name, address, refusal, window)

    def succeeded(self, attempt: LoginAttempt) -> None:
        try:
            self.store.forget(f"login-name:{attempt.name}")
            if attempt.address_window is not None:
                rule = self.limits.login_per_address
                key = f"login-addr:{client_key(attempt.address)}"
                self.store.unhit(key, attempt.address_window, rule.window.seconds)
        except StoreDown as exc:
            log.warning("could not reset login failures after a success", extra={"kv": {"error": str(exc)}})


def _claim(policy: LoginPolicy, state: Failures | None, now: float) -> tuple[Failures | None, Refusal | int]:
    """Wrap :meth:`LoginPolicy.attempt` for :meth:`Store.change`: the refusal, or the failure count claimed."""
    new, refusal = policy.attempt(state, now)
    return new, refusal if refusal is not None else (new.count if new else 0)


@dataclass
class Limiter:
    """The per-request limits and the login guard of one worker."""

    store: Store
    limits: Limits
    clock: Callable[[], float]
    login: LoginGuard = field(init=False)
    _last_prune: float = field(default=0.0, init=False)
    _last_warning: float = field(default=float("-inf"), init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def __post_init__(self) -> None:
        self.login = LoginGuard(self.store, self.limits)

    @classmethod
    def build(cls, settings: ServerSettings, db: Database, clock: Callable[[], float]) -> Limiter:
        store = open_store(db, settings.redis_url, settings.redis_prefix)
        return cls(store, Limits.from_settings(settings), clock)

    def check(self, bucket: str, key: str) -> None:
        """Count one request of *key* in *bucket* (one of :data:`BUCKETS`); raise RateLimited past its limit."""
        rules = {
            "address": self.limits.per_address,
            "fileservers": self.limits.fileservers,
            "user": self.limits.per_user,
            "lookups": self.limits.lookups,
        }
        rule = rules[bucket]
        if not rule.enabled:
            return
        now = self.clock()
        name = f"{bucket}:{key if bucket in USER_BUCKETS else client_key(key)}"
        try:
            count = self.store.hit(name, rule.window.start(name, now), rule.window.seconds)
            self._maybe_prune(now)
        except StoreDown as exc:
            self._warn(now, exc)
            return
        decision = rule.judge(name, count, now)
        if not decision.allowed:
            metrics.RATE_LIMITED.labels(bucket).inc()
            whose = "for this account" if bucket in USER_BUCKETS else "from this address"
            raise RateLimited(
                f"too many requests {whose} (the limit is {rule.limit} a minute): "
                f"retry in {max(1, int(decision.retry_after + 0.999))} s",
                retry_after=decision.retry_after,
            )

    def close(self) -> None:
        self.store.close()

    def _maybe_prune(self, now: float) -> None:
        """Delete stale counters now and then, so the tables stay as small as the set of active clients."""
        with self._lock:
            if now - self._last_prune < PRUNE_EVERY:
                return
            self._last_prune = now
        longest = self.limits.longest_window
        self.store.prune(now - 2 * longest, now - self.limits.login.forget_after, now)

    def _warn(self, now: float, exc: StoreDown) -> None:
        with self._lock:
            if now - self._last_warning < WARN_EVERY:
                return
            self._last_warning = now
        log.warning("rate limits are not enforced: the store is unavailable", extra={"kv": {"error": str(exc)}})
