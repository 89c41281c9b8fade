"""What a transfer needs from the server while it runs: tickets, and the shard's live fileservers.

A channel holds the current tickets of one file and feeds the server's live list
to a :class:`~coffer.transfer.balancer.Balancer`: it is the transfer engine's
:class:`~coffer.transfer.tickets.TicketSource`. Workers share it: a ticket that a
fileserver refuses as expired or revoked is renewed once for all of them (the
``generation`` a worker saw tells whether someone already did), and the live list
is asked for again when every fileserver is failing, at once the first time and
then at most once per :data:`REFRESH_INTERVAL`.

:class:`PutChannel` serves an upload, :class:`GetChannel` a download by the file's
owner or a recipient, :class:`LinkChannel` a download by share link (no account).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable
from typing import Any

from coffer.protocol.api.tickets import LiveFileserver, TicketRequest, Tickets
from coffer.transfer.balancer import Balancer, FileserverInfo
from coffer.transfer.errors import NoLiveFileserver

from . import errors
from .api import ServerClient

REFRESH_INTERVAL = 1.0
RENEWAL_CHUNKS = 8192
"""Chunk hashes one link ticket renewal names at most (well inside a 1 MiB body); the earliest lacking first."""
DOWNLOAD_ENDED = frozenset({"download_not_found", "download_expired", "download_used_up"})
"""What the server says of a remembered link download id that gets no more tickets: start a new download."""


class _Channel:
    """Tickets and live fileservers for one shard; subclasses say where to ask for them."""

    def __init__(self, shard: str, balancer: Balancer, clock: Callable[[], float], first: Tickets | None = None):
        self._shard = shard
        self._balancer = balancer
        self._clock = clock
        self._lock = threading.Lock()
        self.generation = 0
        if first is None:
            self._fetch()
        else:
            self._take(first)  # answered with the file's create or record: no request of its own
        self._refreshed = -math.inf

    def _fetch(self) -> None:
        raise NotImplementedError

    def _take(self, answer: Tickets) -> None:
        """Keep the tickets and live fileservers of a ticket answer."""
        raise NotImplementedError

    def _refresh(self) -> None:
        self._fetch()

    def _offer(self, listed: Iterable[LiveFileserver], none_live: str) -> None:
        servers = [FileserverInfo.of(s) for s in listed]
        if not servers:
            raise NoLiveFileserver(none_live)
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
    copies: int = 1
    """Fileservers the shard keeps each chunk on, as the server said with the ticket: the finalize needs as many."""

    def __init__(
        self,
        api: ServerClient,
        file_id: str,
        shard: str,
        balancer: Balancer,
        clock: Callable[[], float],
        first: Tickets | None = None,
    ):
        self._api = api
        self._file_id = file_id
        super().__init__(shard, balancer, clock, first)

    def ticket_for(self, chunk_hash: str) -> str:
        """Return the put ticket: one ticket covers every chunk of the file."""
        return self.ticket

    def _fetch(self) -> None:
        self._take(self._api.tickets(self._file_id, TicketRequest("put")))

    def _take(self, answer: Tickets) -> None:
        self.generation += 1
        self.ticket = answer.tickets[0].ticket  # SECURITY: a bearer capability until it expires
        copies = answer.extra.get("copies", 1)  # an older server sends none: one copy
        self.copies = copies if isinstance(copies, int) and not isinstance(copies, bool) and 1 <= copies <= 8 else 1
        self._offer(
            answer.fileservers,
            f"no live fileserver can take shard {self._shard!r}: start one whose cluster may write to it, "
            "or see `coffer admin fileservers`",
        )


class ReadChannel(_Channel):
    """Get tickets by chunk hash (32 chunks per ticket) and the shard's live readers."""

    tickets: dict[str, str]
    still_needed: Callable[[], list[str]] | None = None
    """The chunks the download still lacks, from the downloader: a link download's renewals ask for no more."""

    def _take(self, answer: Tickets) -> None:
        """Keep the tickets and live readers of a ticket answer (file tickets and link downloads have one shape)."""
        self.generation += 1
        self.tickets = {h: t.ticket for t in answer.tickets for h in t.chunks}  # SECURITY: capabilities
        self._offer(answer.fileservers, self._none_live())

    def ticket_for(self, chunk_hash: str) -> str:
        """Return the get ticket that covers chunk *chunk_hash*, or '' (the fileserver then refuses it)."""
        return self.tickets.get(chunk_hash, "")

    def _none_live(self) -> str:
        return f"no live fileserver can serve shard {self._shard!r}: start one whose cluster may read it"


class GetChannel(ReadChannel):
    """Read a file as its owner or a recipient: tickets from the file, the live list from its shard."""

    def __init__(
        self,
        api: ServerClient,
        file_id: str,
        shard: str,
        balancer: Balancer,
        clock: Callable[[], float],
        *,
        still_needed: Callable[[], list[str]] | None = None,
        first: Tickets | None = None,
    ):
        self._api = api
        self._file_id = file_id
        self.still_needed = still_needed  # unused: a file's own tickets are not budgeted
        super().__init__(shard, balancer, clock, first)

    def _fetch(self) -> None:
        self._take(self._api.tickets(self._file_id, TicketRequest("get")))

    def _refresh(self) -> None:
        self._offer(self._api.shard_fileservers(self._shard, "read"), self._none_live())


class LinkChannel(ReadChannel):
    """Get tickets for a download by share link, which needs no account.

    The first fetch starts the download: ``POST /api/links/{id}/downloads`` counts it
    and answers with tickets and a download id (*on_started* keeps that id, so an
    interrupted download run again resumes without counting twice). Renewals and the
    live list come from ``POST /api/links/{id}/tickets`` with the download id, which
    counts nothing but is held to what one download needs, so a renewal asks only for
    the chunks still lacking; ``/api/shards`` is not asked, as it needs a login. A
    remembered download id that the server no longer knows, or whose tickets are used
    up, starts a new download.
    """

    def __init__(
        self,
        api: ServerClient,
        link_id: str,
        shard: str,
        balancer: Balancer,
        clock: Callable[[], float],
        *,
        download: str | None = None,
        on_started: Callable[[dict[str, Any]], None] = lambda answer: None,
        still_needed: Callable[[], list[str]] | None = None,
    ):
        self._api = api
        self._link_id = link_id
        self.download = download
        self._on_started = on_started
        self.still_needed = still_needed
        super().__init__(shard, balancer, clock)

    def _fetch(self) -> None:
        if self.download is not None:
            try:
                self._take(self._tickets(self.download))
                return
            except errors.NotFoundError as exc:
                if exc.code not in DOWNLOAD_ENDED or self.generation:
                    raise
        answer = self._api.start_link_download(self._link_id)
        self.download = str(answer.extra["download"])
        self._on_started(answer.to_json())
        self._take(answer)

    def _tickets(self, download: str) -> Tickets:
        """Ask for tickets for the chunks still lacking (the first of them, if too many for one request)."""
        needed = self.still_needed() if self.still_needed is not None else []
        if not needed:
            return self._api.link_tickets(self._link_id, download)
        return self._api.link_tickets(self._link_id, download, tuple(needed[:RENEWAL_CHUNKS]))

    def _refresh(self) -> None:
        self._fetch()
