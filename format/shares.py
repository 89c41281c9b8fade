"""File keys shared from owner to recipient, and the fingerprints people compare to trust a public key.

- A file is shared by a box from the owner to the recipient (``crypto_box``, so the owner is
  authenticated): ``nonce (24) || box("coffer share v1" || file id (16) || file key)``.
- A public key is shown as its fingerprint, ``BLAKE2b-128("coffer fingerprint v1" || key)`` in hex,
  for people to compare out of band.

SECURITY: every function here handles keys or trust; none of them logs.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import uuid

import nacl.bindings
import nacl.exceptions

from .errors import FingerprintMalformed, IntegrityError
from .keys import KEY_BYTES, UserKeys, check_public_key

SHARE_LABEL = b"coffer share v1"
FINGERPRINT_LABEL = b"coffer fingerprint v1"
SHARE_NONCE_BYTES: int = nacl.bindings.crypto_box_NONCEBYTES
SHARE_PLAINTEXT_BYTES = len(SHARE_LABEL) + 16 + KEY_BYTES
SHARE_MAC_BYTES: int = nacl.bindings.crypto_box_ZEROBYTES - nacl.bindings.crypto_box_BOXZEROBYTES
SHARE_KEY_BYTES = SHARE_NONCE_BYTES + SHARE_MAC_BYTES + SHARE_PLAINTEXT_BYTES
FINGERPRINT_BYTES = 16
_HEX_32 = re.compile(r"\A[0-9a-f]{32}\Z")


def seal_share_key(
    owner: UserKeys, recipient_public: bytes, file_id: str, file_key: bytes, nonce: bytes | None = None
) -> bytes:
    """Box *file_key* from *owner* to *recipient_public*, bound to *file_id*; *nonce* is for test vectors only.

    SECURITY: ``crypto_box``, not a sealed box: only the owner's private key makes a box
    that opens with the owner's public key, so the server cannot plant a file "shared by
    alice"; the label and file id inside stop it moving the box to another file.
    """
    if len(file_key) != KEY_BYTES:
        raise ValueError(f"a file key is {KEY_BYTES} bytes, not {len(file_key)}")
    if nonce is None:
        nonce = os.urandom(SHARE_NONCE_BYTES)
    elif len(nonce) != SHARE_NONCE_BYTES:
        raise ValueError(f"a share nonce is {SHARE_NONCE_BYTES} bytes, not {len(nonce)}")
    check_public_key(recipient_public, "the recipient's public key")
    plaintext = SHARE_LABEL + uuid.UUID(file_id).bytes + file_key
    try:
        box = nacl.bindings.crypto_box(plaintext, nonce, recipient_public, owner.private)
    except nacl.exceptions.CryptoError as exc:
        raise IntegrityError(
            "the recipient's public key is not a usable X25519 key: the server sent a bad key, share nothing to it"
        ) from exc
    return nonce + box


def open_share_key(me: UserKeys, owner_public: bytes, file_id: str, box: bytes) -> bytes:
    """Open a file key shared with *me* by the owner of *owner_public*; IntegrityError on any failure.

    The caller still checks the key against the record's commitment (``check_key_commitment``).
    """
    check_public_key(owner_public, "the owner's public key")
    if len(box) != SHARE_KEY_BYTES:
        raise IntegrityError(
            f"the file key shared with you is {len(box)} bytes, not {SHARE_KEY_BYTES}: it was cut or altered"
        )
    try:
        expected_id = uuid.UUID(file_id).bytes
    except ValueError as exc:
        raise IntegrityError(f"the shared file's id {file_id!r} is not a UUID") from exc
    try:
        plain = nacl.bindings.crypto_box_open(
            box[SHARE_NONCE_BYTES:], box[:SHARE_NONCE_BYTES], owner_public, me.private
        )
    except nacl.exceptions.CryptoError as exc:
        raise IntegrityError(
            "the file key shared with you does not open: it was altered, or the file's owner did not box it to you"
        ) from exc
    label, boxed_id = plain[: len(SHARE_LABEL)], plain[len(SHARE_LABEL) : len(SHARE_LABEL) + 16]
    if label != SHARE_LABEL:
        raise IntegrityError("the box shared with you holds no Coffer file key: its label is not 'coffer share v1'")
    if boxed_id != expected_id:
        raise IntegrityError("the file key shared with you was made for another file: the server moved it to this one")
    return bytes(plain[len(SHARE_LABEL) + 16 :])


def _grouped(digits: str) -> str:
    return " ".join(digits[i : i + 4] for i in range(0, len(digits), 4))


def fingerprint(public_key: bytes) -> str:
    """Return the fingerprint people compare to know a public key is the one its owner has: ``a1b2 c3d4 …``.

    SECURITY: the server hands out public keys; comparing fingerprints out of band (and the
    client's pins) is what stops it handing out its own key in someone's name.
    """
    check_public_key(public_key, "the public key")
    return _grouped(hashlib.blake2b(FINGERPRINT_LABEL + public_key, digest_size=FINGERPRINT_BYTES).hexdigest())


def parse_fingerprint(typed: str) -> str:
    """Return a fingerprint a person typed in the form ``fingerprint`` shows, ignoring spaces and case."""
    compact = "".join(typed.split()).lower()
    if not _HEX_32.match(compact):
        raise FingerprintMalformed(
            f"{typed!r} is not a fingerprint: expected 32 hex digits (spaces allowed), "
            "as `coffer fingerprint USER` shows them"
        )
    return _grouped(compact)


def same_fingerprint(typed: str, public_key: bytes) -> bool:
    """Tell whether the fingerprint a person typed is *public_key*'s, ignoring spaces and case."""
    compact = "".join(typed.split()).lower().encode("utf-8")
    return hmac.compare_digest(compact, fingerprint(public_key).replace(" ", "").encode("ascii"))
