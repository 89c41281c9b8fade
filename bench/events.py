"""Events published per second, and their delay from the change's commit to a consumer, against a real NATS.

Run by hand (NATS with JetStream on 127.0.0.1:4222, or ``--nats URL``)::

    python -m bench.events [--events 5000] [--rate 100] [--seconds 10] [--engine sqlite|postgresql://...]

- ``throughput``: ``--events`` events are written to the outbox (one transaction each, as
  changes write them), then one :class:`Publisher` drains it: events acknowledged per
  second, one at a time in order, as the server publishes them.
- ``delay``: with the publishing thread running at the default ``events_interval``,
  events are written at ``--rate`` a second for ``--seconds``; a JetStream consumer
  notes when each arrives. The delay is arrival time minus the event's ``at`` (the time
  of its change): it holds the outbox's polling interval, the lease, the publish and
  its ack, and the delivery.

A stream of its own is made and deleted. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import nats

from bench.stats import latency
from coffer.server.domain import events
from coffer.server.jobs.events import Publisher
from coffer.server.settings import ServerSettings
from coffer.server.store import migrations
from coffer.server.store.db import Database


def _write(db: Database, n: int) -> None:
    with db.transaction() as tx:
        for _ in range(n):
            events.record(tx, "file.created", time.time(), file=secrets.token_hex(16), user="bench", size=1, chunks=1)


def throughput(db: Database, settings: ServerSettings, n: int) -> dict[str, float]:
    for _ in range(n):
        _write(db, 1)
    publisher = Publisher(db, settings)
    try:
        start = time.perf_counter()
        published = publisher.drain(rounds=10**6)
        seconds = time.perf_counter() - start
    finally:
        publisher.stop()
    return {"events": published, "seconds": round(seconds, 2), "per_s": round(published / seconds, 1)}


async def _consume(settings: ServerSettings, expected: int, arrivals: list[float], ready: threading.Event) -> None:
    nc = await nats.connect(settings.events_url)
    js = nc.jetstream()
    got = asyncio.Event()

    async def on_msg(msg: Any) -> None:
        arrivals.append(time.time() - json.loads(msg.data)["at"])
        await msg.ack()
        if len(arrivals) >= expected:
            got.set()

    await js.subscribe(
        f"{settings.events_subject_prefix}.>",
        stream=settings.events_stream,
        cb=on_msg,
        deliver_policy=nats.js.api.DeliverPolicy.NEW,
    )
    ready.set()
    try:
        await asyncio.wait_for(got.wait(), timeout=120)
    finally:
        await nc.close()


def delay(db: Database, settings: ServerSettings, rate: float, seconds: float) -> dict[str, float]:
    expected = int(rate * seconds)
    arrivals: list[float] = []
    ready = threading.Event()
    consumer = threading.Thread(target=asyncio.run, args=(_consume(settings, expected, arrivals, ready),))
    consumer.start()
    ready.wait(10)
    publisher = Publisher(db, settings)
    publisher.start()
    try:
        start = time.perf_counter()
        for i in range(expected):
            wait = start + i / rate - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            _write(db, 1)
        consumer.join(timeout=130)
    finally:
        publisher.stop()
    return {"events": len(arrivals), "rate_per_s": rate, **latency(arrivals)}


async def _drop(url: str, stream: str) -> None:
    nc = await nats.connect(url)
    try:
        await nc.jetstream().delete_stream(stream)
    except nats.js.errors.NotFoundError:
        pass
    finally:
        await nc.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nats", default="nats://127.0.0.1:4222")
    parser.add_argument("--engine", default="sqlite", help="sqlite (a temporary file) or a postgresql:// URL")
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    tag = secrets.token_hex(6)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}" if args.engine == "sqlite" else args.engine
        settings = ServerSettings(
            database_url=url,
            events_url=args.nats,
            events_stream=f"COFFER_BENCH_{tag}",
            events_subject_prefix=f"coffer_bench_{tag}",
        )
        db = Database(url, outbox=True)
        migrations.migrate(db)
        try:
            result = {
                "engine": db.dialect,
                "events_interval_s": settings.events_interval,
                "throughput": throughput(db, settings, args.events),
                "delay": delay(db, replace(settings), args.rate, args.seconds),
            }
        finally:
            asyncio.run(_drop(args.nats, settings.events_stream))
            db.close()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
