"""The scrape's files and bytes per shard and state, read from the index migration 13 adds, on both engines."""

from __future__ import annotations

from coffer.server.metrics import STORED_SQL, DatabaseCollector
from tests.many_files import insert_files

from .conftest import Harness


def test_files_and_bytes_are_reported_per_shard_and_state_by_name(harness: Harness, admin: str) -> None:
    harness.make_user("alice")
    insert_files(harness.db, "alice", 3, shard="default", state="complete")
    insert_files(harness.db, "alice", 2, shard="default", state="pending")
    insert_files(harness.db, "alice", 4, shard="archive", state="complete")
    figures = {
        (m.name, s.labels["shard"], s.labels["state"]): s.value
        for m in DatabaseCollector(harness.db, harness.settings.lease_seconds, harness.clock).collect()
        if m.name in ("coffer_files", "coffer_stored_bytes")
        for s in m.samples
    }
    assert figures == {
        ("coffer_files", "default", "complete"): 3,
        ("coffer_files", "default", "pending"): 2,
        ("coffer_files", "archive", "complete"): 4,
        ("coffer_stored_bytes", "default", "complete"): 3 * 1024,
        ("coffer_stored_bytes", "default", "pending"): 2 * 1024,
        ("coffer_stored_bytes", "archive", "complete"): 4 * 1024,
    }


def test_the_per_shard_totals_are_read_from_an_index_on_sqlite(harness: Harness) -> None:
    """Not from the table: a scrape then costs the index's size, a fraction of the files' (docs/performance.md)."""
    if harness.db.dialect != "sqlite":
        return
    with harness.db.transaction(readonly=True) as tx:
        plan = tx.all("EXPLAIN QUERY PLAN " + STORED_SQL)
    assert any("COVERING INDEX files_shard_state_size" in str(row["detail"]) for row in plan), plan
