"""Join a server with an invitation code: the password, the auth key and the key pair are all made here.

SECURITY: this is where a user's key pair is born. The administrator who invited the
user sent only a name and a role; the server gets the auth key, the salt and limits, the
public key and the private key wrapped under the master key, none of which lets it or the
administrator open anything sealed to the user.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from coffer.format import kdf
from coffer.format.keys import UserKeys, wrap_private_key
from coffer.protocol.api.auth import WrappedKeys
from coffer.protocol.api.invitations import Join


@dataclass(frozen=True)
class Joining:
    """What joining made: the request to send, and the secrets this client keeps. SECURITY: secrets."""

    request: Join
    derived: kdf.PasswordKeys
    keys: UserKeys

    def __repr__(self) -> str:
        return "Joining(<secret>)"


def prepare(code: str, password: str, params: kdf.KdfParams | None = None) -> Joining:
    """Derive the keys from *password* with a fresh salt, make a key pair and wrap its private key."""
    params = params or kdf.KdfParams(salt=os.urandom(kdf.SALT_BYTES))
    derived = kdf.derive(password, params)  # SECURITY: the master key stays in this process
    pair = UserKeys.generate()
    wrapped = WrappedKeys(pair.public, wrap_private_key(derived.master_key, pair))
    return Joining(Join(code.strip(), params, derived.auth_key, wrapped), derived, pair)


def join_body(code: str, password: str) -> dict[str, Any]:
    """Return the join request as JSON, for a caller that makes it in another process (the benchmarks)."""
    return prepare(code, password).request.to_json()
