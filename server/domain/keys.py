"""The server's own key material: its ticket-signing key and the secret cluster credentials come from.

Both live in the database, made once by whichever instance starts first, so
every server instance behind a load balancer signs and checks with the same keys.

A cluster's credential is derived, not stored: ``seed = BLAKE2b-256(key=secret,
msg="coffer cluster credential v1" | cluster id | generation)``. Exporting a
cluster's config twice gives the same file, and rotating means bumping the
generation; the server keeps only each generation's public key to check
signatures against.

SECURITY: whoever reads the ``server_keys`` row can issue tickets and act as any
cluster; protect the database as the root of trust it is.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass

from coffer.protocol.encoding import b64decode, b64encode
from coffer.protocol.signing import SigningKey

from ..store.db import Database


@dataclass(frozen=True)
class ServerKeys:
    signing: SigningKey
    secret: bytes

    def __repr__(self) -> str:
        return f"ServerKeys(kid={self.signing.kid!r})"

    def cluster_credential(self, cluster_id: str, generation: int) -> SigningKey:
        """Return the credential of *cluster_id* at *generation*. SECURITY: a secret."""
        message = f"coffer cluster credential v1\n{cluster_id}\n{generation}".encode()
        return SigningKey(hashlib.blake2b(message, key=self.secret, digest_size=32).digest())

    def fake_salt(self, username: str) -> bytes:
        """Return a stable salt for a user that does not exist, so prelogin cannot probe names."""
        return hashlib.blake2b(f"coffer fake salt v1\n{username}".encode(), key=self.secret, digest_size=16).digest()


def load_or_create(db: Database) -> ServerKeys:
    """Return the server's keys, creating them on first start (race-safe across instances)."""
    with db.transaction() as tx:
        tx.execute(
            "INSERT INTO server_keys (id, signing_seed, secret, created_at) VALUES (1, ?, ?, ?) "
            "ON CONFLICT (id) DO NOTHING",
            (SigningKey.generate().to_text(), b64encode(os.urandom(32)), time.time()),
        )
        row = tx.one("SELECT signing_seed, secret FROM server_keys WHERE id = 1")
    assert row is not None
    return ServerKeys(signing=SigningKey.from_text(row["signing_seed"]), secret=b64decode(row["secret"]))
