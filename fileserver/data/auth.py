"""Admit a transfer on the strength of its ticket: signed by the server, current, and not revoked.

SECURITY: this is the fileserver's only access check. A ticket is verified with the
server's public key alone (no call to the server), then checked against the
revocation list the agent keeps current; the resource then checks its scope.
"""

from __future__ import annotations

from collections.abc import Callable

from coffer.protocol import copies, routes, tickets, wire
from coffer.protocol.tickets import Ticket, TicketRevoked, TicketScope

from ..errors import TicketMissing
from ..revocations import RevocationList

_HOW = f"ask the server for one (POST {routes.file_tickets('FILE_ID')})"


def token_from_header(value: str | None) -> str:
    """Return the token of an ``Authorization: Ticket <token>`` header."""
    if not value or not value.strip():
        raise TicketMissing(f"this transfer needs an 'Authorization: {wire.TICKET_SCHEME} <ticket>' header: {_HOW}")
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != wire.TICKET_SCHEME.lower() or not token.strip():
        raise TicketMissing(f"the Authorization header must be '{wire.TICKET_SCHEME} <ticket>': {_HOW}")
    return token.strip()


class TicketGate:
    def __init__(
        self,
        keys: dict[str, bytes],
        revocations: RevocationList,
        clock: Callable[[], float],
        fileserver_id: str | None = None,
    ):
        self._keys = keys  # SECURITY: kid -> the server's ticket public key
        self._revocations = revocations
        self._clock = clock
        self._fileserver_id = fileserver_id
        """This fileserver's id: a copy ticket is honoured only by the source it names."""

    def admit(self, authorization: str | None) -> Ticket:
        """Return the ticket in the header if it is genuine, current and not revoked.

        A copy ticket (a peer repairing a chunk) is admitted as the get ticket of its one
        chunk, by the source fileserver it names alone.
        """
        token = token_from_header(authorization)
        if copies.is_copy_ticket(token):
            copy = copies.verify(token, self._keys, self._clock())  # SECURITY
            if copy.source != self._fileserver_id:
                raise TicketScope("this copy ticket is for another source fileserver")
            ticket = copy.as_get()
        else:
            ticket = tickets.verify(token, self._keys, self._clock())  # SECURITY
        if self._revocations.is_revoked(ticket):  # SECURITY
            raise TicketRevoked(f"this ticket was revoked by the server: {_HOW}")
        return ticket
