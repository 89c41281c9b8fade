"""Repair copies: the server's copy tickets and orders, and what a fileserver reports back.

When a chunk is kept on fewer fileservers than its shard's ``copies``, the server
hands a live fileserver of the shard that lacks it a :class:`CopyOrder` in a heartbeat
answer. The order carries a **copy ticket**: a token the server signs (kind ``copy``,
so no other token can pass for one) that lets exactly that fileserver (``target``)
read exactly that chunk from exactly one holder (``source``) for a few minutes. The
source checks it with the server's public key, as it checks any ticket, and serves
the chunk as to a get ticket naming that one chunk; a revocation of the file covers it.

The target fetches the chunk, checks its size and hash as it stores it, and reports a
signed receipt in a later beat (``copied``), which the server records as a location;
or a :class:`CopyFailure` (``copy_failed``), after which the server picks another source.

Size: :data:`MAX_TOKEN_LENGTH` fits the largest copy ticket (a test pins it), a few
hundred characters; orders and reports per beat are capped so the largest beat and
answer stay under the cluster request cap and the JSON body limit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from . import PROTOCOL_VERSION
from .encoding import DecodeError
from .errors import ProtocolError
from .ids import check_chunk_hash, check_id, check_name
from .signing import MAX_FIGURE, SigningKey, TokenMalformed, peek_token
from .tickets import CLOCK_SKEW, Ticket, TicketError, TicketExpired, open_signed

KIND = "copy"
MAX_TOKEN_LENGTH = 800
"""The largest copy ticket (longest names, 64-bit figures) is about 690 characters."""
MAX_COPY_ORDERS = 32
"""Copy orders in one heartbeat answer: with ``repair_batch`` the bound on how fast one fileserver copies."""
MAX_COPY_REPORTS = 24
"""Copy receipts, and copy failures, in one heartbeat; a fileserver keeps the rest for the next beats."""
MAX_URL = 2048
FailureReason = Literal["corrupt", "unreachable"]
REASONS: tuple[FailureReason, ...] = ("corrupt", "unreachable")


@dataclass(frozen=True)
class CopyTicket:
    """Fileserver ``target`` may read chunk ``chunk`` (``size`` bytes) of ``file`` in ``shard`` from ``source``.

    SECURITY: a bearer capability until ``exp``, like any ticket; it names one chunk only.
    """

    target: str
    source: str
    shard: str
    file: str
    chunk: str
    size: int
    iat: int
    exp: int
    jti: str
    kid: str = ""

    def payload(self) -> dict[str, Any]:
        return {
            "v": PROTOCOL_VERSION,
            "kid": self.kid,
            "target": self.target,
            "source": self.source,
            "shard": self.shard,
            "file": self.file,
            "chunk": self.chunk,
            "size": self.size,
            "iat": self.iat,
            "exp": self.exp,
            "jti": self.jti,
        }

    def as_get(self) -> Ticket:
        """Return the get ticket this copy ticket amounts to at its source: one chunk, read only."""
        return Ticket(
            op="get",
            file=self.file,
            shard=self.shard,
            sub=self.target,
            iat=self.iat,
            exp=self.exp,
            jti=self.jti,
            chunks=(self.chunk,),
            kid=self.kid,
        )


def issue(key: SigningKey, ticket: CopyTicket) -> str:
    """Sign *ticket* with the server's key (its kid filled in). SECURITY: the server alone does this."""
    return key.sign(KIND, ticket.payload() | {"kid": key.kid}, max_length=MAX_TOKEN_LENGTH)


def is_copy_ticket(token: str) -> bool:
    """Tell a copy ticket from a transfer ticket by its fields, to pick how to check it (nothing is trusted yet)."""
    try:
        return "target" in peek_token(token, max(MAX_TOKEN_LENGTH, 4096))
    except (TokenMalformed, DecodeError):
        return False


def verify(token: str, keys: dict[str, bytes], now: float) -> CopyTicket:
    """Return the copy ticket in *token* if a key in *keys* (by kid) signed it as one and it is current."""
    ticket = _parse(open_signed(KIND, token, keys, MAX_TOKEN_LENGTH, "copy ticket"))  # SECURITY
    if now > ticket.exp:
        raise TicketExpired(f"the copy ticket expired {math.ceil(now - ticket.exp)} s ago by this fileserver's clock")
    if ticket.iat > now + CLOCK_SKEW:
        raise TicketError("the copy ticket is issued in the future by this fileserver's clock: keep hosts in NTP time")
    return ticket


def _figure(payload: dict[str, Any], key: str) -> int:
    value = payload[key]
    if type(value) is not int or not 0 <= value <= MAX_FIGURE:
        raise TicketError("copy ticket times and sizes must be non-negative 64-bit integers")
    return value


