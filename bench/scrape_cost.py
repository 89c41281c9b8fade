"""What one scrape costs: each program's CPU per ``/metrics`` read, and the server's database read by file count.

A scrape's cost is paid per scrape, not per byte moved: the workers only bump counters
in memory-mapped files, and the metrics processes (the server's sidecar, each
fileserver's agent) do the reading and rendering when Prometheus asks. So the cost of
metrics on an upload is this figure times the scrapes during it, and it shrinks with
a longer scrape interval. The server's share also reads the database, whose per-shard
totals grow with the files recorded: the second figure.

    python -m bench.scrape_cost --scrapes 200 --files 0,10000,100000 --engines sqlite,postgresql

JSON on stdout.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg import sql

from coffer.server.metrics import DatabaseCollector
from coffer.server.store import migrations
from coffer.server.store.db import Database

from . import procs
from .coffer_net import postgres_admin_url
from .metrics_overhead import _start


def per_scrape(root: Path, scrapes: int) -> dict[str, Any]:
    """Read each program's ``/metrics`` *scrapes* times on an idle network that moved a file; CPU and wall per read."""
    target = _start(root, "sqlite", "on")
    try:
        source = root / "warm"
        source.write_bytes(secrets.token_bytes(20_000_000))
        target.upload(source)  # every route and chunk counter an upload touches exists
        roots = target.net.roots()
        result: dict[str, Any] = {}
        with httpx.Client(timeout=10.0) as client:
            for (name, top), url in zip(roots.items(), target.net.metrics_urls, strict=True):
                pids = procs.tree(top)
                spent, started = procs.cpu_seconds(pids), time.monotonic()
                size = 0
                for _ in range(scrapes):
                    size = len(client.get(url).content)
                result[name] = {
                    "cpu_ms": round((procs.cpu_seconds(pids) - spent) / scrapes * 1000, 2),
                    "wall_ms": round((time.monotonic() - started) / scrapes * 1000, 2),
                    "bytes": size,
                }
        return result
    finally:
        target.net.stop()


def _database(root: Path, engine: str) -> tuple[Database, str | None]:
    """A fresh database of *engine*, and the PostgreSQL database's name to drop at the end."""
    if engine == "sqlite":
        return Database(f"sqlite:///{root / 'scrape.db'}"), None
    name = f"coffer_bench_{secrets.token_hex(6)}"
    with psycopg.connect(postgres_admin_url(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return Database(postgres_admin_url().rsplit("/", 1)[0] + "/" + name), name


def _drop(name: str) -> None:
    with psycopg.connect(postgres_admin_url(), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def stored_totals(root: Path, engine: str, counts: list[int], reads: int = 20) -> dict[int, float]:
    """Time the server's database collector (ms per read) with *counts* complete files recorded."""
    from tests.many_files import insert_files

    root.mkdir(parents=True, exist_ok=True)
    db, drop = _database(root, engine)
    try:
        migrations.migrate(db)
        with db.transaction() as tx:
            tx.execute(
                "INSERT INTO users (id, name, role, auth_salt, opslimit, memlimit, auth_hash, created_at) "
                "VALUES ('u', 'bench', 'user', '', 1, 1, '', 0)"
            )
            tx.execute("INSERT INTO shards (id, name, description, created_at) VALUES ('s', 'default', '', 0)")
        timed: dict[int, float] = {}
        recorded = 0
        for count in sorted(counts):
            if count > recorded:
                insert_files(db, "bench", count - recorded, state="complete")
                recorded = count
                _settle(db)
            collector = DatabaseCollector(db, 30.0)
            list(collector.collect())
            started = time.perf_counter()
            for _ in range(reads):
                list(collector.collect())
            timed[count] = round((time.perf_counter() - started) / reads * 1000, 1)
        return timed
    finally:
        db.close()
        if drop is not None:
            _drop(drop)


def _settle(db: Database) -> None:
    """On PostgreSQL, VACUUM ANALYZE as autovacuum would soon: index-only scans need the visibility map."""
    if db.dialect != "postgresql":
        return
    with psycopg.connect(db.url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE files")


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.scrape_cost", description=__doc__.splitlines()[0])
    p.add_argument("--scrapes", type=int, default=200, help="reads of each program's /metrics (0: skip)")
    p.add_argument("--files", default="0,10000,100000", help="file counts to time the database read at ('': skip)")
    p.add_argument("--engines", default="sqlite,postgresql")
    args = p.parse_args(argv)
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="coffer-scrape-") as work:
        if args.scrapes:
            out["per_scrape"] = per_scrape(Path(work) / "net", args.scrapes)
        counts = [int(n) for n in args.files.split(",") if n]
        if counts:
            out["stored_totals_ms"] = {
                engine: stored_totals(Path(work) / engine, engine, counts) for engine in args.engines.split(",")
            }
    json.dump(out, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
