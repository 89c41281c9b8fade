"""Admit a transfer on the strength of its ticket: signed by the server, current, and not revoked.

SECURITY: this is the fileserver's only access check. A ticket is verified with the
server's public key alone (no call to the server), then checked against the
revocation list the agent keeps current; the resource then checks its scope.
"""

from __future__ import annotations

from collections.abc import Callable

from coffer.protocol import routes, tickets, wire
from coffer.protocol.tickets import Ticket, TicketRevoked

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
    def __init__(self, keys: dict[str, bytes], revocations: RevocationList, clock: Callable[[], float]):
        self._keys = keys  # SECURITY: kid -> the server's ticket public key
        self._revocations = revocations
        self._clock = clock

    def admit(self, authorization: str | None) -> Ticket:
        """Return the ticket in the header if it is genuine, current and not revoked."""
        ticket = tickets.verify(token_from_header(authorization), self._keys, self._clock())  # SECURITY
        if self._revocations.is_revoked(ticket):  # SECURITY
            raise TicketRevoked(f"this ticket was revoked by the server: {_HOW}")
        return ticket