def _parse(payload: dict[str, Any]) -> CopyTicket:
    try:
        if type(payload["v"]) is not int or payload["v"] != PROTOCOL_VERSION:
            raise TicketError(f"unsupported copy ticket version {payload['v']!r}")
        return CopyTicket(
            target=check_id(payload["target"], "fileserver_id"),
            source=check_id(payload["source"], "fileserver_id"),
            shard=check_name(payload["shard"], "shard"),
            file=check_id(payload["file"], "file_id"),
            chunk=check_chunk_hash(payload["chunk"]),
            size=_figure(payload, "size"),
            iat=_figure(payload, "iat"),
            exp=_figure(payload, "exp"),
            jti=check_id(payload["jti"], "ticket_id"),
            kid=str(payload["kid"]),
        )
    except KeyError as exc:
        raise TicketError(f"copy ticket lacks field {exc.args[0]!r}") from exc
    except ProtocolError as exc:
        if isinstance(exc, TicketError):
            raise
        raise TicketError(f"copy ticket field is malformed: {exc.message}") from exc


def _int(body: dict[str, Any], key: str) -> int:
    value = body.get(key)
    if type(value) is not int or not 0 <= value <= MAX_FIGURE:
        raise ProtocolError(f"'{key}' must be a non-negative 64-bit integer")
    return value


@dataclass(frozen=True)
class CopyOrder:
    """Copy chunk ``chunk`` of ``file`` (``size`` bytes, shard ``shard``) from the fileserver at ``source_url``."""

    shard: str
    file: str
    chunk: str
    size: int
    source: str
    """The source fileserver's id: a failure report names it, so the server tries another."""
    source_url: str
    ticket: str
    """SECURITY: the copy ticket, a bearer capability; never logged."""
    bandwidth: int = 0
    """Bytes per second the target's cluster may fetch for this shard (its link's cap); 0: no cap."""

    def to_json(self) -> dict[str, Any]:
        return {
            "shard": self.shard,
            "file": self.file,
            "chunk": self.chunk,
            "size": self.size,
            "source": self.source,
            "source_url": self.source_url,
            "ticket": self.ticket,
            "bandwidth": self.bandwidth,
        }


def parse_orders(value: object) -> list[CopyOrder]:
    """Read the copy orders of a heartbeat answer (absent from an older server: none)."""
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_COPY_ORDERS:
        raise ProtocolError(f"'copy' must be a list of at most {MAX_COPY_ORDERS} orders")
    orders = []
    for item in value:
        if not isinstance(item, dict):
            raise ProtocolError("each copy order must be an object")
        url, ticket = item.get("source_url"), item.get("ticket")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")) or len(url) > MAX_URL:
            raise ProtocolError("a copy order's 'source_url' must be an http(s) address")
        if not isinstance(ticket, str) or not 0 < len(ticket) <= MAX_TOKEN_LENGTH:
            raise ProtocolError("a copy order's 'ticket' is malformed")
        orders.append(
            CopyOrder(
                shard=check_name(item.get("shard"), "shard"),
                file=check_id(item.get("file"), "file"),
                chunk=check_chunk_hash(item.get("chunk")),
                size=_int(item, "size"),
                source=check_id(item.get("source"), "fileserver_id"),
                source_url=url,
                ticket=ticket,
                bandwidth=_int(item, "bandwidth") if "bandwidth" in item else 0,
            )
        )
    return orders


@dataclass(frozen=True)
class CopyFailure:
    """A copy order that failed: the source sent bytes that do not hash to the chunk, or could not be read."""

    file: str
    chunk: str
    source: str
    reason: FailureReason

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "chunk": self.chunk, "source": self.source, "reason": self.reason}


def parse_failures(value: object) -> list[CopyFailure]:
    if not isinstance(value, list) or len(value) > MAX_COPY_REPORTS:
        raise ProtocolError(f"'copy_failed' must be a list of at most {MAX_COPY_REPORTS} reports")
    failures = []
    for item in value:
        if not isinstance(item, dict) or item.get("reason") not in REASONS:
            raise ProtocolError(f"each copy failure must be an object with a 'reason' of {', '.join(REASONS)}")
        failures.append(
            CopyFailure(
                file=check_id(item.get("file"), "file"),
                chunk=check_chunk_hash(item.get("chunk")),
                source=check_id(item.get("source"), "fileserver_id"),
                reason=item["reason"],
            )
        )
    return failures


def parse_copied(value: object, receipt_cap: int) -> list[str]:
    """Read the receipts of chunks copied since the last beat (checked against the fileserver's key later)."""
    if not isinstance(value, list) or len(value) > MAX_COPY_REPORTS:
        raise ProtocolError(f"'copied' must be a list of at most {MAX_COPY_REPORTS} receipts")
    if not all(isinstance(r, str) and 0 < len(r) <= receipt_cap for r in value):
        raise ProtocolError(f"each of 'copied' must be a receipt of at most {receipt_cap} characters")
    return list(value)
