"""Regenerate ``tests/vectors/crypto.json``: run ``python -m tests.vectors.generate`` from the repository root.

Every vector is computed from fixed inputs by the code that defines the format (``client.crypto``
and ``protocol.kdf``), so the file says what the code does, and running this again rewrites it
byte for byte. The one exception is the sealed file key: libsodium seals with a fresh ephemeral
key pair, so a sealed box cannot be reproduced. The script keeps the sealed box already in the
file for as long as it still opens to the expected key, and makes a new one only otherwise.

``--check`` compares instead of writing and exits 1 if the file is stale; docs/crypto.md
describes the format the vectors pin.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import nacl.bindings
import nacl.pwhash.argon2id

from client import crypto
from protocol import kdf
from protocol.encoding import canonical_json

VECTORS = Path(__file__).with_name("crypto.json")

FILE_ID = "6f1c3f0e-2b7a-4d55-9a43-0c3e8f1d2a10"
OTHER_FILE_ID = "0b8e2f4c-5d7a-4e19-8c33-91a7d4b6e205"
WHOLE_FILE_ID = "4a7d1c22-93e0-4f6b-b1d8-5e2c7a9f0b13"

Vector = dict[str, Any]


def fixed(label: str, size: int) -> bytes:
    """Return *size* (at most 32) fixed, random-looking bytes named by *label*: SHA-256 of the label."""
    return hashlib.sha256(b"coffer test vector: " + label.encode()).digest()[:size]


def kdf_vectors() -> list[Vector]:
    cases = [
        ("correct horse battery staple", bytes(range(16)), "an ASCII password"),
        ("pässwörd ☂", fixed("kdf salt 2", 16), "a non-ASCII password: Argon2id takes its UTF-8 bytes, not normalised"),
    ]
    vectors = []
    for password, salt, about in cases:
        params = kdf.KdfParams(salt=salt)
        keys = kdf.derive(password, params)
        root = nacl.pwhash.argon2id.kdf(32, password.encode(), salt, opslimit=params.opslimit, memlimit=params.memlimit)
        vectors.append(
            {
                "about": about,
                "pins": ["protocol.kdf.derive"],
                "password": password,
                "password_utf8": password.encode().hex(),
                "salt": salt.hex(),
                "opslimit": params.opslimit,
                "memlimit": params.memlimit,
                "root": root.hex(),
                "auth_key": keys.auth_key.hex(),
                "master_key": keys.master_key.hex(),
            }
        )
    return vectors


def user_keys() -> crypto.UserKeys:
    private = fixed("user private key", 32)
    return crypto.UserKeys(private, nacl.bindings.crypto_scalarmult_base(private))


def wrap_vector(master_key: bytes) -> Vector:
    keys = user_keys()
    nonce = fixed("wrap nonce", 24)
    wrapped = crypto.wrap_private_key(master_key, keys, nonce)
    assert crypto.unwrap_private_key(master_key, wrapped, keys.public) == keys
    return {
        "about": "the user's X25519 key pair, its private key wrapped under the master key of kdf[0]",
        "pins": ["client.crypto.wrap_private_key", "client.crypto.unwrap_private_key"],
        "master_key": master_key.hex(),
        "private_key": keys.private.hex(),
        "public_key": keys.public.hex(),
        "nonce": nonce.hex(),
        "wrapped": wrapped.hex(),
    }


def sealed_key_vector(previous: Vector | None) -> Vector:
    keys = user_keys()
    file_key = fixed("file key", 32)
    sealed = _kept_sealed_box(previous, keys, file_key) or crypto.seal_file_key(keys.public, file_key)
    return {
        "about": "a file key sealed to the user's public key; sealing is randomised, so check by opening",
        "pins": ["client.crypto.seal_file_key", "client.crypto.open_file_key"],
        "randomised": ["sealed"],
        "private_key": keys.private.hex(),
        "public_key": keys.public.hex(),
        "file_key": file_key.hex(),
        "sealed": sealed.hex(),
    }


def _kept_sealed_box(previous: Vector | None, keys: crypto.UserKeys, file_key: bytes) -> bytes | None:
    try:
        sealed = bytes.fromhex((previous or {})["sealed"])
        return sealed if crypto.open_file_key(keys, sealed) == file_key else None
    except (KeyError, TypeError, ValueError, crypto.IntegrityError):
        return None


def chunk_ad(file_id: str, index: int, last: bool) -> bytes:
    """Build a chunk's associated data from the rule in docs/crypto.md, apart from the code's own helper."""
    return crypto.CHUNK_AD + bytes.fromhex(file_id.replace("-", "")) + index.to_bytes(8, "big") + bytes([last])


def chunk_vector(
    about: str, key: bytes, file_id: str, index: int, last: bool, plaintext: bytes, nonce: bytes
) -> Vector:
    blob = crypto.seal_chunk(key, file_id, index, last, plaintext, nonce)
    return {
        "about": about,
        "pins": ["client.crypto.seal_chunk", "client.crypto.open_chunk", "client.crypto.chunk_hash"],
        "key": key.hex(),
        "file_id": file_id,
        "index": index,
        "last": last,
        "nonce": nonce.hex(),
        "plaintext": plaintext.hex(),
        "ad": chunk_ad(file_id, index, last).hex(),
        "blob": blob.hex(),
        "hash": crypto.chunk_hash(blob),
    }


def chunk_vectors() -> list[Vector]:
    key = fixed("file key", 32)
    cases = [
        ("the only chunk of an empty file", 0, True, b""),
        ("the only chunk of a one-byte file", 0, True, b"A"),
        ("chunk 0 of a two-chunk file, not the last", 0, False, b"Coffer chunk 0 of 2: not the last one."),
        ("chunk 1 of a two-chunk file, the last", 1, True, b"Coffer chunk 1 of 2: the last one."),
        ("an index past 2^32, not the last: the index is 8 bytes big-endian", 0x010203040506, False, b"\x00\xff"),
    ]
    return [
        chunk_vector(about, key, FILE_ID, index, last, plaintext, fixed(f"chunk nonce {n}", 12))
        for n, (about, index, last, plaintext) in enumerate(cases)
    ]


def rejection_vectors(chunks: list[Vector]) -> list[Vector]:
    """Pair genuine chunk blobs with a position they were not sealed for: every one must fail to open."""
    first, last = chunks[2], chunks[3]

    def reject(about: str, source: Vector, **changes: Any) -> Vector:
        fields = {k: source[k] for k in ("key", "file_id", "index", "last", "blob")}
        return {"about": about, "pins": ["client.crypto.open_chunk"], **fields, **changes}

    return [
        reject("chunk 0 presented at index 1 (reordered)", first, index=1),
        reject("a chunk that is not last presented as last (the file cut after it)", first, last=True),
        reject("the last chunk presented as not last", last, last=False),
        reject("a chunk presented as part of another file", first, file_id=OTHER_FILE_ID),
        reject("a chunk cut short by one byte", first, blob=first["blob"][:-2]),
        reject("a chunk with the lowest bit of its tag flipped", first, blob=flip_last_bit(first["blob"])),
    ]


def flip_last_bit(blob_hex: str) -> str:
    blob = bytearray.fromhex(blob_hex)
    blob[-1] ^= 1
    return blob.hex()


def metadata_vector(about: str, key: bytes, file_id: str, metadata: crypto.Metadata, nonce: bytes) -> Vector:
    blob = crypto.seal_metadata(key, file_id, metadata, nonce)
    return {
        "about": about,
        "pins": ["client.crypto.seal_metadata", "client.crypto.open_metadata"],
        "key": key.hex(),
        "file_id": file_id,
        "nonce": nonce.hex(),
        "metadata": metadata.to_json(),
        "plaintext": canonical_json(metadata.to_json()).decode("ascii"),
        "ad": (crypto.METADATA_AD + bytes.fromhex(file_id.replace("-", ""))).hex(),
        "blob": blob.hex(),
    }


def metadata_vectors() -> list[Vector]:
    key = fixed("file key", 32)
    empty = crypto.Metadata("empty.txt", 0, "text/plain", 1767225600.5, hashlib.sha256(b"").hexdigest())
    report = crypto.Metadata(
        "Zoë's report ☂.pdf", 1234567, "application/pdf", 1767225601.25, hashlib.sha256(b"report").hexdigest()
    )
    return [
        metadata_vector("an empty file", key, FILE_ID, empty, fixed("metadata nonce 0", 12)),
        metadata_vector(
            "a non-ASCII name: canonical JSON escapes it as \\uXXXX",
            key,
            FILE_ID,
            report,
            fixed("metadata nonce 1", 12),
        ),
    ]


def whole_file_vector() -> Vector:
    """A 45-byte file in 16-byte chunks, to show how the pieces fit together (real files use 8 MiB)."""
    key, chunk_size = fixed("whole file key", 32), 16
    plaintext = b"The quick brown fox jumps over the lazy dog.\n"
    count = crypto.chunk_count(len(plaintext), chunk_size)
    chunks: list[Vector] = []
    for index in range(count):
        piece = plaintext[index * chunk_size : (index + 1) * chunk_size]
        nonce = fixed(f"whole file chunk nonce {index}", 12)
        blob = crypto.seal_chunk(key, WHOLE_FILE_ID, index, index == count - 1, piece, nonce)
        last = index == count - 1
        chunks.append(
            {"index": index, "last": last, "nonce": nonce.hex(), "blob": blob.hex(), "hash": crypto.chunk_hash(blob)}
        )
    metadata = crypto.Metadata(
        "fox.txt", len(plaintext), "text/plain", 1767225602.75, hashlib.sha256(plaintext).hexdigest()
    )
    metadata_nonce = fixed("whole file metadata nonce", 12)
    return {
        "about": "a whole file: split into plaintext chunks of chunk_size, each sealed at its position",
        "pins": [
            "client.crypto.chunk_count",
            "client.crypto.ciphertext_size",
            "client.crypto.seal_chunk",
            "client.crypto.chunk_hash",
            "client.crypto.seal_metadata",
        ],
        "key": key.hex(),
        "file_id": WHOLE_FILE_ID,
        "chunk_size": chunk_size,
        "plaintext": plaintext.hex(),
        "chunks": chunks,
        "metadata_nonce": metadata_nonce.hex(),
        "metadata": metadata.to_json(),
        "metadata_blob": crypto.seal_metadata(key, WHOLE_FILE_ID, metadata, metadata_nonce).hex(),
        "server_record": {
            "size": sum(len(bytes.fromhex(c["blob"])) for c in chunks),
            "chunk_count": count,
            "chunk_size": crypto.ciphertext_size(chunk_size),
        },
    }


def build(previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """Compute every vector; *previous* is the committed file, whose sealed box is kept while it opens."""
    kdfs = kdf_vectors()
    chunks = chunk_vectors()
    return {
        "format": "coffer client crypto, version 1",
        "spec": "docs/crypto.md",
        "generator": "python -m tests.vectors.generate",
        "notes": [
            "Byte strings are lowercase hex; file ids are UUID text, used as their 16 raw bytes.",
            "A vector's 'pins' names the functions of the Python client whose output it fixes.",
            "Fields listed in a vector's 'randomised' cannot be reproduced: open them instead of comparing.",
            "A chunk_rejections entry must fail to open, with the integrity error and nothing else.",
            "This file is pure ASCII on purpose: an editor cannot re-normalise the non-ASCII password.",
        ],
        "kdf": kdfs,
        "user_keys": wrap_vector(bytes.fromhex(kdfs[0]["master_key"])),
        "sealed_file_key": sealed_key_vector((previous or {}).get("sealed_file_key")),
        "chunks": chunks,
        "chunk_rejections": rejection_vectors(chunks),
        "metadata": metadata_vectors(),
        "file": whole_file_vector(),
    }


def render(vectors: dict[str, Any]) -> str:
    return json.dumps(vectors, indent=2, ensure_ascii=True) + "\n"


def load(path: Path = VECTORS) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="ascii"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Regenerate Coffer's crypto test vectors.")
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 if the file is stale")
    args = parser.parse_args(argv)
    text = render(build(load()))
    current = VECTORS.read_text(encoding="ascii") if VECTORS.exists() else None
    if args.check:
        if text != current:
            print(f"{VECTORS.name} is stale: run python -m tests.vectors.generate", file=sys.stderr)
            return 1
        return 0
    if text != current:
        VECTORS.write_text(text, encoding="ascii")
        print(f"wrote {VECTORS.name}")
    else:
        print(f"{VECTORS.name} is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
