"""A server's connection pool is served again within about a second of PostgreSQL's return, however long it was away.

psycopg_pool waits twice as long between connection tries after each failure, for as long as
its reconnect window; with its default window of five minutes, a worker could wait many seconds
after the database came back before trying again, answering 503 meanwhile, and every fileserver
beating into that worker dropped out of the live list. The outage here is a port that nothing
listens on, and the return a forwarder to the test's PostgreSQL opening on that port.

PostgreSQL alone: SQLite opens its file for each transaction and has no pool to reconnect.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest

from coffer.devnet.procs import free_port
from coffer.server.errors import Unavailable
from coffer.server.store.db import Database

from ..postgres import PostgresDatabases

pytestmark = pytest.mark.postgres

OUTAGE = 8.5
"""Seconds the database stays away: the pool's default backoff would next try at about 15 s, long after."""
SERVED_WITHIN = 3.0
"""How soon after the database's return a waiting or new request must be served (about 1 s, in rounds of 2 s)."""


class Forwarder:
    """Forward TCP connections from a port on 127.0.0.1 to the database, from :meth:`open` on."""

    def __init__(self, port: int, upstream: tuple[str, int]):
        self.port = port
        self.upstream = upstream
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def open(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen()
        listener.settimeout(0.1)
        self._start(self._accept, listener)

    def _start(self, target: Callable[..., None], *args: socket.socket) -> None:
        with self._lock:
            self._sockets.extend(args)
            thread = threading.Thread(target=target, args=args, daemon=True)
            self._threads.append(thread)
        thread.start()

    def _accept(self, listener: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            self._start(self._pipe, client, server)
            self._start(self._pipe, server, client)

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for s in (source, sink):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            sockets, threads = list(self._sockets), list(self._threads)
        for s in sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in threads:
            t.join(5)
        for s in sockets:
            s.close()


@pytest.fixture
def away(pg_databases: PostgresDatabases) -> Iterator[tuple[Database, Forwarder]]:
    """A database handle whose PostgreSQL is away (nothing listens on its port) until the forwarder opens."""
    url = urlsplit(pg_databases.create())
    port = free_port()
    forwarder = Forwarder(port, (url.hostname or "127.0.0.1", url.port or 5432))
    netloc = url.netloc.rsplit("@", 1)[0] + "@" if "@" in url.netloc else ""
    db = Database(urlunsplit(url._replace(netloc=f"{netloc}127.0.0.1:{port}")))
    try:
        yield db, forwarder
    finally:
        db.close()
        forwarder.close()


def served_after(db: Database, forwarder: Forwarder, started: float) -> float:
    """Open the forwarder once the outage has lasted :data:`OUTAGE` seconds; return when that happened."""
    time.sleep(max(0.0, started + OUTAGE - time.monotonic()))
    forwarder.open()
    return time.monotonic()


def test_requests_through_a_long_outage_are_served_within_a_second_or_so_of_the_databases_return(
    away: tuple[Database, Forwarder],
) -> None:
    """Requests keep coming during the outage (fileservers beat, each answered 503), and one soon after the return
    is served: no worker waits out a backoff grown during the outage."""
    db, forwarder = away
    started = time.monotonic()
    while time.monotonic() < started + OUTAGE:
        with pytest.raises(Unavailable):
            db.ping(timeout=0.3)
        time.sleep(0.2)
    back = served_after(db, forwarder, started)
    while True:
        try:
            db.ping(timeout=0.3)
            break
        except Unavailable:
            assert time.monotonic() - back < SERVED_WITHIN, "no connection within seconds of the database's return"
            time.sleep(0.2)
    with db.transaction() as tx:
        assert tx.one("SELECT 1 AS one") == {"one": 1}


def test_a_request_waiting_alone_through_the_return_is_served_instead_of_timing_out(
    away: tuple[Database, Forwarder],
) -> None:
    """With no other request to start a new round of tries, the pool starts one itself while a request waits."""
    db, forwarder = away
    started = time.monotonic()
    opened: list[float] = []
    opener = threading.Thread(target=lambda: opened.append(served_after(db, forwarder, started)))
    opener.start()
    try:
        db.ping(timeout=OUTAGE + 10)
        served = time.monotonic()
    finally:
        opener.join()
    assert served - opened[0] < SERVED_WITHIN, "the waiting request was served only long after the return"
