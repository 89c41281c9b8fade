"""Nudges: the server tells a site's fileservers that copy work waits for them, so they beat now, not at their interval.

Copy orders reach a fileserver only in a heartbeat answer. When a file is finalized (or a
receipt is recorded) and another site lacks its chunks, the server POSTs a nudge to each
address of that site's live fileservers (``POST /api/nudge``, body ``{"nudge": token}``):
a token the server signs (kind ``nudge``, so no other token can pass for one) naming the
cluster (the site), valid for :data:`NUDGE_TTL` seconds. It names the cluster, not one
fileserver, because the planner hands a site's copies to whichever of its fileservers
beats first, and fileservers behind one load balancer share one address: the one the
balancer picks is the right one. The fileserver checks the token with the server's public
key, as it checks tickets, and that it is of that cluster; its agent beats at once, at
most one beat caused by nudges per ``NUDGE_GAP`` (``fileserver.agent.heartbeats``).

A nudge carries no order and no data: it only brings the next beat forward. A lost or
refused nudge costs a delay up to the heartbeat interval, never work. SECURITY: a captured
nudge replayed within its lifetime can make a fileserver of its cluster beat at most once
per gap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from . import PROTOCOL_VERSION
from .errors import ProtocolError
from .ids import check_id
from .signing import MAX_FIGURE, SigningKey
from .tickets import CLOCK_SKEW, TicketError, TicketExpired, TicketScope, open_signed

KIND = "nudge"
MAX_TOKEN_LENGTH = 400
"""A nudge token is about 250 characters."""
NUDGE_TTL = 30
"""Seconds a nudge is honoured after it was signed: long enough for a slow line, short against replays."""


@dataclass(frozen=True)
class Nudge:
    """The fileservers of cluster ``cluster`` have copy work waiting (signed at ``iat``, honoured until ``exp``)."""

    cluster: str
    iat: int
    exp: int
    kid: str = ""

    def payload(self) -> dict[str, Any]:
        return {"v": PROTOCOL_VERSION, "kid": self.kid, "cluster": self.cluster, "iat": self.iat, "exp": self.exp}


def issue(key: SigningKey, cluster: str, now: float) -> str:
    """Sign a nudge for the fileservers of *cluster*. SECURITY: the server alone does this, with its ticket key."""
    nudge = Nudge(cluster=cluster, iat=int(now), exp=int(now) + NUDGE_TTL)
    return key.sign(KIND, nudge.payload() | {"kid": key.kid}, max_length=MAX_TOKEN_LENGTH)


def verify(token: str, keys: dict[str, bytes], cluster_id: str, now: float) -> Nudge:
    """Return the nudge in *token* if a key in *keys* signed it for the cluster *cluster_id* and it is current."""
    nudge = _parse(open_signed(KIND, token, keys, MAX_TOKEN_LENGTH, "nudge"))  # SECURITY
    if nudge.cluster != cluster_id:
        raise TicketScope("this nudge is for the fileservers of another cluster")
    if now > nudge.exp:
        raise TicketExpired(f"the nudge expired {math.ceil(now - nudge.exp)} s ago by this fileserver's clock")
    if nudge.iat > now + CLOCK_SKEW:
        raise TicketError("the nudge is issued in the future by this fileserver's clock: keep hosts in NTP time")
    return nudge


def request_body(token: str) -> dict[str, Any]:
    return {"nudge": token}


def parse_request(body: object) -> str:
    """Return the token of a nudge request body ``{"nudge": token}``."""
    if not isinstance(body, dict) or set(body) != {"nudge"}:
        raise ProtocolError('a nudge is the JSON object {"nudge": token}')
    token = body["nudge"]
    if not isinstance(token, str) or not 0 < len(token) <= MAX_TOKEN_LENGTH:
        raise ProtocolError(f"'nudge' must be a token of at most {MAX_TOKEN_LENGTH} characters")
    return token


def _figure(payload: dict[str, Any], key: str) -> int:
    value = payload[key]
    if type(value) is not int or not 0 <= value <= MAX_FIGURE:
        raise TicketError("nudge times must be non-negative 64-bit integers")
    return value


def _parse(payload: dict[str, Any]) -> Nudge:
    try:
        if type(payload["v"]) is not int or payload["v"] != PROTOCOL_VERSION:
            raise TicketError(f"unsupported nudge version {payload['v']!r}")
        return Nudge(
            cluster=check_id(payload["cluster"], "cluster_id"),
            iat=_figure(payload, "iat"),
            exp=_figure(payload, "exp"),
            kid=str(payload["kid"]),
        )
    except KeyError as exc:
        raise TicketError(f"nudge lacks field {exc.args[0]!r}") from exc
    except ProtocolError as exc:
        if isinstance(exc, TicketError):
            raise
        raise TicketError(f"nudge field is malformed: {exc.message}") from exc
