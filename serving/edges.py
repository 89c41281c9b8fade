"""gunicorn's threaded worker, answering the errors it meets before the application as JSON, and slow heads.

The errors gunicorn answers itself, before the application sees a request (a negative
Content-Length, a malformed request line, oversized headers), are answered as JSON
like every other error (:mod:`.answers`).

gunicorn's own worker reads a request head in a thread, blocking, with no deadline, so
200 clients sending their headers a byte at a time hold every thread. This one gathers
heads in its main thread, from what each readable socket already holds, without blocking:
a thread is taken only once a head is whole, so a trickled byte costs one read and never
a trip through the thread pool, where it would queue ahead of whole requests. A head not whole within
:attr:`~.limits.EdgeLimits.header_timeout` is answered 408 and closed, and a connection
beyond :attr:`~.limits.EdgeLimits.per_address` from one address is refused at accept.
Bodies that keep moving never trip the idle body timeout, so one address may also have
at most half the threads (:class:`~.limits.BusyAddresses`): its further requests wait,
parked without a thread, for up to :data:`~.limits.PARK_SECONDS`. The limits come from
the gunicorn application's ``edge_limits`` attribute.
"""

from __future__ import annotations

import errno
import logging
import selectors
import socket
import time
from collections import deque
from functools import partial
from typing import Any

from gunicorn import util
from gunicorn.workers import gthread
from gunicorn.workers.gthread import ThreadWorker

from coffer.protocol import requestids

from .answers import HEADERS_TOO_LARGE, TOO_MANY_CONNECTIONS, busy_address, head_timeout, refuse
from .answers import EdgeAnswer as EdgeAnswer  # re-exported, with edge_answer: where both were first written
from .answers import edge_answer as edge_answer
from .limits import MAX_HEAD_BYTES, PARK_SECONDS, BusyAddresses, EdgeLimits, OpenConnections, address_key, head_end

log = logging.getLogger(__name__)

WORKER_CLASS = f"{__name__}.JsonErrorWorker"
"""The ``worker_class`` both programs give gunicorn."""


_PARK = object()
"""What a thread returns for a connection whose address already has its share of the threads."""


class _Conn(gthread.TConn):  # type: ignore[misc]
    """A connection that gathers its request head before a thread parses it, and frees its address on close."""

    def __init__(self, cfg: Any, sock: socket.socket, client: Any, server: Any, key: str | None, deadline: float):
        super().__init__(cfg, sock, client, server)
        self.key = key
        self.held = False
        """Whether this connection's requests count against its address's share of the threads."""
        self.head = bytearray()
        self.searched = 0
        self.head_deadline: float | None = deadline
        self.parked_until = 0.0
        self.release: Any = None

    def close(self, graceful: bool = False) -> None:
        release, self.release = self.release, None
        if release is not None:
            release(self.key)
        super().close(graceful)


