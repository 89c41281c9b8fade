"""Names and identifiers, and the checks that keep them out of paths they do not own.

Every id that reaches a file path or an SQL row passes one of these checks first,
so "../" and friends are rejected at the edge with a 400, never resolved.
"""

from __future__ import annotations

import re
import secrets
import uuid

from .errors import ProtocolError

CHUNK_HASH_RE = re.compile(r"\A[0-9a-f]{64}\Z")
UUID_RE = re.compile(r"\A[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\Z")
NAME_RE = re.compile(r"\A[a-z0-9][a-z0-9-]{0,62}\Z")
USERNAME_RE = re.compile(r"\A[a-z0-9][a-z0-9._-]{0,63}\Z")
CREATE_ID_RE = re.compile(r"\A[0-9a-f]{32}\Z")


def new_id() -> str:
    """Return a fresh random id (UUID 4, lowercase): unguessable and collision-free."""
    return str(uuid.uuid4())


def new_create_id() -> str:
    """Return a fresh create id: 128 random bits in 32 lowercase hex digits, chosen once per file by its client."""
    return secrets.token_hex(16)


def _check(pattern: re.Pattern[str], value: object, what: str, hint: str) -> str:
    if not isinstance(value, str) or not pattern.match(value):
        raise ProtocolError(f"invalid {what}: expected {hint}", code=f"invalid_{what}")
    return value


def check_chunk_hash(value: object) -> str:
    """Return *value* if it is a chunk hash: 64 lowercase hex digits (SHA-256)."""
    return _check(CHUNK_HASH_RE, value, "chunk_hash", "64 lowercase hex digits")


def check_id(value: object, what: str = "id") -> str:
    """Return *value* if it is a lowercase UUID 4 (file, user and fileserver ids)."""
    return _check(UUID_RE, value, what, "a lowercase UUID")


def check_create_id(value: object) -> str:
    """Return *value* if it is a create id (:func:`new_create_id`): 32 lowercase hex digits."""
    return _check(CREATE_ID_RE, value, "create_id", "32 lowercase hex digits (128 random bits)")


def check_name(value: object, what: str = "name") -> str:
    """Return *value* if it is a shard or cluster name: lowercase letters, digits, dashes."""
    return _check(NAME_RE, value, what, "1-63 lowercase letters, digits or dashes")


def check_username(value: object) -> str:
    """Return *value* if it is a user name: lowercase letters, digits, '.', '_' or '-'."""
    return _check(USERNAME_RE, value, "username", "1-64 lowercase letters, digits, '.', '_', '-'")


def chunk_name(file_id: str, chunk_hash: str) -> str:
    """Return the storage name of a chunk: ``<file id>/<hash>``.

    A chunk is stored under the file it belongs to, so one file's chunks are never
    another's: deleting a file's objects cannot touch a chunk that a live file
    references, even when two files hold identical bytes (docs/lifecycle.md).
    """
    return f"{check_id(file_id, 'file_id')}/{check_chunk_hash(chunk_hash)}"


def split_chunk_name(name: object) -> tuple[str, str]:
    """Return ``(file id, hash)`` of a storage name made by :func:`chunk_name`."""
    if not isinstance(name, str) or name.count("/") != 1:
        raise ProtocolError("invalid chunk name: expected '<file id>/<chunk hash>'", code="invalid_chunk_name")
    file_id, chunk_hash = name.split("/")
    return check_id(file_id, "file_id"), check_chunk_hash(chunk_hash)
