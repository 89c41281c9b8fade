"""Rate limits on a real server under gunicorn (two workers sharing one store), on 127.0.0.1 only.

Each request loop is bounded: it stops at the first 429 or after a fixed number of
requests, whichever comes first, and the servers are ours, started and stopped here.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import nullcontext

import httpx
import pytest

from coffer.protocol.encoding import b64encode
from tests import postgres
from tests.redis_server import redis_space

from .network import Network

pytestmark = pytest.mark.slow

LIMIT = 40
MAX_REQUESTS = 2 * LIMIT + 1
"""A fixed window may turn over once during the loop, so the limit can be met twice before a 429."""
FREE_FAILURES = 2


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres), "redis"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    """A server alone (no fileservers needed), with a low per-address limit, on each store."""
    root = tmp_path_factory.mktemp(f"limits-{request.param}")
    extra = {
        "COFFER_RATE_LIMIT_PER_ADDRESS": str(LIMIT),
        "COFFER_LOGIN_FREE_FAILURES": str(FREE_FAILURES),
        "COFFER_LOGIN_LOCK_FAILURES": "10",
    }
    url = f"sqlite:///{root / 'coffer.db'}"
    if request.param == "postgresql":
        databases: postgres.PostgresDatabases = request.getfixturevalue("pg_databases")
        url = databases.create()
    with redis_space() if request.param == "redis" else nullcontext() as space:
        if space is not None:
            extra |= {"COFFER_REDIS_URL": space.url, "COFFER_REDIS_PREFIX": space.prefix}
        net = Network(root=root, database_url=url, server_extra=extra)
        try:
            net.start_server()
            yield net
        finally:
            net.stop()


def test_login_guessing_is_throttled_across_workers(server: Network) -> None:
    body = {"username": "nobody", "auth_key": b64encode(b"x" * 32)}
    with httpx.Client(base_url=server.url, timeout=10) as http:
        codes = [http.post("/api/auth/login", json=body).status_code for _ in range(FREE_FAILURES + 1)]
        assert codes == [401] * FREE_FAILURES + [429]
        refused = http.post("/api/auth/login", json=body)
    assert refused.json()["error"] == "login_throttled"
    assert int(refused.headers["Retry-After"]) >= 1


def test_a_bounded_request_loop_gets_429_with_retry_after(server: Network) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as http:
        answers = []
        for _ in range(MAX_REQUESTS):
            answers.append(http.get("/api/info"))
            if answers[-1].status_code == 429:
                break
        limited = answers[-1]
        assert limited.status_code == 429, f"no 429 after {len(answers)} requests"
        assert {a.status_code for a in answers[:-1]} == {200}
        assert LIMIT // 2 <= len(answers) - 1 <= 2 * LIMIT, "the other tests of this module sent a few requests"
        wait = int(limited.headers["Retry-After"])
        assert 1 <= wait <= 60
        assert limited.json() == limited.json() | {"error": "rate_limited", "retry_after": wait}
        assert http.get("/api/health").status_code == 200, "health checks stay exempt while limited"
