"""Coffer's client-side crypto format, version 1. The reasons are in docs/crypto.md.

- A chunk is ``nonce (12) || AES-256-GCM(file key, nonce, plaintext, ad) (plaintext + 16-byte tag)``
  with ``ad = "coffer chunk v1" || file id (16 bytes) || index (8 bytes, big-endian) || last (1 byte)``,
  so a chunk that is moved to another position, another file, or that stands last when it is
  not (truncation) fails to open. It is named by the SHA-256 of all its bytes.
- File metadata (canonical JSON: name, size, type, mtime, sha256 of the plaintext) is sealed the
  same way under the file key with ``ad = "coffer metadata v1" || file id``.
- The file key (32 random bytes) is sealed to the owner's X25519 public key with a libsodium
  sealed box, so only the owner's private key opens it.
- The user's X25519 private key is wrapped under the master key (``protocol.kdf``) with
  libsodium's secretbox (XSalsa20-Poly1305, 24-byte random nonce): ``nonce || box``.
- A file key is committed to by ``BLAKE2b-256(key = file key, "coffer key commitment v1")``, kept in
  the file record, so one ciphertext cannot open under two keys and a wrong key is told from altered data.
- A file is shared by a box from the owner to the recipient (``crypto_box``, so the owner is
  authenticated): ``nonce (24) || box("coffer share v1" || file id (16) || file key)``.
- A public key is shown as its fingerprint, ``BLAKE2b-128("coffer fingerprint v1" || key)`` in hex,
  for people to compare out of band.

SECURITY: every function here handles keys or plaintext; none of them logs.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
import re
import uuid
from dataclasses import dataclass
from typing import Any

import nacl.bindings
import nacl.exceptions
import nacl.public
import nacl.secret
from nacl._sodium import ffi as _ffi  # type: ignore[import-not-found]  # PyNaCl's own libsodium handle
from nacl._sodium import lib as _lib

from coffer.protocol.encoding import canonical_json

from .errors import ClientError, UsageError

VERSION = 1
KEY_BYTES = 32
NONCE_BYTES = nacl.bindings.crypto_aead_aes256gcm_NPUBBYTES
TAG_BYTES = nacl.bindings.crypto_aead_aes256gcm_ABYTES
CHUNK_OVERHEAD = NONCE_BYTES + TAG_BYTES
DEFAULT_CHUNK_SIZE = 8 * 1024 * 1024
_SHA256_HEX = re.compile(r"\A[0-9a-f]{64}\Z")
CHUNK_AD = b"coffer chunk v1"
METADATA_AD = b"coffer metadata v1"
COMMITMENT_LABEL = b"coffer key commitment v1"
SHARE_LABEL = b"coffer share v1"
FINGERPRINT_LABEL = b"coffer fingerprint v1"
COMMITMENT_BYTES = 32
PUBLIC_KEY_BYTES = nacl.bindings.crypto_box_PUBLICKEYBYTES
SHARE_NONCE_BYTES = nacl.bindings.crypto_box_NONCEBYTES
SHARE_PLAINTEXT_BYTES = len(SHARE_LABEL) + 16 + KEY_BYTES
SHARE_MAC_BYTES = nacl.bindings.crypto_box_ZEROBYTES - nacl.bindings.crypto_box_BOXZEROBYTES
SHARE_KEY_BYTES = SHARE_NONCE_BYTES + SHARE_MAC_BYTES + SHARE_PLAINTEXT_BYTES
FINGERPRINT_BYTES = 16
_HEX_32 = re.compile(r"\A[0-9a-f]{32}\Z")


class IntegrityError(ClientError):
    """Ciphertext failed to open: it was altered, reordered, truncated, or is not ours."""

    code = "integrity"
    exit_code = 7


class KeyMismatch(IntegrityError):
    """A file key does not match the commitment in the file's record: the key was changed, or the record."""

    code = "key_mismatch"


class CryptoUnavailable(ClientError):
    """This machine cannot run the format: PyNaCl's AES-256-GCM needs the CPU's AES instructions."""

    code = "crypto_unavailable"
    exit_code = 1


