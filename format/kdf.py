"""Turn a password into the two keys a client needs, the same way in every client.

``root = Argon2id(password, salt)`` at the cost ``coffer.protocol.kdf.KdfParams`` carries;
then, with BLAKE2b keyed by ``root``:

- ``auth_key = BLAKE2b-256(key=root, msg="coffer auth key v1")`` is sent to the
  server at login; the server keeps only its own Argon2id hash of it;
- ``master_key = BLAKE2b-256(key=root, msg="coffer master key v1")`` never
  leaves the client; it wraps the user's private key.

Knowing the auth key does not reveal the master key (BLAKE2b is a PRF under a
secret key), so neither the server nor anyone who steals its database can
decrypt anything. libsodium offers every step in browsers too
(``crypto_pwhash``, ``crypto_generichash``). The parameters and their bounds stay in
``coffer.protocol.kdf``: the server checks them on the wire without this package.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import nacl.pwhash.argon2id

from coffer.protocol.kdf import MEMLIMIT, OPSLIMIT, SALT_BYTES, KdfParams

__all__ = ["MEMLIMIT", "OPSLIMIT", "SALT_BYTES", "KdfParams", "PasswordKeys", "derive"]

AUTH_LABEL = b"coffer auth key v1"
MASTER_LABEL = b"coffer master key v1"


@dataclass(frozen=True)
class PasswordKeys:
    """SECURITY: both fields are secrets; the auth key is only ever sent to log in."""

    auth_key: bytes
    master_key: bytes

    def __repr__(self) -> str:
        return "PasswordKeys(<secret>)"


def derive(password: str, params: KdfParams) -> PasswordKeys:
    """Derive the auth key and the master key from *password*. SECURITY: the result is secret."""
    root = nacl.pwhash.argon2id.kdf(
        32, password.encode("utf-8"), params.salt, opslimit=params.opslimit, memlimit=params.memlimit
    )
    return PasswordKeys(
        auth_key=hashlib.blake2b(AUTH_LABEL, key=root, digest_size=32).digest(),
        master_key=hashlib.blake2b(MASTER_LABEL, key=root, digest_size=32).digest(),
    )
