"""Turn a password into the two keys a client needs, the same way in every client.

``root = Argon2id(password, salt)``; then, with BLAKE2b keyed by ``root``:

- ``auth_key = BLAKE2b-256(key=root, msg="coffer auth key v1")`` is sent to the
  server at login; the server keeps only its own Argon2id hash of it;
- ``master_key = BLAKE2b-256(key=root, msg="coffer master key v1")`` never
  leaves the client; it wraps the user's private key.

Knowing the auth key does not reveal the master key (BLAKE2b is a PRF under a
secret key), so neither the server nor anyone who steals its database can
decrypt anything. libsodium offers every step in browsers too
(``crypto_pwhash``, ``crypto_generichash``).

Parameters: opslimit 3, memlimit 64 MiB — about 0.12 s here, within reach of a
phone browser running libsodium's WebAssembly build, and above OWASP's floor
for Argon2id. They travel with the salt, so they can be raised per user later.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import nacl.pwhash.argon2id

SALT_BYTES = nacl.pwhash.argon2id.SALTBYTES
OPSLIMIT = 3
MEMLIMIT = 64 * 1024 * 1024


@dataclass(frozen=True)
class KdfParams:
    salt: bytes
    opslimit: int = OPSLIMIT
    memlimit: int = MEMLIMIT


@dataclass(frozen=True)
class PasswordKeys:
    """SECURITY: both fields are secrets; the auth key is only ever sent to log in."""

    auth_key: bytes
    master_key: bytes

    def __repr__(self) -> str:
        return "PasswordKeys(<secret>)"


def derive(password: str, params: KdfParams) -> PasswordKeys:
    root = nacl.pwhash.argon2id.kdf(
        32, password.encode("utf-8"), params.salt, opslimit=params.opslimit, memlimit=params.memlimit
    )
    return PasswordKeys(
        auth_key=hashlib.blake2b(b"coffer auth key v1", key=root, digest_size=32).digest(),
        master_key=hashlib.blake2b(b"coffer master key v1", key=root, digest_size=32).digest(),
    )
