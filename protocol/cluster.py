"""Requests a fileserver sends to the server, signed with its cluster's credential.

A fileserver proves membership of a cluster by signing each request with the
cluster's Ed25519 credential (from the cluster config an admin exported). The
HTTP body is ``{"token": <signed token>}``; the token's payload is::

    {"v": 1, "cluster": id, "gen": credential generation, "fs": fileserver id,
     "action": "register" | "heartbeat" | "reconcile", "ts": Unix seconds, "nonce": 16 random bytes,
     "body": {...the message...}}

Replay protection: the server refuses a ``ts`` further than :data:`MAX_SKEW`
seconds from its clock, and a ``nonce`` it has already seen within that window.
``action`` is signed too, so a captured registration cannot be sent as a heartbeat.

Size: :data:`MAX_TOKEN_LENGTH` fits the largest request the message limits allow
(a heartbeat with :data:`~.messages.MAX_SHARDS` shards, :data:`~.messages.MAX_CORRUPT_REPORTS`
reports and :data:`~.messages.MAX_PURGES` confirmations, every name and figure at its
longest), and the HTTP body carrying it fits the server's ``MAX_JSON_BODY``. A fileserver
never sends more than those limits: it keeps the rest for its next beat, and pages
reconciliation queries.

Identity: every fileserver of a cluster holds the same credential, so the token alone
cannot tell one fileserver from another. Each request therefore also carries
``"proof"``: a token of kind :data:`PROOF_KIND` signed by the fileserver's own identity
key (the key it registered, which also signs its receipts) over the SHA-256 of the
exact outer token. The server checks the proof of a registration with the key being
registered (proof of possession) and of every other request with the key it has on
record for that id, so no peer can speak for another fileserver.

SECURITY: the credential is the cluster's secret; rotating it bumps ``gen``.
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass
from typing import Any, Literal

from . import PROTOCOL_VERSION
from .encoding import b64encode
from .errors import ProtocolError
from .ids import check_id
from .signing import MAX_FIGURE, SigningKey, TokenMalformed, open_token, peek_token

KIND = "cluster-request"
PROOF_KIND = "fileserver-proof"
MAX_PROOF_LENGTH = 512
"""A proof carries one SHA-256 in hex: about 220 characters."""
MAX_TOKEN_LENGTH = 256 * 1024
"""The largest heartbeat the message limits allow signs to about 227 KiB (a test pins it)."""
MAX_SKEW = 60
Action = Literal["register", "heartbeat", "reconcile"]


class ProofInvalid(ProtocolError):
    """The request carries no identity proof, or one made for another request."""

    code = "fileserver_proof_invalid"
    status = 401


class RequestStale(ProtocolError):
    code = "request_stale"
    status = 401


@dataclass(frozen=True)
class ClusterRequest:
    cluster: str
    gen: int
    fs: str
    action: Action
    ts: float
    nonce: str
    body: dict[str, Any]


def sign_request(
    credential: SigningKey, cluster: str, gen: int, fs: str, action: Action, body: dict[str, Any], now: float
) -> dict[str, str]:
    """Return the HTTP body for a signed *action* request from fileserver *fs*."""
    payload = {
        "v": PROTOCOL_VERSION,
        "cluster": cluster,
        "gen": gen,
        "fs": fs,
        "action": action,
        "ts": now,
        "nonce": b64encode(os.urandom(16)),
        "body": body,
    }
    return {"token": credential.sign(KIND, payload, max_length=MAX_TOKEN_LENGTH)}


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def prove(identity_key: SigningKey, http_body: dict[str, str]) -> dict[str, str]:
    """Return *http_body* with the proof that the fileserver holding *identity_key* sent it.

    SECURITY: signs with the fileserver's own identity key, which no peer of its cluster holds.
    """
    proof = identity_key.sign(PROOF_KIND, {"token": _token_digest(http_body["token"])}, max_length=MAX_PROOF_LENGTH)
    return http_body | {"proof": proof}


def check_proof(http_body: dict[str, Any], public_key: bytes) -> None:
    """Refuse a request whose proof is missing or made for another token (:class:`ProofInvalid`), or not signed by
    *public_key* (:class:`~.signing.SignatureInvalid`: another fileserver's key).

    SECURITY: call it only after :func:`open_request` accepted the token.
    """
    proof = http_body.get("proof")
    if not isinstance(proof, str):
        raise ProofInvalid(
            "this request carries no proof of the fileserver's identity key: upgrade the fileserver "
            "to the server's version"
        )
    payload = open_token(PROOF_KIND, proof, [public_key], MAX_PROOF_LENGTH)
    if payload.get("token") != _token_digest(http_body["token"]):
        raise ProofInvalid("the identity proof was made for another request")


def claimed_sender(http_body: dict[str, Any]) -> tuple[str, int]:
    """Return the (cluster id, credential generation) a request claims, to pick its key."""
    payload = peek_token(http_body.get("token"), MAX_TOKEN_LENGTH)  # type: ignore[arg-type]
    gen = payload.get("gen")
    if not isinstance(gen, int) or isinstance(gen, bool) or not 0 <= gen <= MAX_FIGURE:
        raise TokenMalformed("credential generation must be a non-negative 64-bit integer")
    return check_id(payload.get("cluster"), "cluster_id"), gen


def claimed_fileserver(http_body: object) -> str | None:
    """Return the fileserver id a request claims, or None if it names none readably: for a log line only.

    SECURITY: unverified; never decide anything on it.
    """
    if not isinstance(http_body, dict):
        return None
    try:
        return check_id(peek_token(http_body.get("token"), MAX_TOKEN_LENGTH).get("fs"), "fileserver_id")  # type: ignore[arg-type]
    except ProtocolError:
        return None


def open_request(http_body: dict[str, Any], public_key: bytes, action: Action, now: float) -> ClusterRequest:
    """Return the request if *public_key* signed it for *action* within the clock window.

    The caller must still record the nonce and refuse one it has seen (the server
    keeps them in its database, shared by all server instances).
    """
    payload = open_token(KIND, http_body.get("token"), [public_key], MAX_TOKEN_LENGTH)  # type: ignore[arg-type]
    cluster, gen = claimed_sender(http_body)
    if type(payload.get("v")) is not int or payload.get("v") != PROTOCOL_VERSION or payload.get("action") != action:
        raise ProtocolError(f"this endpoint takes a signed '{action}' request", code="wrong_action")
    ts, nonce, body = payload.get("ts"), payload.get("nonce"), payload.get("body")
    if not isinstance(ts, (int, float)) or isinstance(ts, bool):
        raise ProtocolError("request timestamp must be a number")
    ahead = ts - now
    if not abs(ahead) <= MAX_SKEW:  # also refuses NaN
        raise RequestStale(clock_skew(ahead))
    if not isinstance(nonce, str) or not 16 <= len(nonce) <= 64:
        raise ProtocolError("request nonce is malformed")
    if not isinstance(body, dict):
        raise ProtocolError("request body must be an object")
    return ClusterRequest(
        cluster=cluster,
        gen=gen,
        fs=check_id(payload.get("fs"), "fileserver_id"),
        action=action,
        ts=float(ts),
        nonce=nonce,
        body=body,
    )


def clock_skew(ahead: float) -> str:
    """Say whose clock is off and which way, for a request *ahead* seconds after the receiver's own time."""
    if not math.isfinite(ahead):
        return "the request's time is not a finite number: the sender's clock or its code is broken"
    direction = "ahead of" if ahead > 0 else "behind"
    return (
        f"the sender's clock is {math.ceil(abs(ahead))} s {direction} the server's (at most {MAX_SKEW} s is accepted): "
        "check that both hosts keep time with NTP"
    )
