"""The NATS server with JetStream at 127.0.0.1:4222 (or COFFER_TEST_NATS), with a fresh stream per use.

Each user of :func:`nats_stream` gets a stream and a subject prefix of its own, deleted
at the end, so runs sharing one NATS never see each other's events. Where NATS is
missing its tests are skipped, except under CI (``CI`` set), where a missing NATS
fails the run, as PostgreSQL and Redis do. :class:`Gate` stands between a client and
NATS so a test can take NATS away and bring it back without touching the shared server.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import nats

from tests.services import unavailable

URL = os.environ.get("COFFER_TEST_NATS", "nats://127.0.0.1:4222")


@dataclass(frozen=True)
class NatsStream:
    url: str
    stream: str
    prefix: str


def require() -> None:
    """Skip (or, under CI, fail) the calling test when NATS is not there."""
    where = urlsplit(URL)
    try:
        socket.create_connection((where.hostname or "127.0.0.1", where.port or 4222), timeout=3).close()
    except OSError as exc:
        unavailable(
            f"NATS is not reachable at {URL}: {exc}",
            "CI needs it: start nats-server -js on 127.0.0.1:4222",
        )


async def _with_js(work: Any) -> Any:
    nc = await nats.connect(URL, allow_reconnect=False, connect_timeout=3)
    try:
        return await work(nc.jetstream())
    finally:
        await nc.close()


def run_js(work: Any) -> Any:
    """Run ``await work(jetstream)`` on a connection of its own; return its result."""
    return asyncio.run(_with_js(work))


def stream_messages(stream: str) -> list[tuple[str, str, bytes]]:
    """Return every message in *stream*, in stream order: (subject, Nats-Msg-Id, body)."""

    async def read(js: Any) -> list[tuple[str, str, bytes]]:
        info = await js.stream_info(stream)
        out = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            msg = await js.get_msg(stream, seq)
            out.append((msg.subject, (msg.headers or {}).get("Nats-Msg-Id", ""), msg.data))
        return out

    result: list[tuple[str, str, bytes]] = run_js(read)
    return result


@contextmanager
def nats_stream() -> Iterator[NatsStream]:
    """Yield a stream name and subject prefix of our own; delete the stream afterwards."""
    require()
    tag = secrets.token_hex(6)
    try:
        yield NatsStream(URL, f"COFFER_TEST_{tag}", f"coffer_test_{tag}")
    finally:

        async def drop(js: Any) -> None:
            try:
                await js.delete_stream(f"COFFER_TEST_{tag}")
            except nats.js.errors.NotFoundError:
                pass

        run_js(drop)


class Gate:
    """A TCP relay on 127.0.0.1 to NATS that a test can close (refusing connections, cutting open ones) and open."""

    def __init__(self) -> None:
        where = urlsplit(URL)
        self._target = (where.hostname or "127.0.0.1", where.port or 4222)
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self._listener: socket.socket | None = None
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def open(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def close(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        with self._lock:
            for s in self._open:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()
            self._open.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self._target)
            with self._lock:
                self._open += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
