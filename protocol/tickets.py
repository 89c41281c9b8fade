"""Transfer tickets: the server's signed permission to move chunks of one file.

A fileserver checks a ticket with the server's public key alone, so the data
path needs no round trip to the server per chunk. A ticket names:

- ``op``: ``put`` (store chunks of the file) or ``get`` (read them);
- ``file`` and ``shard``: the file it is for and the shard that holds it;
- ``chunks``: for ``get``, the chunk hashes it may read (at most
  :data:`MAX_TICKET_CHUNKS`, so a ticket fits in one HTTP header);
- ``max_bytes``: for ``put``, the largest chunk body it may store;
- ``max_chunks`` and ``max_total``: for ``put``, the chunk count and the ciphertext
  bytes the file declared when it was created. A fileserver stores no more than
  that for the file, counting what it already holds of it, so a pending upload
  cannot store more than the quota reserved for it (0 on a get ticket);
- ``iat``/``exp``: issue and expiry time (Unix seconds); ``jti``: its id, so the
  server can revoke it; ``sub``: the user, or the share link, it was issued to (for logs and audit);
- ``v`` and ``kid``: format version and the server key that signed it.

Tickets travel in the ``Authorization: Ticket <token>`` header, so
:data:`MAX_TOKEN_LENGTH` fits the largest ticket (a test pins it) with room
to spare under the fileserver's header limit.

SECURITY: a ticket is a bearer capability until it expires; keep lifetimes short.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from . import PROTOCOL_VERSION
from .errors import ProtocolError
from .ids import check_chunk_hash, check_id, check_name
from .signing import MAX_FIGURE, SignatureInvalid, SigningKey, TokenMalformed, open_token, peek_token

KIND = "ticket"
MAX_TICKET_CHUNKS = 32
MAX_TOKEN_LENGTH = 4096
"""The largest ticket (a get of MAX_TICKET_CHUNKS chunks) is about 3.4 KiB; a header may hold 8 KiB in all."""
CLOCK_SKEW = 30
Op = Literal["put", "get"]


class TicketError(ProtocolError):
    """A ticket does not allow this transfer."""

    code = "ticket_invalid"
    status = 401


class TicketExpired(TicketError):
    code = "ticket_expired"


class TicketUnknownKey(TicketError):
    code = "ticket_unknown_key"


class TicketScope(TicketError):
    """The ticket is genuine but for another file, shard, chunk or operation."""

    code = "ticket_scope"
    status = 403


class TicketRevoked(TicketError):
    code = "ticket_revoked"


class UploadExceedsDeclared(TicketError):
    """The chunk would take the file past the chunk count or bytes it declared, on this fileserver."""

    code = "upload_exceeds_declared"
    status = 413


@dataclass(frozen=True)
class Ticket:
    op: Op
    file: str
    shard: str
    sub: str
    iat: int
    exp: int
    jti: str
    chunks: tuple[str, ...] = ()
    max_bytes: int = 0
    max_chunks: int = 0
    max_total: int = 0
    kid: str = ""

    def payload(self) -> dict[str, Any]:
        return {
            "v": PROTOCOL_VERSION,
            "kid": self.kid,
            "op": self.op,
            "file": self.file,
            "shard": self.shard,
            "sub": self.sub,
            "iat": self.iat,
            "exp": self.exp,
            "jti": self.jti,
            "chunks": list(self.chunks),
            "max_bytes": self.max_bytes,
            "max_chunks": self.max_chunks,
            "max_total": self.max_total,
        }

    def require(self, op: Op, shard: str, file: str, chunk: str | None = None) -> None:
        """Raise :class:`TicketScope` unless this ticket covers the named transfer."""
        if self.op != op:
            raise TicketScope(f"this ticket is for '{self.op}', not '{op}'")
        if self.shard != shard:
            raise TicketScope("this ticket is for another shard")
        if self.file != file:
            raise TicketScope("this ticket is for another file")
        if op == "get" and chunk is not None and chunk not in self.chunks:
            raise TicketScope("this ticket does not cover that chunk")

    def require_room(self, stored_chunks: int, stored_bytes: int, size: int) -> None:
        """Raise :class:`UploadExceedsDeclared` unless one more chunk of *size* bytes fits the declaration.

        *stored_chunks* and *stored_bytes* are what this fileserver already holds of
        the file, not counting the chunk itself.

        SECURITY: without this bound one put ticket could fill a disk while the
        quota counts only the size the file declared.
        """
        if stored_chunks + 1 > self.max_chunks:
            raise UploadExceedsDeclared(
                f"this fileserver already holds {stored_chunks} chunks of the file, which declared "
                f"{self.max_chunks}: nothing was stored. An earlier, interrupted run may have left chunks here; "
                "send this one to another fileserver, or delete the file and upload it again"
            )
        if stored_bytes + size > self.max_total:
            raise UploadExceedsDeclared(
                f"this chunk of {size} bytes would take the file to {stored_bytes + size} bytes on this fileserver, "
                f"past the {self.max_total} it declared: nothing was stored. An earlier, interrupted run may have "
                "left chunks here; send this one to another fileserver, or delete the file and upload it again "
                "with its real size"
            )


def issue(key: SigningKey, ticket: Ticket) -> str:
    """Sign *ticket* with the server's key; the kid is filled in from the key."""
    if len(ticket.chunks) > MAX_TICKET_CHUNKS or (ticket.op == "get" and not ticket.chunks):
        raise ValueError(f"a get ticket names 1..{MAX_TICKET_CHUNKS} chunks, a put ticket at most {MAX_TICKET_CHUNKS}")
    payload = ticket.payload() | {"kid": key.kid}
    return key.sign(KIND, payload, max_length=MAX_TOKEN_LENGTH)


