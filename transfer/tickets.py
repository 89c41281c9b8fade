"""Say what the transfer engine needs from whoever grants its tickets, so that any grantor can plug in.

A ticket is a capability the server signed for chunks of one file; a fileserver
checks it on every request. The engine never asks the server for one itself: the
client's channels (a user's file, a link download) grant them today, and a
fileserver's copy tickets will. A source is shared by the workers of one transfer,
so a ticket refused as expired is renewed once for all of them.

SECURITY: a ticket is a bearer capability until it expires. The engine sends it to
fileservers in the ``Authorization`` header only (:mod:`coffer.transfer.http`) and
never logs it.
"""

from __future__ import annotations

from typing import Protocol


class TicketSource(Protocol):
    """The tickets of one transfer, renewed on demand, and the live fileservers they may be used on."""

    @property
    def generation(self) -> int:
        """Count the ticket fetches so far: a worker hands the one it saw to :meth:`renew`."""
        ...

    def ticket_for(self, chunk_hash: str) -> str:
        """Return the ticket that lets this transfer move chunk *chunk_hash*, or '' if none does."""
        ...

    def renew(self, seen: int) -> None:
        """Fetch fresh tickets, unless another worker already did since generation *seen*."""
        ...

    def refresh_servers(self) -> None:
        """Give the balancer the live fileservers again (at most so often): every one the engine knows is failing."""
        ...
