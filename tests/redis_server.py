"""The Redis server at 127.0.0.1:6379 (or COFFER_TEST_REDIS), with a fresh key prefix per use.

Each user of :func:`redis_space` gets keys under ``coffer_test_<random>:`` and
they are deleted at the end, so runs sharing one Redis never see each other's
counters. Where Redis is missing the Redis tests are skipped, except under CI
(``CI`` set), where a missing Redis fails the run, as PostgreSQL does.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import redis

from tests.services import unavailable

URL = os.environ.get("COFFER_TEST_REDIS", "redis://127.0.0.1:6379/0")


@dataclass(frozen=True)
class RedisSpace:
    url: str
    prefix: str


def available() -> str | None:
    """Return None if Redis answers, else why not."""
    try:
        with redis.Redis.from_url(URL, socket_connect_timeout=3, socket_timeout=3) as client:
            client.ping()
    except redis.RedisError as exc:
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return None


def require() -> None:
    """Skip (or, under CI, fail) the calling test when Redis is not there."""
    reason = available()
    if reason is None:
        return
    unavailable(f"Redis is not reachable at {URL}: {reason}", "CI needs it: start redis-server on 127.0.0.1:6379")


@contextmanager
def redis_space() -> Iterator[RedisSpace]:
    """Yield a URL and a key prefix of our own; delete every key under the prefix afterwards."""
    require()
    space = RedisSpace(URL, f"coffer_test_{secrets.token_hex(6)}:")
    try:
        yield space
    finally:
        with redis.Redis.from_url(URL, socket_timeout=5) as client:
            keys = list(client.scan_iter(match=space.prefix + "*", count=500))
            if keys:
                client.delete(*keys)
