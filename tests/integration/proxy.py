"""A TCP proxy on 127.0.0.1 that can lose the answer to a chosen request, as a dying server or network does.

It forwards bytes both ways, one thread per direction. Once a client sends bytes
containing a marker (``/finalize``), the next bytes the server sends back on that
connection (its answer, as HTTP/1.1 answers in order) are dropped and both sides
closed: the server acted, the client never hears of it. With ``down_after_loss`` the
proxy then refuses every connection, as a server that died right after acting.
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass, field


@dataclass
class LosingProxy:
    target_port: int
    lose_answer_to: bytes = b""
    """Drop the answer to the next request whose bytes contain this (empty: drop nothing)."""
    down_after_loss: bool = False
    """After dropping an answer, refuse every connection, as a server that died after acting."""
    lost: int = 0
    """How many answers were dropped."""
    _listener: socket.socket = field(default_factory=socket.socket)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _sockets: list[socket.socket] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        threading.Thread(target=self._accept, daemon=True, name="proxy-accept").start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def close(self) -> None:
        with self._lock:
            for s in [self._listener, *self._sockets]:
                s.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self.lost and self.down_after_loss:
                _shut(client)
                client.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=30)
            with self._lock:
                self._sockets += [client, upstream]
            doomed = threading.Event()
            threading.Thread(target=self._requests, args=(client, upstream, doomed), daemon=True).start()
            threading.Thread(target=self._answers, args=(upstream, client, doomed), daemon=True).start()

    def _requests(self, client: socket.socket, upstream: socket.socket, doomed: threading.Event) -> None:
        try:
            while data := client.recv(65536):
                with self._lock:
                    if self.lose_answer_to and self.lose_answer_to in data:
                        self.lose_answer_to = b""
                        doomed.set()
                upstream.sendall(data)
        except OSError:
            pass
        finally:
            _shut(upstream)

    def _answers(self, upstream: socket.socket, client: socket.socket, doomed: threading.Event) -> None:
        try:
            while data := upstream.recv(65536):
                if doomed.is_set():
                    with self._lock:
                        self.lost += 1
                    break
                client.sendall(data)
        except OSError:
            pass
        finally:
            _shut(client)
            _shut(upstream)


def _shut(s: socket.socket) -> None:
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