class JsonErrorWorker(ThreadWorker):  # type: ignore[misc]
    """gunicorn's threaded worker, answering its own refusals as JSON and keeping slow heads off its threads."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        limits = getattr(self.app, "edge_limits", None)
        self.limits = limits if isinstance(limits, EdgeLimits) else EdgeLimits()
        self.open_connections = OpenConnections(self.limits)
        self.busy = BusyAddresses(self.limits, self.cfg.threads)
        self.parked: deque[_Conn] = deque()
        """Connections with a whole head, waiting for their address to have a thread free (main thread only)."""

    def _gathers_heads(self) -> bool:
        """Whether heads can be gathered from raw bytes: not under TLS or HTTP/2, which read the socket first."""
        return not self.cfg.is_ssl and getattr(self.cfg, "http2_cleartext", "off") in ("off", None, "")

    def accept(self, listener: socket.socket) -> None:
        """Take a new connection, or refuse it at once if its address is at its cap (no thread is used)."""
        try:
            client_sock, client_addr = listener.accept()
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        key = address_key(client_addr)
        if not self.open_connections.take(key, client_addr[0] if key else ""):
            log.warning("connection refused", extra={"kv": {"error": TOO_MANY_CONNECTIONS.code}})
            refuse(client_sock, TOO_MANY_CONNECTIONS)
            return
        self.nr_conns += 1
        client_sock.setblocking(True)
        deadline = time.monotonic() + self.limits.header_timeout
        conn = _Conn(self.cfg, client_sock, client_addr, listener.getsockname(), key, deadline)
        conn.release = self.open_connections.release
        conn.held = self.busy.counts(key, client_addr[0] if key else "")
        if self._gathers_heads():
            self._take_head(conn)
        else:
            self.enqueue_req(conn)

    def on_client_socket_readable(self, conn: Any, client: socket.socket) -> None:
        """A kept-alive connection's next request begins: gather its head here, not in a thread."""
        if not isinstance(conn, _Conn) or not self._gathers_heads():
            super().on_client_socket_readable(conn, client)
            return
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        self._take_head(conn)

    def on_pending_socket_readable(self, conn: Any, client: socket.socket) -> None:
        """More of a head arrived: gather it here, not in a thread."""
        if not isinstance(conn, _Conn) or not self._gathers_heads():
            super().on_pending_socket_readable(conn, client)
            return
        self.poller.unregister(client)
        self.pending_conns.remove(conn)
        self._take_head(conn)

    def _take_head(self, conn: _Conn) -> None:
        """Read what *conn* holds towards its head (main thread): a whole head goes to the threads, a part waits.

        A waiting connection goes on the poller until its head deadline; one that closed, or was
        answered 408 or 431, is closed.
        """
        try:
            ready = self._gather_head(conn)
        except OSError:
            ready = None  # reset or gone: nothing to answer
        if ready:
            conn.data_ready = True
            self.enqueue_req(conn)
        elif ready is None:
            self.nr_conns -= 1
            conn.close()
        else:
            assert conn.head_deadline is not None  # set by _gather_head for a head still coming
            conn.sock.setblocking(False)
            conn.timeout = conn.head_deadline
            self.pending_conns.append(conn)
            self.poller.register(conn.sock, selectors.EVENT_READ, partial(self.on_pending_socket_readable, conn))

    def handle(self, conn: Any) -> Any:
        """Serve a request once its head is whole and its address has a thread to spare.

        Until the head is whole the connection goes back to the poller; until the
        address has room it is parked (see :meth:`finish_request`).
        """
        requestids.current.set(None)  # this thread's last request is over: its id must not mark what follows
        if not isinstance(conn, _Conn) or not self._gathers_heads():
            return super().handle(conn)
        try:
            ready = self._gather_head(conn)
        except OSError:
            return False  # reset or gone: nothing to answer
        if ready is None:
            return False
        if not ready:
            return gthread._DEFER
        if not conn.held or conn.key is None:
            return super().handle(conn)
        key: str = conn.key
        if not self.busy.enter(key):
            return _PARK
        try:
            return super().handle(conn)
        finally:
            self.busy.leave(key)

    def _gather_head(self, conn: _Conn) -> bool | None:
        """Read what the socket holds towards a whole head: True when whole, False for more, None when closed.

        Answers 408 (past the deadline) or 431 (too large) itself, returning None.
        """
        if conn.head_deadline is None:
            conn.head_deadline = time.monotonic() + self.limits.header_timeout
        conn.init()
        conn.head += conn.parser.unreader.take_buffered()
        conn.sock.setblocking(False)
        try:
            while head_end(conn.head, conn.searched) < 0 and len(conn.head) <= MAX_HEAD_BYTES:
                conn.searched = len(conn.head)
                try:
                    data = conn.sock.recv(65536)
                except BlockingIOError:
                    break
                if not data:
                    return None
                conn.head += data
        finally:
            conn.sock.setblocking(True)
        if head_end(conn.head, conn.searched) >= 0:
            conn.parser.unreader.unread(bytes(conn.head))
            conn.head.clear()
            conn.searched = 0
            conn.head_deadline = None
            return True
        if len(conn.head) > MAX_HEAD_BYTES:
            refuse(conn.sock, HEADERS_TOO_LARGE, close=False)
            return None
        if time.monotonic() >= conn.head_deadline:
            refuse(conn.sock, head_timeout(self.limits.header_timeout), close=False)
            return None
        return False

    def finish_request(self, conn: Any, fs: Any) -> None:
        """After a thread: park a connection that found its address busy, else let gunicorn go on.

        A connection waiting for the rest of its head waits until its head deadline,
        not the keepalive. Whenever a request ends, parked connections whose address
        now has room are handed to the threads again, as many as the room.
        """
        if not fs.cancelled() and fs.exception() is None and fs.result() is _PARK:
            conn.parked_until = time.monotonic() + PARK_SECONDS
            self.parked.append(conn)
        else:
            super().finish_request(conn, fs)
            if isinstance(conn, _Conn) and conn.head_deadline is not None and self.pending_conns:
                if self.pending_conns[-1] is conn:
                    conn.timeout = conn.head_deadline
        self._unpark()

    def _unpark(self) -> None:
        room: dict[str, int] = {}
        for conn in list(self.parked):
            key = str(conn.key)  # parked connections are held ones, which have an address
            if key not in room:
                room[key] = self.busy.room(key)
            if room[key] > 0:
                room[key] -= 1
                self.parked.remove(conn)
                self.enqueue_req(conn)

    def murder_pending(self) -> None:
        """Close the connections whose head did not come in time, answering 408 to those that sent part of one.

        Deadlines differ per connection, so the whole queue is searched, not just its head.
        """
        now = time.monotonic()
        for conn in [c for c in self.pending_conns if c.timeout <= now]:
            self.pending_conns.remove(conn)
            try:
                self.poller.unregister(conn.sock)
            except (OSError, KeyError, ValueError):
                pass  # already unregistered
            self.nr_conns -= 1
            if isinstance(conn, _Conn) and conn.head:
                log.info("request head timed out", extra={"kv": {"status": 408, "error": "header_timeout"}})
                refuse(conn.sock, head_timeout(self.limits.header_timeout), close=False)
            conn.close()
        for conn in [c for c in self.parked if c.parked_until <= now]:
            self.parked.remove(conn)
            self.nr_conns -= 1
            log.warning("request refused", extra={"kv": {"status": 503, "error": "address_busy"}})
            refuse(conn.sock, busy_address(PARK_SECONDS), close=False)
            conn.close()

    def handle_error(self, req: Any, client: socket.socket, addr: Any, exc: BaseException) -> None:
        answer = edge_answer(exc)
        if answer.status >= 500:
            log.error("request failed outside the application", exc_info=exc)
        else:
            log.warning("request refused", extra={"kv": {"status": answer.status, "error": answer.code}})
        try:
            util.write_nonblock(client, answer.render())
        except OSError:
            log.debug("the refused client was gone before its answer")