_NO_AES = (
    "this computer's processor lacks the AES instructions Coffer's chunk encryption (AES-256-GCM) needs; "
    "use a machine with AES-NI (x86-64) or the ARMv8 crypto extensions"
)


def _require_aes() -> None:
    if not _lib.crypto_aead_aes256gcm_is_available():
        raise CryptoUnavailable(_NO_AES)


def _aes_seal(nonce: bytes, plaintext: bytes, ad: bytes, key: bytes) -> bytes:
    """Return ``nonce || AES-256-GCM(plaintext) || tag``, the chunk written once, straight into its buffer.

    PyNaCl's public binding zero-fills a buffer, encrypts into it, copies it out, and
    the nonce is then prepended with one more copy: three passes over every 8 MiB
    chunk. Calling the same libsodium function through PyNaCl's own cffi handle with
    the output placed after the nonce leaves one copy (bytearray → bytes).
    """
    _require_aes()
    out = bytearray(NONCE_BYTES + len(plaintext) + TAG_BYTES)
    out[:NONCE_BYTES] = nonce
    written = _ffi.new("unsigned long long *")
    rc = _lib.crypto_aead_aes256gcm_encrypt(
        _ffi.from_buffer(out) + NONCE_BYTES,
        written,
        plaintext,
        len(plaintext),
        ad,
        len(ad),
        _ffi.NULL,
        nonce,
        key,
    )
    if rc != 0 or written[0] != len(plaintext) + TAG_BYTES:
        raise nacl.exceptions.CryptoError("AES-256-GCM encryption failed")
    return bytes(out)


def _aes_open(blob: bytes, ad: bytes, key: bytes) -> bytearray:
    """Open ``nonce || ciphertext || tag`` in one pass, reading *blob* in place; CryptoError if it does not verify."""
    _require_aes()
    out = bytearray(len(blob) - CHUNK_OVERHEAD)
    written = _ffi.new("unsigned long long *")
    source = _ffi.from_buffer(blob)
    rc = _lib.crypto_aead_aes256gcm_decrypt(
        _ffi.from_buffer(out) if out else _ffi.NULL,
        written,
        _ffi.NULL,
        source + NONCE_BYTES,
        len(blob) - NONCE_BYTES,
        ad,
        len(ad),
        source,
        key,
    )
    if rc != 0:
        raise nacl.exceptions.CryptoError("the chunk does not authenticate")
    return out


def new_file_key() -> bytes:
    return os.urandom(KEY_BYTES)


def ciphertext_size(plain_size: int) -> int:
    return plain_size + CHUNK_OVERHEAD


