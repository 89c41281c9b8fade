"""The Argon2id parameters a user's password keys are derived with, as they travel on the wire.

The derivation itself is the format's (``coffer.format.kdf``); the server only hands these
out and checks them, so they live here, where it can read them without the format.

Parameters: opslimit 3, memlimit 64 MiB — about 0.12 s here, within reach of a
phone browser running libsodium's WebAssembly build, and above OWASP's floor
for Argon2id. They travel with the salt, so they can be raised per user later.
"""

from __future__ import annotations

from dataclasses import dataclass

import nacl.pwhash.argon2id

SALT_BYTES: int = nacl.pwhash.argon2id.SALTBYTES
OPSLIMIT = 3
MEMLIMIT = 64 * 1024 * 1024


@dataclass(frozen=True)
class KdfParams:
    salt: bytes
    opslimit: int = OPSLIMIT
    memlimit: int = MEMLIMIT
