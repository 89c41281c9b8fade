"""A failing database is a 503 whose body names no host, port, user or path: the driver's words go to the log."""

from __future__ import annotations

import json
import logging
import sqlite3

import psycopg
import pytest

from coffer.server.errors import Unavailable
from coffer.server.store.db import UNAVAILABLE, Database

DRIVER_TEXT = 'connection to server at "10.1.2.3", port 5433 failed: FATAL: role "coffer_prod" does not exist'


def test_a_database_error_reaches_the_client_without_the_drivers_text(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    db = Database(database_url)
    failure = sqlite3.OperationalError if db.dialect == "sqlite" else psycopg.OperationalError
    try:
        with caplog.at_level(logging.WARNING), pytest.raises(Unavailable) as caught, db.transaction():
            raise failure(DRIVER_TEXT)
    finally:
        db.close()
    body = json.dumps(caught.value.body())
    assert caught.value.message == UNAVAILABLE
    assert not any(word in body for word in ("10.1.2.3", "5433", "coffer_prod"))
    assert any("10.1.2.3" in str(getattr(r, "kv", "")) for r in caplog.records), "the operator's log says why"
