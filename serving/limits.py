"""How long a request head may take to arrive, and how many connections one address may hold open.

gunicorn's threaded worker reads a request head in a thread with a blocking socket
and no deadline, and accepts every connection up to ``worker_connections``: a
client that sends its headers a byte at a time, or opens hundreds of connections
and sends nothing, holds the threads and the connection slots every other client
needs. The worker in :mod:`.edges` gathers heads without holding a thread, closes a
connection whose head is not whole within :attr:`EdgeLimits.header_timeout`, and
refuses a connection beyond :attr:`EdgeLimits.per_address` from one address. This
module is the pure part: the limits, the counting and the head framing.
"""

from __future__ import annotations

import ipaddress
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

DEFAULT_HEADER_TIMEOUT = 10.0
"""Seconds from accepting a connection (or from the first byte of a kept-alive connection's next
request) to a whole request head: far above any real client, short enough that a trickler soon goes."""

DEFAULT_CONNECTIONS_PER_ADDRESS = 64
"""Connections one address may hold open in one worker: a browser opens 6 to a host and the CLI
about 16; an office behind one NAT address may need more (raise it), a trusted proxy is exempt."""

PARK_SECONDS = 60.0
"""Seconds a request with a whole head may wait for its address to have a thread free: waiting holds no
thread, and a slow upload from the same address may take this long to end."""

MAX_HEAD_BYTES = 80 * 1024
"""Bytes gathered while waiting for the end of a head: both programs refuse heads over 8 KiB anyway."""

IPV6_CLIENT_PREFIX = 64
"""The IPv6 prefix one client is held to: a provider hands each customer at least a /64."""


def _never(address: str) -> bool:
    return False


@dataclass(frozen=True)
class EdgeLimits:
    """The limits the worker enforces before a request reaches the application."""

    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    per_address: int = DEFAULT_CONNECTIONS_PER_ADDRESS
    """0: no cap."""
    exempt: Callable[[str], bool] = field(default=_never)
    """Addresses the cap does not apply to (the reverse proxies every client arrives through)."""

    def __post_init__(self) -> None:
        if not 0 < self.header_timeout <= 3600:
            raise ValueError("header_timeout must be more than 0 and at most 3600 seconds")
        if self.per_address < 0:
            raise ValueError("connections_per_address must be 0 (no cap) or more")


def client_key(address: str) -> str:
    """Return what per-address limits count *address* as: an IPv6 address's /64, an IPv4 address itself.

    SECURITY: one host gets a whole /64 from its provider and may send from any of its 2^64
    addresses; counting each alone would let it sidestep every per-address limit. An IPv4
    address written as IPv6 (``::ffff:192.0.2.1``) is the IPv4 address it carries. Text that
    is no address (``-``) is its own key.
    """
    try:
        ip = ipaddress.ip_address(address.strip("[]").split("%", 1)[0])
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, IPV6_CLIENT_PREFIX), strict=False))
    return str(ip)


def address_key(peer: object) -> str | None:
    """Return what the per-address cap counts *peer* (a socket's peer address) as, or None for no cap.

    A Unix socket peer, or anything else that is no IP address, has no address and is not counted.
    """
    if not isinstance(peer, tuple) or not peer or not isinstance(peer[0], str):
        return None
    return client_key(peer[0]) if _is_ip(peer[0]) else None


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return False
    return True


class OpenConnections:
    """Count the connections open per address, and say whether one more may be taken.

    Used from the worker's main thread only (accept and close both run there).
    """

    def __init__(self, limits: EdgeLimits):
        self.limits = limits
        self._open: Counter[str] = Counter()

    def take(self, key: str | None, host: str = "") -> bool:
        """Count a new connection from *key* (*host* the peer's own address); False if the address is at its cap.

        A refused connection is not counted.
        """
        if key is None:
            return True
        cap = self.limits.per_address
        if cap and self._open[key] >= cap and not self.limits.exempt(host):
            return False
        self._open[key] += 1
        return True

    def release(self, key: str | None) -> None:
        """Forget one closed connection from *key*."""
        if key is None or not self._open[key]:
            return
        self._open[key] -= 1
        if not self._open[key]:
            del self._open[key]

    def count(self, key: str) -> int:
        return self._open[key]


class BusyAddresses:
    """Count the requests each address has in the worker's threads, and hold each to half of them.

    A body that keeps moving, however slowly, never trips the idle body timeout, so
    without this one address could hold every thread with a few slow uploads. Threads
    enter and leave; the worker's main thread asks for room, hence the lock. The cap
    follows the per-address connection cap: none when that is off or for an exempt proxy.
    """

    def __init__(self, limits: EdgeLimits, threads: int):
        self.limits = limits
        self.cap = max(1, threads // 2)
        self._busy: Counter[str] = Counter()
        self._lock = threading.Lock()

    def counts(self, key: str | None, host: str) -> bool:
        """Return whether requests from *key* are held to the cap at all."""
        return key is not None and bool(self.limits.per_address) and not self.limits.exempt(host)

    def enter(self, key: str) -> bool:
        """Take a thread for a request of *key*; False (and nothing taken) if it already has its share."""
        with self._lock:
            if self._busy[key] >= self.cap:
                return False
            self._busy[key] += 1
            return True

    def leave(self, key: str) -> None:
        with self._lock:
            self._busy[key] -= 1
            if self._busy[key] <= 0:
                del self._busy[key]

    def room(self, key: str) -> int:
        """Return how many more requests of *key* may take a thread now."""
        with self._lock:
            return max(0, self.cap - self._busy[key])


def head_end(buffer: bytes | bytearray, searched: int = 0) -> int:
    """Return the offset just past the blank line ending a request head in *buffer*, or -1 if none yet.

    *searched* is how many leading bytes were already searched, so that a head
    arriving a byte at a time costs linear, not quadratic, time. A bare-LF blank
    line counts too: the parser then decides whether the head is valid.
    """
    start = max(0, searched - 3)
    ends = [(at + len(mark)) for mark in (b"\r\n\r\n", b"\n\n") if (at := buffer.find(mark, start)) >= 0]
    return min(ends) if ends else -1
