"""Ed25519 signatures over canonical JSON, with a domain tag per kind of message.

A signed token is ``base64url(canonical JSON payload) "." base64url(signature)``.
The signature covers ``b"coffer:" + kind + b"\\n" + payload``, so a receipt can
never pass for a ticket, nor a heartbeat for either, even under the same key.

Each kind has its own length cap (``MAX_TOKEN_LENGTH`` in its module), derived from
the largest message its list and field limits allow and pinned by a test that signs
that message: a cap shared by every kind was either too small for the largest
heartbeat or far too large for a ticket in an HTTP header.

SECURITY: every trust decision between programs goes through :func:`open_token`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import nacl.exceptions
import nacl.signing

from .encoding import DecodeError, b64decode, b64encode, canonical_json, parse_json_object
from .errors import ProtocolError

MAX_FIGURE = 2**63 - 1
"""The largest integer a signed message carries (a count, a size, a time): it bounds a message's size, and fits a
database BIGINT."""


class SignatureInvalid(ProtocolError):
    """The signature does not match the payload under any key we trust."""

    code = "bad_signature"
    status = 401


class TokenMalformed(ProtocolError):
    """The token is not ``payload.signature`` in base64url, or its payload is not JSON."""

    code = "malformed_token"
    status = 400


class TokenTooLarge(ValueError):
    """A message signed here would exceed its kind's cap: a sender that breaks its own list limits (a bug)."""


def key_id(public_key: bytes) -> str:
    """Return a short, stable name for a public key (16 hex digits of its SHA-256)."""
    return hashlib.sha256(public_key).hexdigest()[:16]


@dataclass(frozen=True)
class SigningKey:
    """An Ed25519 key pair held by one party (the server, a cluster, a fileserver)."""

    seed: bytes

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(bytes(nacl.signing.SigningKey.generate()))

    @classmethod
    def from_text(cls, text: str) -> SigningKey:
        seed = b64decode(text)
        if len(seed) != 32:
            raise DecodeError("an Ed25519 seed is 32 bytes")
        return cls(seed)

    def to_text(self) -> str:
        """Return the seed as base64url. SECURITY: this is a secret."""
        return b64encode(self.seed)

    @property
    def public_key(self) -> bytes:
        return bytes(nacl.signing.SigningKey(self.seed).verify_key)

    @property
    def public_text(self) -> str:
        return b64encode(self.public_key)

    @property
    def kid(self) -> str:
        return key_id(self.public_key)

    def sign(self, kind: str, payload: dict[str, Any], *, max_length: int | None = None) -> str:
        """Return a signed token carrying *payload* for messages of *kind*.

        With *max_length* (the kind's cap), refuse to make a token the receiver would refuse
        as malformed: the sender learns of its bug here, not from a refusal it cannot act on.
        """
        body = b64encode(canonical_json(payload))
        signature = nacl.signing.SigningKey(self.seed).sign(_signed_bytes(kind, body)).signature
        token = f"{body}.{b64encode(signature)}"
        if max_length is not None and len(token) > max_length:
            raise TokenTooLarge(f"a {kind} token of {len(token)} characters exceeds its cap of {max_length}")
        return token

    def __repr__(self) -> str:
        return f"SigningKey(kid={self.kid!r})"


def _signed_bytes(kind: str, body: str) -> bytes:
    return b"coffer:" + kind.encode("ascii") + b"\n" + body.encode("ascii")


def peek_token(token: str, max_length: int) -> dict[str, Any]:
    """Return a token's payload without checking its signature.

    Only to pick the key to check it with (``kid``, ``cluster``, ``fs``); never trust
    anything else from the result before :func:`open_token` has accepted it.
    *max_length* is the cap of the kind expected, checked before anything is decoded.
    """
    if not isinstance(token, str) or token.count(".") != 1:
        raise TokenMalformed("a token is two base64url parts joined by '.'")
    if len(token) > max_length:
        raise TokenMalformed(f"the token has {len(token)} characters, more than the {max_length} its kind allows")
    body, _signature = token.split(".")
    try:
        raw = b64decode(body)
        payload = parse_json_object(raw)
    except DecodeError as exc:
        raise TokenMalformed(f"token payload is unreadable: {exc}") from exc
    # SECURITY: only canonical JSON is accepted, so duplicate keys cannot mean one thing here and another elsewhere.
    if canonical_json(payload) != raw:
        raise TokenMalformed("token payload is not canonical JSON")
    return payload


def open_token(kind: str, token: str, public_keys: list[bytes], max_length: int) -> dict[str, Any]:
    """Return the payload of *token* if one of *public_keys* signed it as *kind* and it is within *max_length*."""
    payload = peek_token(token, max_length)
    body, signature_text = token.split(".")
    try:
        signature = b64decode(signature_text)
    except DecodeError as exc:
        raise TokenMalformed("token signature is not base64url") from exc
    message = _signed_bytes(kind, body)
    for public_key in public_keys:
        try:
            nacl.signing.VerifyKey(public_key).verify(message, signature)
        except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, ValueError):
            continue
        return payload
    raise SignatureInvalid(f"the {kind} signature does not match a trusted key")
