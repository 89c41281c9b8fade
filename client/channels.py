"""What a transfer needs from the server while it runs: tickets, and the shard's live fileservers.

A channel holds the current tickets of one file and feeds the server's live list
to a :class:`~client.placement.Balancer`. Workers share it: a ticket that a
fileserver refuses as expired or revoked is renewed once for all of them (the
``generation`` a worker saw tells whether someone already did), and the live list
is asked for again when every fileserver is failing, at once the first time and
then at most once per :data:`REFRESH_INTERVAL`.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable
from typing import Any

from . import errors
from .api import ServerClient
from .placement import Balancer, FileserverInfo
from .transfer_http import call

REFRESH_INTERVAL = 1.0


class Stopped(Exception):
    """The transfer is being abandoned: a worker gives up between attempts."""


class _Channel:
    def __init__(self, api: ServerClient, file_id: str, shard: str, balancer: Balancer, clock: Callable[[], float]):
        self._api = api
        self._file_id = file_id
        self._shard = shard
        self._balancer = balancer
        self._clock = clock
        self._lock = threading.Lock()
        self.generation = 0
        self._fetch()
        self._refreshed = -math.inf

    def _fetch(self) -> None:
        raise NotImplementedError

    def _refresh(self) -> None:
        self._fetch()

    def _tickets(self, op: str) -> dict[str, Any]:
        answer: dict[str, Any] = call(self._api, "POST", f"/api/files/{self._file_id}/tickets", {"op": op}, retry=True)
        self.generation += 1
        return answer

    def _offer(self, listed: Iterable[dict[str, Any]], none_live: str) -> None:
        servers = [FileserverInfo.from_json(s) for s in listed]
        if not servers:
            raise errors.NoLiveFileserver(none_live)
        self._balancer.update(servers)
        self._refreshed = self._clock()

    def renew(self, seen: int) -> None:
        """Fetch fresh tickets unless another worker already did since generation *seen*."""
        with self._lock:
            if self.generation == seen:
                self._fetch()

    def refresh_servers(self) -> None:
        """Ask the server for the live list again, unless that was done less than REFRESH_INTERVAL ago."""
        with self._lock:
            if self._clock() - self._refreshed >= REFRESH_INTERVAL:
                self._refresh()


class PutChannel(_Channel):
    """The file's put ticket and the shard's live writers."""

    ticket: str

    def _fetch(self) -> None:
        answer = self._tickets("put")
        self.ticket = answer["tickets"][0]["ticket"]  # SECURITY: a bearer capability until it expires
        self._offer(
            answer["fileservers"],
            f"no live fileserver can take shard {self._shard!r}: start one whose cluster may write to it, "
            "or see `coffer admin fileservers`",
        )


class GetChannel(_Channel):
    """Get tickets by chunk hash (32 chunks per ticket) and the shard's live readers."""

    tickets: dict[str, str]

    def _fetch(self) -> None:
        answer = self._tickets("get")
        self.tickets = {h: t["ticket"] for t in answer["tickets"] for h in t["chunks"]}  # SECURITY: capabilities
        self._offer(answer["fileservers"], self._none_live())

    def _refresh(self) -> None:
        self._offer(call(self._api, "GET", f"/api/shards/{self._shard}/fileservers?op=read"), self._none_live())

    def _none_live(self) -> str:
        return f"no live fileserver can serve shard {self._shard!r}: start one whose cluster may read it"