def chunk_count(plain_size: int, chunk_size: int) -> int:
    """Return how many chunks a file of *plain_size* bytes takes; an empty file still has one."""
    return max(1, -(-plain_size // chunk_size))


def _chunk_ad(file_id: str, index: int, last: bool) -> bytes:
    return CHUNK_AD + uuid.UUID(file_id).bytes + index.to_bytes(8, "big") + (b"\x01" if last else b"\x00")


def seal_chunk(key: bytes, file_id: str, index: int, last: bool, plaintext: bytes, nonce: bytes | None = None) -> bytes:
    """Encrypt one chunk; *nonce* is for test vectors only (random otherwise)."""
    return _aes_seal(nonce or os.urandom(NONCE_BYTES), plaintext, _chunk_ad(file_id, index, last), key)


def open_chunk(key: bytes, file_id: str, index: int, last: bool, blob: bytes) -> bytearray:
    """Decrypt one chunk, or raise IntegrityError naming it."""
    if len(blob) < CHUNK_OVERHEAD:
        raise IntegrityError(f"chunk {index} is too short to be a Coffer chunk")
    try:
        return _aes_open(blob, _chunk_ad(file_id, index, last), key)
    except nacl.exceptions.CryptoError as exc:
        raise IntegrityError(
            f"chunk {index} does not decrypt: it was altered, moved or truncated (or the file key is wrong)"
        ) from exc


Bytes = bytes | bytearray | memoryview
"""Anything a chunk can be read from or written into: the ``…_into`` functions take views of reused buffers."""


def _byte_view(data: Bytes) -> memoryview:
    view = memoryview(data)
    return view if view.format == "B" and view.ndim == 1 else view.cast("B")


def _aes_seal_into(nonce: bytes, plaintext: Bytes, ad: bytes, key: bytes, out: Bytes) -> int:
    """Write ``nonce || AES-256-GCM(plaintext) || tag`` at the start of *out*; return its length.

    The same single libsodium call as :func:`_aes_seal`, into a buffer the caller keeps
    and reuses, so sealing a chunk allocates (and page-faults) nothing.
    """
    _require_aes()
    source, target = _byte_view(plaintext), _byte_view(out)
    size = NONCE_BYTES + source.nbytes + TAG_BYTES
    if target.readonly or target.nbytes < size:
        raise ValueError(f"sealing {source.nbytes} bytes needs a writable buffer of {size} bytes")
    target[:NONCE_BYTES] = nonce
    written = _ffi.new("unsigned long long *")
    rc = _lib.crypto_aead_aes256gcm_encrypt(
        _ffi.from_buffer(target) + NONCE_BYTES,
        written,
        _ffi.from_buffer(source),
        source.nbytes,
        ad,
        len(ad),
        _ffi.NULL,
        nonce,
        key,
    )
    if rc != 0 or written[0] != source.nbytes + TAG_BYTES:
        raise nacl.exceptions.CryptoError("AES-256-GCM encryption failed")
    return size


def _aes_open_into(blob: Bytes, ad: bytes, key: bytes, out: Bytes) -> int:
    """Open ``nonce || ciphertext || tag`` into the start of *out* in one pass; return the plaintext length.

    SECURITY: if the tag does not verify, the bytes libsodium may have written are wiped
    before CryptoError is raised, so a failed chunk leaves nothing usable in the buffer.
    """
    _require_aes()
    source, target = _byte_view(blob), _byte_view(out)
    size = source.nbytes - CHUNK_OVERHEAD
    if target.readonly or target.nbytes < size:
        raise ValueError(f"opening a {source.nbytes}-byte chunk needs a writable buffer of {size} bytes")
    into = _ffi.from_buffer(target) if size else _ffi.NULL
    written = _ffi.new("unsigned long long *")
    sealed = _ffi.from_buffer(source)
    rc = _lib.crypto_aead_aes256gcm_decrypt(
        into,
        written,
        _ffi.NULL,
        sealed + NONCE_BYTES,
        source.nbytes - NONCE_BYTES,
        ad,
        len(ad),
        sealed,
        key,
    )
    if rc != 0 or written[0] != size:
        if size:
            _lib.sodium_memzero(into, size)
        raise nacl.exceptions.CryptoError("the chunk does not authenticate")
    return size


def seal_chunk_into(
    key: bytes, file_id: str, index: int, last: bool, plaintext: Bytes, out: Bytes, nonce: bytes | None = None
) -> int:
    """Seal one chunk into the start of *out* (at least ``ciphertext_size`` bytes); return the chunk's length.

    The bytes are exactly :func:`seal_chunk`'s; *nonce* is for tests only (random otherwise).
    """
    return _aes_seal_into(nonce or os.urandom(NONCE_BYTES), plaintext, _chunk_ad(file_id, index, last), key, out)


def open_chunk_into(key: bytes, file_id: str, index: int, last: bool, blob: Bytes, out: Bytes) -> int:
    """Decrypt one chunk into the start of *out*; return the plaintext length, or raise IntegrityError naming it.

    What :func:`open_chunk` checks, with one libsodium call writing into the caller's
    buffer. SECURITY: on IntegrityError the plaintext part of *out* is zeroed; use none of it.
    """
    if _byte_view(blob).nbytes < CHUNK_OVERHEAD:
        raise IntegrityError(f"chunk {index} is too short to be a Coffer chunk")
    try:
        return _aes_open_into(blob, _chunk_ad(file_id, index, last), key, out)
    except nacl.exceptions.CryptoError as exc:
        raise IntegrityError(
            f"chunk {index} does not decrypt: it was altered, moved or truncated (or the file key is wrong)"
        ) from exc


def chunk_hash(blob: Bytes) -> str:
    return hashlib.sha256(blob).hexdigest()


@dataclass(frozen=True)
class Metadata:
    """What a file is, sealed under its key: the server sees none of it."""

    name: str
    size: int
    type: str
    mtime: float
    sha256: str

    def to_json(self) -> dict[str, Any]:
        return {
            "v": VERSION,
            "name": self.name,
            "size": self.size,
            "type": self.type,
            "mtime": self.mtime,
            "sha256": self.sha256,
        }


def seal_metadata(key: bytes, file_id: str, metadata: Metadata, nonce: bytes | None = None) -> bytes:
    ad = METADATA_AD + uuid.UUID(file_id).bytes
    return _aes_seal(nonce or os.urandom(NONCE_BYTES), canonical_json(metadata.to_json()), ad, key)


def open_metadata(key: bytes, file_id: str, blob: bytes) -> Metadata:
    ad = METADATA_AD + uuid.UUID(file_id).bytes
    if len(blob) < CHUNK_OVERHEAD:
        raise IntegrityError("the file's metadata is too short to be sealed metadata")
    try:
        data = json.loads(_aes_open(blob, ad, key))
    except (nacl.exceptions.CryptoError, ValueError) as exc:
        raise IntegrityError("the file's metadata does not decrypt: it was altered, or the key is wrong") from exc
    # Whoever holds the file key (a sharer, later) wrote this: check its shape like any input.
    if not isinstance(data, dict):
        raise IntegrityError("the file's metadata is not a JSON object")
    if type(data.get("v")) is not int or data["v"] != VERSION:
        raise IntegrityError(f"unknown metadata version {data.get('v')!r}: this client reads version {VERSION}")
    name, size, kind, mtime, digest = (data.get(k) for k in ("name", "size", "type", "mtime", "sha256"))
    if not (isinstance(name, str) and isinstance(kind, str) and type(size) is int and size >= 0):
        raise IntegrityError("the file's metadata has a malformed name, type or size")
    if isinstance(mtime, bool) or not isinstance(mtime, (int, float)) or not math.isfinite(mtime):
        raise IntegrityError("the file's metadata has a malformed mtime")
    if not isinstance(digest, str) or not _SHA256_HEX.match(digest):
        raise IntegrityError("the file's metadata has a malformed sha256")
    return Metadata(name, size, kind, float(mtime), digest)


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
    return bytes(nacl.public.SealedBox(nacl.public.PublicKey(public)).encrypt(file_key))


def open_file_key(keys: UserKeys, sealed: bytes) -> bytes:
    try:
        key = bytes(nacl.public.SealedBox(nacl.public.PrivateKey(keys.private)).decrypt(sealed))
    except nacl.exceptions.CryptoError as exc:
        raise IntegrityError("the file key does not open with your private key") from exc
    if len(key) != KEY_BYTES:
        raise IntegrityError(f"the sealed file key is {len(key)} bytes, not {KEY_BYTES}")
    return key


def _check_public_key(public_key: bytes, what: str) -> None:
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
    _check_public_key(recipient_public, "the recipient's public key")
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
    _check_public_key(owner_public, "the owner's public key")
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
    _check_public_key(public_key, "the public key")
    return _grouped(hashlib.blake2b(FINGERPRINT_LABEL + public_key, digest_size=FINGERPRINT_BYTES).hexdigest())


def parse_fingerprint(typed: str) -> str:
    """Return a fingerprint a person typed in the form ``fingerprint`` shows, ignoring spaces and case."""
    compact = "".join(typed.split()).lower()
    if not _HEX_32.match(compact):
        raise UsageError(
            f"{typed!r} is not a fingerprint: expected 32 hex digits (spaces allowed), "
            "as `coffer fingerprint USER` shows them"
        )
    return _grouped(compact)


def same_fingerprint(typed: str, public_key: bytes) -> bool:
    """Tell whether the fingerprint a person typed is *public_key*'s, ignoring spaces and case."""
    compact = "".join(typed.split()).lower().encode("utf-8")
    return hmac.compare_digest(compact, fingerprint(public_key).replace(" ", "").encode("ascii"))