def open_signed(kind: str, token: str, keys: dict[str, bytes], max_length: int, what: str) -> dict[str, Any]:
    """Return the payload of *token* if the key its kid names among *keys* signed it as *kind*.

    Transfer and copy tickets are read alike; *what* names the token in the errors.
    SECURITY: the kid only picks the key; the signature, under *kind*'s domain tag, decides.
    """
    try:
        kid = peek_token(token, max_length).get("kid")
    except TokenMalformed as exc:
        raise TicketError(f"malformed {what}: {exc.message}") from exc
    if not isinstance(kid, str) or kid not in keys:
        raise TicketUnknownKey(f"the {what} is signed by a key this fileserver does not trust")
    try:
        return open_token(kind, token, [keys[kid]], max_length)
    except (SignatureInvalid, TokenMalformed) as exc:
        raise TicketError(f"the {what} signature is forged or damaged") from exc


def verify(token: str, keys: dict[str, bytes], now: float) -> Ticket:
    """Return the ticket in *token* if a key in *keys* (by kid) signed it and it is current."""
    ticket = _parse(open_signed(KIND, token, keys, MAX_TOKEN_LENGTH, "ticket"))  # SECURITY
    if now > ticket.exp:
        raise TicketExpired(
            f"the ticket expired {math.ceil(now - ticket.exp)} s ago by this fileserver's clock: ask the server for "
            "a new one; if a fresh ticket is refused the same way, this fileserver's clock is ahead of the server's: "
            "keep both hosts in time with NTP"
        )
    if ticket.iat > now + CLOCK_SKEW:
        raise TicketError(
            f"the ticket is issued {math.ceil(ticket.iat - now)} s in the future by this fileserver's clock (at most "
            f"{CLOCK_SKEW} s is accepted): this fileserver's clock is behind the server's: keep both hosts in time "
            "with NTP"
        )
    return ticket


def _parse(payload: dict[str, Any]) -> Ticket:
    try:
        if type(payload["v"]) is not int or payload["v"] != PROTOCOL_VERSION:
            raise TicketError(f"unsupported ticket version {payload['v']!r}")
        op = payload["op"]
        if op not in ("put", "get"):
            raise TicketError("ticket op must be 'put' or 'get'")
        chunks = payload["chunks"]
        if not isinstance(chunks, list) or len(chunks) > MAX_TICKET_CHUNKS:
            raise TicketError("ticket chunk list is malformed")
        ints = [payload[k] for k in ("iat", "exp", "max_bytes", "max_chunks", "max_total")]
        if not all(isinstance(i, int) and not isinstance(i, bool) and 0 <= i <= MAX_FIGURE for i in ints):
            raise TicketError("ticket times and sizes must be non-negative 64-bit integers")
        return Ticket(
            op=op,
            file=check_id(payload["file"], "file_id"),
            shard=check_name(payload["shard"], "shard"),
            sub=check_id(payload["sub"], "user_id"),
            iat=payload["iat"],
            exp=payload["exp"],
            jti=check_id(payload["jti"], "ticket_id"),
            chunks=tuple(check_chunk_hash(c) for c in chunks),
            max_bytes=payload["max_bytes"],
            max_chunks=payload["max_chunks"],
            max_total=payload["max_total"],
            kid=payload["kid"],
        )
    except KeyError as exc:
        raise TicketError(f"ticket lacks field {exc.args[0]!r}") from exc
    except ProtocolError as exc:
        if isinstance(exc, TicketError):
            raise
        raise TicketError(f"ticket field is malformed: {exc.message}") from exc
