"""The fileserver's own identity: its id and the key it signs chunk receipts with.

``<data_dir>/identity.json`` is ``{"v": 1, "id": <fileserver id>, "key": <base64url Ed25519 seed>}``,
kept with mode 0600, created on first start and read on every later one, so a
restarted fileserver registers under the same id and the server updates its row
instead of adding one. The file is written atomically: a
crash while creating it leaves no file, never half of one.

SECURITY: the receipt key lets whoever holds it claim chunks are stored here.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from coffer.protocol.encoding import DecodeError
from coffer.protocol.errors import CofferError
from coffer.protocol.ids import check_id, new_id
from coffer.protocol.signing import SigningKey

from .storage.fsutil import atomic_write_json, private_dir

log = logging.getLogger(__name__)

FILE_NAME = "identity.json"
VERSION = 1


class IdentityError(CofferError):
    code = "identity_invalid"
    status = 500


@dataclass(frozen=True)
class Identity:
    fileserver_id: str
    key: SigningKey = field(repr=False)  # SECURITY: the receipt-signing key


def load_or_create(data_dir: Path) -> Identity:
    """Return the identity stored in *data_dir*, creating and storing a new one on first start."""
    path = data_dir / FILE_NAME
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        identity = Identity(fileserver_id=new_id(), key=SigningKey.generate())
        private_dir(data_dir)
        # SECURITY: 0600, written whole or not at all.
        atomic_write_json(path, {"v": VERSION, "id": identity.fileserver_id, "key": identity.key.to_text()})
        log.info("created fileserver identity", extra={"kv": {"fileserver": identity.fileserver_id}})
        return identity
    identity = _parse(raw, path)
    if os.stat(path).st_mode & 0o077:
        # SECURITY: the key should be readable by this user only.
        log.warning("identity file is readable by others: chmod 600 it", extra={"kv": {"path": path}})
    return identity


def _parse(raw: bytes, path: Path) -> Identity:
    hint = f"{path} is damaged: restore it from a backup, or delete it to register as a new fileserver"
    try:
        value = json.loads(raw)
        if not isinstance(value, dict) or value.get("v") != VERSION:
            raise IdentityError(f"{hint} (unknown format)")
        key = value.get("key")
        if not isinstance(key, str):
            raise IdentityError(f"{hint} (no key)")
        return Identity(fileserver_id=check_id(value.get("id"), "fileserver_id"), key=SigningKey.from_text(key))
    except (ValueError, DecodeError, CofferError) as exc:
        if isinstance(exc, IdentityError):
            raise
        raise IdentityError(hint) from exc
