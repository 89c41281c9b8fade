"""Regenerate ``spec/vectors/format-v1.json``: run ``python -m tests.format.generate_vectors`` from the repository root.

Every vector is computed from fixed inputs by the code that defines the format (the ``coffer.format``
package), so the file says what the code does, and running this again rewrites it
byte for byte. The one exception is the sealed file key: libsodium seals with a fresh ephemeral
key pair, so a sealed box cannot be reproduced. The script keeps the sealed box already in the
file for as long as it still opens to the expected key, and makes a new one only otherwise.

``--check`` compares instead of writing and exits 1 if the file is stale; spec/format-v1.md
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

from coffer.format import kdf
from coffer.format.chunks import CHUNK_AD, chunk_hash, seal_chunk
from coffer.format.errors import IntegrityError
from coffer.format.keys import (
    COMMITMENT_LABEL,
    UserKeys,
    key_commitment,
    open_file_key,
    seal_file_key,
    unwrap_private_key,
    wrap_private_key,
)
from coffer.format.links import link_url, locked_fragment, plain_fragment
from coffer.format.metadata import METADATA_AD, Metadata, seal_metadata
from coffer.format.shares import FINGERPRINT_LABEL, SHARE_LABEL, fingerprint, open_share_key, seal_share_key
from coffer.format.sizes import chunk_count, ciphertext_size
from coffer.protocol.encoding import b64encode, canonical_json

VECTORS = Path(__file__).parents[2] / "spec" / "vectors" / "format-v1.json"

FILE_ID = "6f1c3f0e-2b7a-4d55-9a43-0c3e8f1d2a10"
OTHER_FILE_ID = "0b8e2f4c-5d7a-4e19-8c33-91a7d4b6e205"
WHOLE_FILE_ID = "4a7d1c22-93e0-4f6b-b1d8-5e2c7a9f0b13"
LINK_ID = "3f6c9a2e-8b1d-4c57-a0e4-7d2b5f9c1e38"
OTHER_LINK_ID = "9d2e7b41-6a3c-4f08-8e15-2c7a9b0d4f63"
SERVER = "https://coffer.example.com"
SERVER_WITH_PATH = "https://files.example.org:8443/coffer"
LINK_PASSWORD = "Zo\u00eb's link \u2602"

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
                "pins": ["format.kdf.derive"],
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


def user_keys() -> UserKeys:
    private = fixed("user private key", 32)
    return UserKeys(private, nacl.bindings.crypto_scalarmult_base(private))


def wrap_vector(master_key: bytes) -> Vector:
    keys = user_keys()
    nonce = fixed("wrap nonce", 24)
    wrapped = wrap_private_key(master_key, keys, nonce)
    assert unwrap_private_key(master_key, wrapped, keys.public) == keys
    return {
        "about": "the user's X25519 key pair, its private key wrapped under the master key of kdf[0]",
        "pins": ["format.keys.wrap_private_key", "format.keys.unwrap_private_key"],
        "master_key": master_key.hex(),
        "private_key": keys.private.hex(),
        "public_key": keys.public.hex(),
        "nonce": nonce.hex(),
        "wrapped": wrapped.hex(),
    }


def sealed_key_vector(previous: Vector | None) -> Vector:
    keys = user_keys()
    file_key = fixed("file key", 32)
    sealed = _kept_sealed_box(previous, keys, file_key) or seal_file_key(keys.public, file_key)
    return {
        "about": "a file key sealed to the user's public key; sealing is randomised, so check by opening",
        "pins": ["format.keys.seal_file_key", "format.keys.open_file_key"],
        "randomised": ["sealed"],
        "private_key": keys.private.hex(),
        "public_key": keys.public.hex(),
        "file_key": file_key.hex(),
        "sealed": sealed.hex(),
    }


def _kept_sealed_box(previous: Vector | None, keys: UserKeys, file_key: bytes) -> bytes | None:
    try:
        sealed = bytes.fromhex((previous or {})["sealed"])
        return sealed if open_file_key(keys, sealed) == file_key else None
    except (KeyError, TypeError, ValueError, IntegrityError):
        return None


def chunk_ad(file_id: str, index: int, last: bool) -> bytes:
    """Build a chunk's associated data from the rule in spec/format-v1.md, apart from the code's own helper."""
    return CHUNK_AD + bytes.fromhex(file_id.replace("-", "")) + index.to_bytes(8, "big") + bytes([last])


def chunk_vector(
    about: str, key: bytes, file_id: str, index: int, last: bool, plaintext: bytes, nonce: bytes
) -> Vector:
    blob = seal_chunk(key, file_id, index, last, plaintext, nonce)
    return {
        "about": about,
        "pins": ["format.chunks.seal_chunk", "format.chunks.open_chunk", "format.chunks.chunk_hash"],
        "key": key.hex(),
        "file_id": file_id,
        "index": index,
        "last": last,
        "nonce": nonce.hex(),
        "plaintext": plaintext.hex(),
        "ad": chunk_ad(file_id, index, last).hex(),
        "blob": blob.hex(),
        "hash": chunk_hash(blob),
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
        return {"about": about, "pins": ["format.chunks.open_chunk"], **fields, **changes}

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


def metadata_vector(about: str, key: bytes, file_id: str, metadata: Metadata, nonce: bytes) -> Vector:
    blob = seal_metadata(key, file_id, metadata, nonce)
    return {
        "about": about,
        "pins": ["format.metadata.seal_metadata", "format.metadata.open_metadata"],
        "key": key.hex(),
        "file_id": file_id,
        "nonce": nonce.hex(),
        "metadata": metadata.to_json(),
        "plaintext": canonical_json(metadata.to_json()).decode("ascii"),
        "ad": (METADATA_AD + bytes.fromhex(file_id.replace("-", ""))).hex(),
        "blob": blob.hex(),
    }


def metadata_vectors() -> list[Vector]:
    key = fixed("file key", 32)
    empty = Metadata("empty.txt", 0, "text/plain", 1767225600.5, hashlib.sha256(b"").hexdigest())
    report = Metadata(
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
    count = chunk_count(len(plaintext), chunk_size)
    chunks: list[Vector] = []
    for index in range(count):
        piece = plaintext[index * chunk_size : (index + 1) * chunk_size]
        nonce = fixed(f"whole file chunk nonce {index}", 12)
        blob = seal_chunk(key, WHOLE_FILE_ID, index, index == count - 1, piece, nonce)
        last = index == count - 1
        chunks.append(
            {"index": index, "last": last, "nonce": nonce.hex(), "blob": blob.hex(), "hash": chunk_hash(blob)}
        )
    metadata = Metadata("fox.txt", len(plaintext), "text/plain", 1767225602.75, hashlib.sha256(plaintext).hexdigest())
    metadata_nonce = fixed("whole file metadata nonce", 12)
    return {
        "about": "a whole file: split into plaintext chunks of chunk_size, each sealed at its position",
        "pins": [
            "format.sizes.chunk_count",
            "format.sizes.ciphertext_size",
            "format.chunks.seal_chunk",
            "format.chunks.chunk_hash",
            "format.metadata.seal_metadata",
        ],
        "key": key.hex(),
        "file_id": WHOLE_FILE_ID,
        "chunk_size": chunk_size,
        "plaintext": plaintext.hex(),
        "chunks": chunks,
        "metadata_nonce": metadata_nonce.hex(),
        "metadata": metadata.to_json(),
        "metadata_blob": seal_metadata(key, WHOLE_FILE_ID, metadata, metadata_nonce).hex(),
        "server_record": {
            "size": sum(len(bytes.fromhex(c["blob"])) for c in chunks),
            "chunk_count": count,
            "chunk_size": ciphertext_size(chunk_size),
        },
    }


def key_commitment_vectors() -> list[Vector]:
    cases = [
        ("the commitment to the file key of the chunk, metadata, share and link vectors", fixed("file key", 32)),
        ("the commitment to the whole file's key", fixed("whole file key", 32)),
    ]
    return [
        {
            "about": about,
            "pins": ["format.keys.key_commitment", "format.keys.check_key_commitment"],
            "file_key": key.hex(),
            "label": COMMITMENT_LABEL.decode("ascii"),
            "commitment": key_commitment(key).hex(),
        }
        for about, key in cases
    ]


def key_pair(label: str) -> UserKeys:
    private = fixed(label, 32)
    return UserKeys(private, nacl.bindings.crypto_scalarmult_base(private))


def share_plaintext(file_id: str, file_key: bytes, label: bytes = SHARE_LABEL) -> bytes:
    """Build what a share box holds from the rule in spec/format-v1.md, apart from the code."""
    return label + bytes.fromhex(file_id.replace("-", "")) + file_key


def share_key_vector() -> Vector:
    """The owner (the user_keys pair) shares the file key with a recipient; then boxes that must not open."""
    owner, recipient, stranger = user_keys(), key_pair("recipient private key"), key_pair("stranger private key")
    file_key, nonce = fixed("file key", 32), fixed("share nonce", 24)
    box = seal_share_key(owner, recipient.public, FILE_ID, file_key, nonce)
    assert open_share_key(recipient, owner.public, FILE_ID, box) == file_key
    relabelled = fixed("share nonce, other label", 24)
    relabelled += nacl.bindings.crypto_box(
        share_plaintext(FILE_ID, file_key, b"coffer share v2"), relabelled, recipient.public, owner.private
    )
    to_stranger = seal_share_key(owner, stranger.public, FILE_ID, file_key, fixed("share nonce, stranger", 24))

    def reject(about: str, *, owner_public: bytes = owner.public, file_id: str = FILE_ID, share: bytes = box) -> Vector:
        return {
            "about": about,
            "pins": ["format.shares.open_share_key"],
            "recipient_private_key": recipient.private.hex(),
            "recipient_public_key": recipient.public.hex(),
            "owner_public_key": owner_public.hex(),
            "file_id": file_id,
            "share_key": share.hex(),
            "error": IntegrityError.code,
        }

    return {
        "about": "a file key boxed from its owner to a recipient, bound to the file",
        "pins": ["format.shares.seal_share_key", "format.shares.open_share_key"],
        "owner_private_key": owner.private.hex(),
        "owner_public_key": owner.public.hex(),
        "recipient_private_key": recipient.private.hex(),
        "recipient_public_key": recipient.public.hex(),
        "file_id": FILE_ID,
        "file_key": file_key.hex(),
        "key_commitment": key_commitment(file_key).hex(),
        "nonce": nonce.hex(),
        "plaintext": share_plaintext(FILE_ID, file_key).hex(),
        "share_key": box.hex(),
        "rejections": [
            reject("opened as if another user had shared it (a wrong owner key)", owner_public=stranger.public),
            reject("presented as the key of another file (the server moved it)", file_id=OTHER_FILE_ID),
            reject("one byte of the ciphertext altered", share=flip_byte(box, 60)),
            reject("one byte of the nonce altered", share=flip_byte(box, 0)),
            reject("cut short by one byte", share=box[:-1]),
            reject("a box the owner made for another recipient", share=to_stranger),
            reject("a genuine box from the owner whose label is not 'coffer share v1'", share=relabelled),
        ],
    }


def flip_byte(data: bytes, index: int) -> bytes:
    changed = bytearray(data)
    changed[index] ^= 0x01
    return bytes(changed)


def fingerprint_vectors() -> list[Vector]:
    owner, recipient = user_keys(), key_pair("recipient private key")
    vectors = []
    for about, keys, other in (
        ("the owner's public key (user_keys)", owner, recipient),
        ("the recipient's public key (share_key)", recipient, owner),
    ):
        shown = fingerprint(keys.public)
        digits = shown.replace(" ", "")
        changed = digits[:-1] + ("0" if digits[-1] != "0" else "1")
        vectors.append(
            {
                "about": about,
                "pins": ["format.shares.fingerprint", "format.shares.same_fingerprint"],
                "public_key": keys.public.hex(),
                "message": (FINGERPRINT_LABEL + keys.public).hex(),
                "fingerprint": shown,
                "typed_matching": [shown, digits, shown.upper(), f"  {digits[:16].upper()} {digits[16:]} "],
                "typed_not_matching": [fingerprint(other.public), changed, digits[:-1], ""],
            }
        )
    return vectors


def plain_link_vector() -> Vector:
    file_key = fixed("file key", 32)
    fragment = plain_fragment(file_key)
    return {
        "about": "a link without a password: the fragment carries the file key itself",
        "pins": [
            "format.links.plain_fragment",
            "format.links.open_fragment",
            "format.links.link_url",
        ],
        "server": SERVER,
        "link_id": LINK_ID,
        "file_key": file_key.hex(),
        "key_commitment": key_commitment(file_key).hex(),
        "fragment": fragment,
        "url": link_url(SERVER, LINK_ID, fragment),
    }


def password_link_vector() -> Vector:
    """A locked fragment; root, wrap_key, ad and ciphertext are computed from spec/format-v1.md, apart from the code."""
    file_key, salt, nonce = fixed("file key", 32), fixed("link salt", 16), fixed("link nonce", 24)
    fragment = locked_fragment(file_key, LINK_ID, LINK_PASSWORD, salt=salt, nonce=nonce)
    root = nacl.pwhash.argon2id.kdf(32, LINK_PASSWORD.encode(), salt, opslimit=kdf.OPSLIMIT, memlimit=kdf.MEMLIMIT)
    wrap_key = hashlib.blake2b(b"coffer link key v1", key=root, digest_size=32).digest()
    ad = b"coffer link v1" + bytes.fromhex(LINK_ID.replace("-", ""))
    ciphertext = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_encrypt(file_key, ad, nonce, wrap_key)
    assert fragment == "v1.p." + b64encode(salt + nonce + ciphertext)
    return {
        "about": "a link locked with a password (non-ASCII: Argon2id takes its UTF-8 bytes)",
        "pins": [
            "format.links.locked_fragment",
            "format.links.open_fragment",
            "format.links.link_url",
        ],
        "server": SERVER_WITH_PATH,
        "link_id": LINK_ID,
        "file_key": file_key.hex(),
        "key_commitment": key_commitment(file_key).hex(),
        "password": LINK_PASSWORD,
        "password_utf8": LINK_PASSWORD.encode().hex(),
        "salt": salt.hex(),
        "nonce": nonce.hex(),
        "opslimit": kdf.OPSLIMIT,
        "memlimit": kdf.MEMLIMIT,
        "root": root.hex(),
        "wrap_key": wrap_key.hex(),
        "ad": ad.hex(),
        "ciphertext": ciphertext.hex(),
        "fragment": fragment,
        "url": link_url(SERVER_WITH_PATH, LINK_ID, fragment),
    }


def change_char(text: str, index: int) -> str:
    """Replace one base64url character with another, so the decoded bytes change but stay canonical."""
    return text[:index] + ("A" if text[index] != "A" else "B") + text[index + 1 :]


def link_rejections(plain: Vector, locked: Vector) -> list[Vector]:
    def reject(about: str, error: str, fragment: str, password: str | None, link_id: str = LINK_ID) -> Vector:
        return {
            "about": about,
            "pins": ["format.links.open_fragment", "format.keys.check_key_commitment"],
            "link_id": link_id,
            "fragment": fragment,
            "password": password,
            "key_commitment": plain["key_commitment"],
            "error": error,
        }

    prefix = len("v1.p.")
    return [
        reject("the wrong password", "link_password_wrong", locked["fragment"], "Zoe's link \u2602"),
        reject(
            "a character of the salt changed",
            "link_password_wrong",
            change_char(locked["fragment"], prefix + 3),
            LINK_PASSWORD,
        ),
        reject(
            "a character of the ciphertext changed",
            "link_password_wrong",
            change_char(locked["fragment"], prefix + 60),
            LINK_PASSWORD,
        ),
        reject(
            "the locked fragment of another link",
            "link_password_wrong",
            locked["fragment"],
            LINK_PASSWORD,
            OTHER_LINK_ID,
        ),
        reject("a locked fragment with no password given", "link_password_needed", locked["fragment"], None),
        reject(
            "a locked fragment cut short by one character", "link_malformed", locked["fragment"][:-1], LINK_PASSWORD
        ),
        reject("no fragment: an app cut the part after '#'", "link_key_missing", "", None),
        reject(
            "a character of a plain key changed: it opens, but fails the key commitment",
            "key_mismatch",
            change_char(plain["fragment"], 10),
            None,
        ),
        reject("a plain key cut short by one character", "link_malformed", plain["fragment"][:-1], None),
        reject(
            "a fragment of a version this client does not know", "link_malformed", "v2.k." + plain["fragment"][5:], None
        ),
    ]


def link_url_vectors(plain: Vector, locked: Vector) -> tuple[list[Vector], list[Vector]]:
    """Links every client must split the same way, and texts it must refuse as links."""
    key = plain["fragment"]

    def accepted(about: str, url: str, server: str, fragment: str = key) -> Vector:
        pins = ["format.links.parse_link"]
        return {"about": about, "pins": pins, "url": url, "server": server, "link_id": LINK_ID, "fragment": fragment}

    def refused(about: str, url: str) -> Vector:
        return {"about": about, "pins": ["format.links.parse_link"], "url": url, "error": "link_malformed"}

    upper = LINK_ID.upper()
    not_v4 = LINK_ID[:14] + "1" + LINK_ID[15:]
    return (
        [
            accepted("a plain link", plain["url"], SERVER),
            accepted(
                "a locked link on a server with a port and a base path",
                locked["url"],
                SERVER_WITH_PATH,
                locked["fragment"],
            ),
            accepted(
                "http, an address and a port", f"http://127.0.0.1:8000/s/{LINK_ID}#{key}", "http://127.0.0.1:8000"
            ),
            accepted("a slash after the link id", f"{SERVER}/s/{LINK_ID}/#{key}", SERVER),
            accepted("an IPv6 address", f"http://[::1]:8080/s/{LINK_ID}#{key}", "http://[::1]:8080"),
            accepted(
                "no fragment: it parses, and opening it says the key is missing", f"{SERVER}/s/{LINK_ID}", SERVER, ""
            ),
            accepted("an empty fragment is no fragment", f"{SERVER}/s/{LINK_ID}#", SERVER, ""),
        ],
        [
            refused("another scheme", f"ftp://coffer.example.com/s/{LINK_ID}#{key}"),
            refused("no scheme", f"coffer.example.com/s/{LINK_ID}#{key}"),
            refused("no host", f"https:///s/{LINK_ID}#{key}"),
            refused("a path that is not /s/<link id>", f"{SERVER}/f/{LINK_ID}#{key}"),
            refused("something after the link id", f"{SERVER}/s/{LINK_ID}/more#{key}"),
            refused("a link id that is not a UUID", f"{SERVER}/s/not-a-link#{key}"),
            refused("an upper-case link id (the server makes lower case)", f"{SERVER}/s/{upper}#{key}"),
            refused("a UUID that is not version 4", f"{SERVER}/s/{not_v4}#{key}"),
            refused("a query", f"{SERVER}/s/{LINK_ID}?download=1#{key}"),
            refused("a user name before the host", f"https://alice@coffer.example.com/s/{LINK_ID}#{key}"),
            refused("a space inside", f"{SERVER}/s/{LINK_ID} #{key}"),
            refused("a malformed port", f"https://coffer.example.com:port/s/{LINK_ID}#{key}"),
        ],
    )


def link_vectors() -> Vector:
    plain, locked = plain_link_vector(), password_link_vector()
    urls, malformed = link_url_vectors(plain, locked)
    return {
        "plain": plain,
        "password": locked,
        "rejections": link_rejections(plain, locked),
        "urls": urls,
        "malformed_urls": malformed,
    }


def build(previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """Compute every vector; *previous* is the committed file, whose sealed box is kept while it opens."""
    kdfs = kdf_vectors()
    chunks = chunk_vectors()
    return {
        "format": "coffer format, version 1",
        "spec": "spec/format-v1.md",
        "generator": "python -m tests.format.generate_vectors",
        "notes": [
            "Byte strings are lowercase hex; file ids are UUID text, used as their 16 raw bytes.",
            "A vector's 'pins' names the functions of the Python client whose output it fixes.",
            "Fields listed in a vector's 'randomised' cannot be reproduced: open them instead of comparing.",
            "A chunk_rejections entry must fail to open, with the integrity error and nothing else.",
            "Every entry of a 'rejections' list must fail too; its 'error' is the Python client's error code.",
            "This file is pure ASCII on purpose: an editor cannot re-normalise the non-ASCII password.",
        ],
        "kdf": kdfs,
        "user_keys": wrap_vector(bytes.fromhex(kdfs[0]["master_key"])),
        "sealed_file_key": sealed_key_vector((previous or {}).get("sealed_file_key")),
        "chunks": chunks,
        "chunk_rejections": rejection_vectors(chunks),
        "metadata": metadata_vectors(),
        "file": whole_file_vector(),
        "key_commitment": key_commitment_vectors(),
        "share_key": share_key_vector(),
        "fingerprint": fingerprint_vectors(),
        "links": link_vectors(),
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
            print(f"{VECTORS.name} is stale: run python -m tests.format.generate_vectors", file=sys.stderr)
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
