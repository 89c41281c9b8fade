"""The server's readiness probe: ready while its database answers, 503 naming the database when it does not."""

from __future__ import annotations

import time
from pathlib import Path

import falcon.testing

from coffer.devnet.procs import free_port
from coffer.protocol import routes
from coffer.server.api.app import create_app
from coffer.server.api.base import Context
from coffer.server.domain import keys
from coffer.server.settings import ServerSettings
from coffer.server.store import migrations
from coffer.server.store.db import Database

from .conftest import Harness


def test_the_server_is_ready_while_its_database_answers_and_head_answers_alike(tmp_path: Path) -> None:
    harness = Harness(f"sqlite:///{tmp_path / 'coffer.db'}")
    got = harness.client.simulate_get(routes.READY)
    assert got.status_code == 200 and got.json == {"status": "ready", "checks": {"database": "ok"}}
    head = harness.client.simulate_head(routes.READY)
    assert head.status_code == 200 and head.content == b""


def test_a_server_whose_postgresql_is_unreachable_is_alive_but_not_ready(tmp_path: Path) -> None:
    local = Database(f"sqlite:///{tmp_path / 'keys.db'}")
    migrations.migrate(local)
    closed = f"postgresql://postgres@127.0.0.1:{free_port()}/coffer"  # nothing listens there
    db = Database(closed, pool_size=1)
    ctx = Context(settings=ServerSettings(database_url=closed), db=db, keys=keys.load_or_create(local))
    client = falcon.testing.TestClient(create_app(ctx))
    try:
        started = time.monotonic()
        got = client.simulate_get(routes.READY)
        assert time.monotonic() - started < 5  # the probe waits less than a load balancer would
        assert got.status_code == 503
        assert got.json["error"] == "not_ready" and "database" in got.json["message"]
        assert "127.0.0.1" not in got.json["message"]  # SECURITY: no address, port or user in the answer
        assert client.simulate_head(routes.READY).status_code == 503
        assert client.simulate_get(routes.HEALTH).status_code == 200  # alive all the same
    finally:
        db.close()
