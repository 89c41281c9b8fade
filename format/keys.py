"""A user's key pair, the private key wrapped for the server, the file key sealed to its owner, key commitments.

- The user's X25519 private key is wrapped under the master key (``format.kdf``) with
  libsodium's secretbox (XSalsa20-Poly1305, 24-byte random nonce): ``nonce || box``.
- The file key (32 random bytes) is sealed to the owner's X25519 public key with a libsodium
  sealed box, so only the owner's private key opens it.
- A file key is committed to by ``BLAKE2b-256(key = file key, "coffer key commitment v1")``, kept in
  the file record, so one ciphertext cannot open under two keys and a wrong key is told from altered data.

SECURITY: every function here handles keys; none of them logs.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass

import nacl.bindings
import nacl.exceptions
import nacl.public
import nacl.secret

from .errors import IntegrityError, KeyMismatch

KEY_BYTES = 32
COMMITMENT_LABEL = b"coffer key commitment v1"
COMMITMENT_BYTES = 32
PUBLIC_KEY_BYTES: int = nacl.bindings.crypto_box_PUBLICKEYBYTES


def new_file_key() -> bytes:
    """Return a fresh random file key. SECURITY: a secret."""
    return os.urandom(KEY_BYTES)


@dataclass(frozen=True)
class UserKeys:
    """A user's X25519 key pair. SECURITY: ``private`` is a secret."""

    private: bytes
    public: bytes

    @classmethod
    def generate(cls) -> UserKeys:
        key = nacl.public.PrivateKey.generate()
        return cls(bytes(key), bytes(key.public_key))

    def __repr__(self) -> str:
        return "UserKeys(<secret>)"


def wrap_private_key(master_key: bytes, keys: UserKeys, nonce: bytes | None = None) -> bytes:
    """Encrypt the private key under the master key, for the server to keep."""
    box = nacl.secret.SecretBox(master_key)
    return bytes(box.encrypt(keys.private, nonce or os.urandom(nacl.secret.SecretBox.NONCE_SIZE)))


def unwrap_private_key(master_key: bytes, wrapped: bytes, public: bytes) -> UserKeys:
    """Open the wrapped private key and check it matches *public*; IntegrityError otherwise (wrong password)."""
    try:
        private = nacl.secret.SecretBox(master_key).decrypt(wrapped)
    except nacl.exceptions.CryptoError as exc:
        raise IntegrityError(
            "your private key does not decrypt: wrong password, or the stored key was altered"
        ) from exc
    keys = UserKeys(private, bytes(nacl.public.PrivateKey(private).public_key))
    if keys.public != public:
        raise IntegrityError("your stored public key does not match your private key")
    return keys


def seal_file_key(public: bytes, file_key: bytes) -> bytes:
    """Seal *file_key* to the owner's *public* key (a sealed box: only the private key opens it)."""
    return bytes(nacl.public.SealedBox(nacl.public.PublicKey(public)).encrypt(file_key))


def open_file_key(keys: UserKeys, sealed: bytes) -> bytes:
    """Open a file key sealed to *keys*; IntegrityError if it does not open or is not a key."""
    try:
        key = bytes(nacl.public.SealedBox(nacl.public.PrivateKey(keys.private)).decrypt(sealed))
    except nacl.exceptions.CryptoError as exc:
        raise IntegrityError("the file key does not open with your private key") from exc
    if len(key) != KEY_BYTES:
        raise IntegrityError(f"the sealed file key is {len(key)} bytes, not {KEY_BYTES}")
    return key


def check_public_key(public_key: bytes, what: str) -> None:
    """Refuse a public key of the wrong length; *what* names it for the user."""
    if len(public_key) != PUBLIC_KEY_BYTES:
        raise IntegrityError(
            f"{what} is {len(public_key)} bytes, not {PUBLIC_KEY_BYTES}: the server sent a malformed key"
        )


def key_commitment(file_key: bytes) -> bytes:
    """Return the commitment to *file_key* that the file's record carries.

    AES-GCM is not key-committing: whoever holds two keys can craft one blob that opens
    under both, and a blob that fails to open says nothing about whether the key or the
    blob is wrong. ``BLAKE2b-256(key = file_key, "coffer key commitment v1")`` pins the one
    key the file opens with, so a client checks a key it was handed before using it.
    """
    if len(file_key) != KEY_BYTES:
        raise ValueError(f"a file key is {KEY_BYTES} bytes, not {len(file_key)}")
    return hashlib.blake2b(COMMITMENT_LABEL, key=file_key, digest_size=COMMITMENT_BYTES).digest()


def check_key_commitment(file_key: bytes, commitment: bytes, what: str) -> None:
    """Refuse *file_key* unless the record's *commitment* is to it; *what* names the key for the user.

    SECURITY: run before the key opens anything. A record with no commitment is refused
    too (IntegrityError): without one a wrong key and altered data look alike.
    """
    if len(commitment) != COMMITMENT_BYTES:
        found = "has no key commitment" if not commitment else f"has a {len(commitment)}-byte key commitment"
        raise IntegrityError(
            f"this file's record {found}, so {what} cannot be checked against it: the server altered the record, "
            f"or an older Coffer client uploaded the file; ask the owner to upload it again"
        )
    if len(file_key) != KEY_BYTES or not hmac.compare_digest(key_commitment(file_key), commitment):
        raise KeyMismatch(
            f"{what} does not match this file: the key was changed or cut on its way to you, "
            "or the file's record was altered; ask for it again"
        )
