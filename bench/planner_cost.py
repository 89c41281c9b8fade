"""What one heartbeat's copy planning costs, and one sync status read, by the chunks already stored and copied.

Every beat of every fileserver asks :func:`~coffer.server.domain.repair.orders` for copy
work, and every metrics scrape reads :func:`~coffer.server.domain.sync_status.status`. In
the steady state every chunk already has its copies, so both find nothing: this times
how long finding nothing takes as the shard grows. Two layouts, each in a fresh database:

- ``one-site``: one cluster of three fileservers, a shard at ``copies = 2``, every chunk
  on two of them; planning is timed for the third (it holds nothing, so every chunk is a
  candidate it lacks).
- ``two-sites``: two clusters that both read and write a shard at ``copies = 2``, every
  chunk on one fileserver of each; planning is timed for a second fileserver of one site.

Files of three chunks (25 MB in 8 MiB chunks) are written straight into the real schema.

    python -m bench.planner_cost --chunks 0,100000,500000 --engines sqlite,postgresql

JSON on stdout: ms per call, medians, per engine, layout and chunk count; where the schema keeps a
copy backlog, also the one beat that rebuilds it (after a fileserver passes its grace or comes
back, or a topology change).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from coffer.protocol.signing import SigningKey
from coffer.server.domain import repair, sync_status
from coffer.server.store import migrations
from coffer.server.store.db import Database, Tx

from .scrape_cost import _database, _drop

NOW = 1_800_000_000.0
CHUNKS_PER_FILE = 3
CHUNK = 8 * 1024 * 1024
GRACE, LEASE, BATCH, TICKET_TTL = 600.0, 30.0, 16, 900.0

LAYOUTS: dict[str, dict[str, Any]] = {
    # cluster → (can_read, can_write), fileserver → cluster, the fileservers every chunk is on, who is planned for
    "one-site": {
        "clusters": {"a": (True, True)},
        "fileservers": {"a1": "a", "a2": "a", "a3": "a"},
        "holders": ["a1", "a2"],
        "planned": "a3",
    },
    "two-sites": {
        "clusters": {"a": (True, True), "b": (True, True)},
        "fileservers": {"a1": "a", "a2": "a", "b1": "b", "b2": "b"},
        "holders": ["a1", "b1"],
        "planned": "a2",
    },
}


def _topology(tx: Tx, layout: dict[str, Any]) -> None:
    tx.execute(
        "INSERT INTO users (id, name, role, auth_salt, opslimit, memlimit, auth_hash, created_at) "
        "VALUES ('u', 'bench', 'user', '', 1, 1, '', 0)"
    )
    tx.execute("INSERT INTO shards (id, name, description, created_at, copies) VALUES ('s', 'default', '', 0, 2)")
    for cluster, (can_read, can_write) in layout["clusters"].items():
        tx.execute("INSERT INTO clusters (id, name, generation, created_at) VALUES (?, ?, 1, 0)", (cluster, cluster))
        tx.execute(
            "INSERT INTO cluster_shards (cluster_id, shard_id, can_read, can_write) VALUES (?, 's', ?, ?)",
            (cluster, can_read, can_write),
        )
    for fs, cluster in layout["fileservers"].items():
        tx.execute(
            "INSERT INTO fileservers (id, cluster_id, url, public_key, version, registered_at, last_seen) "
            "VALUES (?, ?, ?, '', 'bench', 0, ?)",
            (fs, cluster, f"http://{fs}.invalid", NOW),
        )
        tx.execute(
            "INSERT INTO fileserver_shards (fileserver_id, shard_id, can_read, can_write, backend) "
            "VALUES (?, 's', ?, ?, 'local')",
            (fs, True, True),
        )


_SEQ = "WITH RECURSIVE seq(n) AS (SELECT CAST(? AS INTEGER) UNION ALL SELECT n + 1 FROM seq WHERE n + 1 < ?) "


def _fill(db: Database, first: int, last: int, holders: list[str]) -> None:
    """Add complete files *first*..*last* - 1 of three chunks each, every chunk on each of *holders*."""
    if last <= first:
        return
    with db.transaction() as tx:
        tx.execute(
            _SEQ + "INSERT INTO files (id, owner_id, shard_id, size, chunk_count, chunk_size, metadata, sealed_key, "
            "state, created_at, expires_at, completed_at, active_at, hold, key_commitment, format_version) "
            "SELECT 'f' || CAST(n AS TEXT), 'u', 's', ?, ?, ?, '', '', 'complete', "
            "? + n, ? + n, ? + n, ? + n, ?, '', 1 FROM seq",
            (first, last, CHUNKS_PER_FILE * CHUNK, CHUNKS_PER_FILE, CHUNK, 0.0, 1e10, 1.0, 1.0, False),
        )
        tx.execute(
            _SEQ + "INSERT INTO chunks (file_id, idx, hash, size) "
            "SELECT 'f' || CAST(n AS TEXT), i.idx, 'h' || CAST(n AS TEXT) || '.' || CAST(i.idx AS TEXT), ? "
            "FROM seq CROSS JOIN (SELECT 0 AS idx UNION ALL SELECT 1 UNION ALL SELECT 2) i",
            (first, last, CHUNK),
        )
        for fs in holders:
            tx.execute(
                _SEQ + "INSERT INTO chunk_locations (file_id, hash, fileserver_id, shard_id, stored_at, copied) "
                "SELECT c.file_id, c.hash, ?, 's', ?, ? FROM seq JOIN chunks c ON c.file_id = 'f' || CAST(n AS TEXT)",
                (first, last, fs, 1.0, fs != holders[0]),
            )
    if db.dialect == "postgresql":
        with psycopg.connect(db.url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")  # as autovacuum would soon: the planner's statistics
    else:
        with db.transaction() as tx:
            tx.execute("ANALYZE")


def _median_ms(call: Callable[[], object], reads: int) -> float:
    call()
    spent = []
    for _ in range(reads):
        started = time.perf_counter()
        call()
        spent.append(time.perf_counter() - started)
    return round(statistics.median(spent) * 1000, 2)


def _rebuild_ms(db: Database, plan: Callable[[], None]) -> dict[str, float]:
    """Where the schema has a copy backlog (migration 15), time the beat that rebuilds it: once per change of fleet."""
    if migrations.current_version(db) < 15:
        return {}
    with db.transaction() as tx:
        tx.execute("UPDATE copy_plan SET fingerprint = 'stale' WHERE id = 1")
    started = time.perf_counter()
    plan()
    return {"rebuild_ms": round((time.perf_counter() - started) * 1000, 2)}


def measure(root: Path, engine: str, name: str, counts: list[int], reads: int) -> dict[int, dict[str, float]]:
    """Time orders() for the layout's planned fileserver and one sync status read at each chunk count."""
    layout = LAYOUTS[name]
    root.mkdir(parents=True, exist_ok=True)
    db, drop = _database(root, engine)
    key = SigningKey.generate()
    policy = repair.Policy(GRACE, LEASE, BATCH, TICKET_TTL)
    try:
        migrations.migrate(db)
        with db.transaction() as tx:
            _topology(tx, layout)

        def plan() -> None:
            with db.transaction() as tx:
                made = repair.orders(tx, key, layout["planned"], policy, NOW)
            assert not made, "the bench's layout should be settled: nothing to order"

        def status() -> None:
            rows = sync_status.status(db, NOW, GRACE)
            assert all(r.backlog_chunks == 0 and r.below_copies == 0 for r in rows), rows

        timed: dict[int, dict[str, float]] = {}
        files = 0
        for count in sorted(counts):
            wanted = count // CHUNKS_PER_FILE
            _fill(db, files, wanted, layout["holders"])
            files = max(files, wanted)
            rebuilt = _rebuild_ms(db, plan)
            timed[files * CHUNKS_PER_FILE] = {
                **rebuilt,
                "orders_ms": _median_ms(plan, reads),
                "sync_status_ms": _median_ms(status, reads),
            }
        return timed
    finally:
        db.close()
        if drop is not None:
            _drop(drop)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.planner_cost", description=__doc__.splitlines()[0])
    p.add_argument("--chunks", default="0,100000,500000", help="chunk counts to time at")
    p.add_argument("--engines", default="sqlite,postgresql")
    p.add_argument("--layouts", default=",".join(LAYOUTS))
    p.add_argument("--reads", type=int, default=7, help="timed calls per figure (the median is reported)")
    args = p.parse_args(argv)
    counts = [int(n) for n in args.chunks.split(",") if n]
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="coffer-planner-") as work:
        for engine in args.engines.split(","):
            out[engine] = {
                name: measure(Path(work) / f"{engine}-{name}", engine, name, counts, args.reads)
                for name in args.layouts.split(",")
            }
    json.dump(out, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
