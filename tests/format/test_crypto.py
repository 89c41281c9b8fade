"""Client crypto format v1: what round-trips, and every way a chunk, metadata, key or share can be tampered with.

Any tampering must surface as ``IntegrityError`` and nothing else, so a downloader needs one
``except`` and the user one clear message. The exact bytes of the format are pinned by test_vectors.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Iterator
from typing import Any

import nacl.bindings
import nacl.bindings.crypto_aead
import nacl.exceptions
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coffer.client.errors import ClientError, exit_code
from coffer.format import aead
from coffer.format.chunks import chunk_hash, open_chunk, seal_chunk
from coffer.format.errors import CryptoUnavailable, FingerprintMalformed, FormatError, IntegrityError, KeyMismatch
from coffer.format.keys import (
    COMMITMENT_BYTES,
    KEY_BYTES,
    UserKeys,
    check_key_commitment,
    key_commitment,
    new_file_key,
    open_file_key,
    seal_file_key,
    unwrap_private_key,
    wrap_private_key,
)
from coffer.format.metadata import METADATA_AD, Metadata, open_metadata, seal_metadata
from coffer.format.shares import (
    SHARE_KEY_BYTES,
    SHARE_LABEL,
    fingerprint,
    open_share_key,
    parse_fingerprint,
    same_fingerprint,
    seal_share_key,
)
from coffer.format.sizes import CHUNK_OVERHEAD, DEFAULT_CHUNK_SIZE, NONCE_BYTES, TAG_BYTES, chunk_count, ciphertext_size
from coffer.protocol.encoding import canonical_json

KEY = bytes(range(32))
FILE_ID = "6f1c3f0e-2b7a-4d55-9a43-0c3e8f1d2a10"
OTHER_FILE_ID = "0b8e2f4c-5d7a-4e19-8c33-91a7d4b6e205"
MIB = 1024 * 1024

file_ids = st.uuids().map(str)
indexes = st.integers(min_value=0, max_value=2**64 - 1)


def seal_file(key: bytes, file_id: str, data: bytes, chunk_size: int) -> list[bytes]:
    count = chunk_count(len(data), chunk_size)
    return [
        seal_chunk(key, file_id, i, i == count - 1, data[i * chunk_size : (i + 1) * chunk_size]) for i in range(count)
    ]


def open_file(key: bytes, file_id: str, blobs: list[bytes]) -> bytes:
    """Open chunks as a downloader must: index and last flag come from the chunk's place in the list."""
    return b"".join(open_chunk(key, file_id, i, i == len(blobs) - 1, b) for i, b in enumerate(blobs))


def flip(blob: bytes, bit: int) -> bytes:
    data = bytearray(blob)
    data[bit // 8] ^= 1 << (bit % 8)
    return bytes(data)


def metadata() -> Metadata:
    return Metadata("notes.txt", 5, "text/plain", 1767225600.5, hashlib.sha256(b"notes").hexdigest())


def seal_raw_metadata(plaintext: bytes, key: bytes = KEY, file_id: str = FILE_ID) -> bytes:
    """Seal arbitrary bytes as metadata: what only a holder of the file key (owner, or a sharer) could make."""
    nonce = os.urandom(12)
    ad = METADATA_AD + uuid.UUID(file_id).bytes
    return nonce + nacl.bindings.crypto_aead_aes256gcm_encrypt(plaintext, ad, nonce, key)


# --- round trips -------------------------------------------------------------------------------------------


@settings(deadline=None)
@given(plaintext=st.binary(max_size=4096), file_id=file_ids, index=indexes, last=st.booleans())
def test_chunk_round_trips_at_any_position(plaintext: bytes, file_id: str, index: int, last: bool) -> None:
    blob = seal_chunk(KEY, file_id, index, last, plaintext)
    assert len(blob) == ciphertext_size(len(plaintext)) == len(plaintext) + CHUNK_OVERHEAD
    assert open_chunk(KEY, file_id, index, last, blob) == plaintext


@settings(deadline=None)
@given(data=st.binary(max_size=600), chunk_size=st.integers(min_value=1, max_value=97))
def test_file_of_any_size_round_trips_through_its_chunks(data: bytes, chunk_size: int) -> None:
    blobs = seal_file(KEY, FILE_ID, data, chunk_size)
    assert len(blobs) == chunk_count(len(data), chunk_size)
    assert open_file(KEY, FILE_ID, blobs) == data


def test_empty_file_is_one_empty_last_chunk() -> None:
    (blob,) = seal_file(KEY, FILE_ID, b"", DEFAULT_CHUNK_SIZE)
    assert len(blob) == CHUNK_OVERHEAD
    assert open_chunk(KEY, FILE_ID, 0, True, blob) == b""
    with pytest.raises(IntegrityError):
        open_chunk(KEY, FILE_ID, 0, False, blob)


def test_sealing_the_same_chunk_twice_uses_fresh_nonces_and_gives_other_names() -> None:
    first, second = (seal_chunk(KEY, FILE_ID, 0, True, b"same") for _ in range(2))
    assert first[:NONCE_BYTES] != second[:NONCE_BYTES]
    assert chunk_hash(first) != chunk_hash(second)


def test_chunk_is_named_by_lowercase_hex_sha256_of_the_whole_blob() -> None:
    blob = seal_chunk(KEY, FILE_ID, 0, True, b"x")
    assert chunk_hash(blob) == hashlib.sha256(blob).hexdigest()
    assert len(chunk_hash(blob)) == 64 and chunk_hash(blob) == chunk_hash(blob).lower()


@settings(deadline=None)
@given(
    name=st.text(max_size=40),
    size=st.integers(min_value=0, max_value=2**53),
    type_=st.text(max_size=20),
    mtime=st.floats(allow_nan=False, allow_infinity=False),
    file_id=file_ids,
)
def test_metadata_round_trips(name: str, size: int, type_: str, mtime: float, file_id: str) -> None:
    meta = Metadata(name, size, type_, mtime, hashlib.sha256(name.encode()).hexdigest())
    assert open_metadata(KEY, file_id, seal_metadata(KEY, file_id, meta)) == meta


def test_metadata_plaintext_is_canonical_json_with_version_1() -> None:
    blob = seal_metadata(KEY, FILE_ID, metadata(), nonce=bytes(12))
    ad = METADATA_AD + uuid.UUID(FILE_ID).bytes
    raw = nacl.bindings.crypto_aead_aes256gcm_decrypt(blob[12:], ad, blob[:12], KEY)
    assert json.loads(raw) == {
        "v": 1,
        **{k: getattr(metadata(), k) for k in ("name", "size", "type", "mtime", "sha256")},
    }
    assert raw == json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":")).encode()


def test_private_key_wraps_and_unwraps_under_the_master_key() -> None:
    keys, master = UserKeys.generate(), os.urandom(32)
    wrapped = wrap_private_key(master, keys)
    assert len(wrapped) == 24 + 16 + 32
    assert keys.private not in wrapped
    assert unwrap_private_key(master, wrapped, keys.public) == keys


def test_generated_key_pair_is_x25519() -> None:
    keys = UserKeys.generate()
    assert len(keys.private) == len(keys.public) == 32
    assert nacl.bindings.crypto_scalarmult_base(keys.private) == keys.public


def test_file_key_is_32_fresh_random_bytes() -> None:
    first, second = new_file_key(), new_file_key()
    assert len(first) == KEY_BYTES == 32
    assert first != second


def test_sealed_file_key_opens_with_the_owners_key_and_is_randomised() -> None:
    keys, file_key = UserKeys.generate(), new_file_key()
    first, second = seal_file_key(keys.public, file_key), seal_file_key(keys.public, file_key)
    assert first != second
    assert len(first) == 32 + 16 + 32
    assert open_file_key(keys, first) == open_file_key(keys, second) == file_key


# --- chunk tampering ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sealed_at", "opened_at"),
    [(0, 1), (1, 0), (3, 2), (1, 2**32 + 1), (2**32 + 1, 1), (0, 2**64 - 1)],
    ids=["0->1", "1->0", "3->2", "index is 8 bytes, not 4", "high bytes count", "0->max"],
)
def test_chunk_moved_to_another_index_does_not_open(sealed_at: int, opened_at: int) -> None:
    blob = seal_chunk(KEY, FILE_ID, sealed_at, False, b"chunk")
    with pytest.raises(IntegrityError, match=f"chunk {opened_at} "):
        open_chunk(KEY, FILE_ID, opened_at, False, blob)


def test_chunk_swapped_into_another_file_under_the_same_key_does_not_open() -> None:
    blob = seal_chunk(KEY, FILE_ID, 0, True, b"chunk")
    with pytest.raises(IntegrityError):
        open_chunk(KEY, OTHER_FILE_ID, 0, True, blob)


def test_chunk_swapped_into_another_file_with_its_own_key_does_not_open() -> None:
    blob = seal_chunk(KEY, FILE_ID, 0, True, b"chunk")
    with pytest.raises(IntegrityError):
        open_chunk(new_file_key(), OTHER_FILE_ID, 0, True, blob)


@pytest.mark.parametrize("sealed_last", [False, True], ids=["flagged last when it is not", "last flag dropped"])
def test_chunk_with_the_wrong_last_flag_does_not_open(sealed_last: bool) -> None:
    blob = seal_chunk(KEY, FILE_ID, 4, sealed_last, b"chunk")
    with pytest.raises(IntegrityError, match="chunk 4 "):
        open_chunk(KEY, FILE_ID, 4, not sealed_last, blob)


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda b: b[:-1], id="truncated-by-one-byte"),
        pytest.param(lambda b: b + b"\x00", id="extended-by-one-byte"),
        pytest.param(lambda b: b[:CHUNK_OVERHEAD], id="cut-to-nonce-and-tag-size"),
        pytest.param(lambda b: b[: CHUNK_OVERHEAD - 1], id="shorter-than-nonce-and-tag"),
        pytest.param(lambda b: b"", id="empty"),
        pytest.param(lambda b: b[NONCE_BYTES:], id="nonce-missing"),
        pytest.param(lambda b: b[:NONCE_BYTES] + b[-TAG_BYTES:], id="ciphertext-removed"),
    ],
)
def test_chunk_cut_or_padded_does_not_open(damage: Any) -> None:
    blob = seal_chunk(KEY, FILE_ID, 7, False, b"sixteen bytes!!!")
    with pytest.raises(IntegrityError, match="chunk 7 "):
        open_chunk(KEY, FILE_ID, 7, False, damage(blob))


@pytest.mark.parametrize(
    ("region", "start", "end"),
    [("nonce", 0, 12), ("ciphertext", 12, 12 + 5), ("tag", 12 + 5, 12 + 5 + 16)],
)
def test_every_flipped_bit_in_a_chunk_is_caught(region: str, start: int, end: int) -> None:
    blob = seal_chunk(KEY, FILE_ID, 2, True, b"hello")
    assert len(blob) == 12 + 5 + 16
    for bit in range(start * 8, end * 8):
        with pytest.raises(IntegrityError, match="chunk 2 "):
            open_chunk(KEY, FILE_ID, 2, True, flip(blob, bit))


def test_chunk_under_a_wrong_key_does_not_open() -> None:
    blob = seal_chunk(KEY, FILE_ID, 0, True, b"chunk")
    with pytest.raises(IntegrityError, match="key"):
        open_chunk(new_file_key(), FILE_ID, 0, True, blob)


@pytest.mark.parametrize(
    "rearrange",
    [
        pytest.param(lambda c: [c[0], c[2]], id="middle-chunk-dropped"),
        pytest.param(lambda c: c[:2], id="last-chunk-dropped"),
        pytest.param(lambda c: c[:1], id="cut-after-the-first-chunk"),
        pytest.param(lambda c: c[1:], id="first-chunk-dropped"),
        pytest.param(lambda c: [c[1], c[0], c[2]], id="two-chunks-swapped"),
        pytest.param(lambda c: [*c, c[2]], id="last-chunk-repeated"),
        pytest.param(lambda c: [c[0], c[1], c[1], c[2]], id="middle-chunk-repeated"),
    ],
)
def test_a_rearranged_chunk_list_does_not_open(rearrange: Any) -> None:
    blobs = seal_file(KEY, FILE_ID, b"a" * 10 + b"b" * 10 + b"c" * 5, 10)
    assert len(blobs) == 3
    with pytest.raises(IntegrityError):
        open_file(KEY, FILE_ID, rearrange(blobs))


def test_the_same_position_of_another_file_under_the_same_key_does_not_open() -> None:
    blobs = seal_file(KEY, FILE_ID, b"x" * 20, 10)
    stranger = seal_file(KEY, OTHER_FILE_ID, b"y" * 20, 10)[1]
    with pytest.raises(IntegrityError, match="chunk 1 "):
        open_file(KEY, FILE_ID, [blobs[0], stranger])


def test_metadata_blob_does_not_open_as_a_chunk_and_a_chunk_not_as_metadata() -> None:
    meta = seal_metadata(KEY, FILE_ID, metadata())
    chunk = seal_chunk(KEY, FILE_ID, 0, True, canonical_json(metadata().to_json()))
    with pytest.raises(IntegrityError):
        open_chunk(KEY, FILE_ID, 0, True, meta)
    with pytest.raises(IntegrityError):
        open_metadata(KEY, FILE_ID, chunk)


def test_integrity_error_is_a_format_error_not_a_client_error_with_its_own_code_and_exit_code() -> None:
    assert issubclass(IntegrityError, FormatError) and not issubclass(IntegrityError, ClientError)
    assert (IntegrityError.code, exit_code(IntegrityError("x"))) == ("integrity", 7)


# --- metadata tampering ------------------------------------------------------------------------------------


def test_every_flipped_bit_in_metadata_is_caught() -> None:
    blob = seal_metadata(KEY, FILE_ID, metadata())
    for bit in range(len(blob) * 8):
        with pytest.raises(IntegrityError, match="metadata"):
            open_metadata(KEY, FILE_ID, flip(blob, bit))


@pytest.mark.parametrize(
    ("key", "file_id", "damage"),
    [
        pytest.param(KEY, OTHER_FILE_ID, lambda b: b, id="moved-to-another-file"),
        pytest.param(bytes(32), FILE_ID, lambda b: b, id="wrong-key"),
        pytest.param(KEY, FILE_ID, lambda b: b[:-1], id="truncated-by-one-byte"),
        pytest.param(KEY, FILE_ID, lambda b: b + b"\x00", id="extended-by-one-byte"),
        pytest.param(KEY, FILE_ID, lambda b: b[:20], id="shorter-than-nonce-and-tag"),
        pytest.param(KEY, FILE_ID, lambda b: b[:5], id="shorter-than-a-nonce"),
        pytest.param(KEY, FILE_ID, lambda b: b"", id="empty"),
    ],
)
def test_tampered_metadata_does_not_open(key: bytes, file_id: str, damage: Any) -> None:
    blob = seal_metadata(KEY, FILE_ID, metadata())
    with pytest.raises(IntegrityError):
        open_metadata(key, file_id, damage(blob))


@pytest.mark.parametrize(
    "plaintext",
    [
        pytest.param(b"not json", id="not-json"),
        pytest.param(b"\xff\xfe", id="not-utf8"),
        pytest.param(b'{"v":1,"name":"a","size":1,"type":"t","mtime":0}', id="field-missing"),
        pytest.param(b'{"v":2,"name":"a","size":1,"type":"t","mtime":0,"sha256":"00"}', id="version-2"),
        pytest.param(b'{"name":"a","size":1,"type":"t","mtime":0,"sha256":"00"}', id="version-missing"),
    ],
)
def test_authentic_but_malformed_metadata_is_an_integrity_error(plaintext: bytes) -> None:
    with pytest.raises(IntegrityError):
        open_metadata(KEY, FILE_ID, seal_raw_metadata(plaintext))


def test_metadata_of_another_version_says_so() -> None:
    blob = seal_raw_metadata(b'{"v":2,"name":"a","size":1,"type":"t","mtime":0,"sha256":"00"}')
    with pytest.raises(IntegrityError, match="unknown metadata version 2"):
        open_metadata(KEY, FILE_ID, blob)


# --- user keys and file keys ---------------------------------------------------------------------------------


def test_private_key_does_not_unwrap_under_a_wrong_master_key() -> None:
    keys = UserKeys.generate()
    wrapped = wrap_private_key(os.urandom(32), keys)
    with pytest.raises(IntegrityError, match="wrong password"):
        unwrap_private_key(os.urandom(32), wrapped, keys.public)


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda b: flip(b, 0), id="nonce-bit"),
        pytest.param(lambda b: flip(b, 8 * 30), id="tag-bit"),
        pytest.param(lambda b: flip(b, 8 * len(b) - 1), id="ciphertext-bit"),
        pytest.param(lambda b: b[:-1], id="truncated"),
        pytest.param(lambda b: b[:23], id="shorter-than-a-nonce"),
        pytest.param(lambda b: b"", id="empty"),
    ],
)
def test_tampered_wrapped_private_key_does_not_unwrap(damage: Any) -> None:
    keys, master = UserKeys.generate(), os.urandom(32)
    wrapped = wrap_private_key(master, keys)
    with pytest.raises(IntegrityError):
        unwrap_private_key(master, damage(wrapped), keys.public)


def test_unwrap_refuses_a_public_key_that_is_not_the_private_keys() -> None:
    """A server that swaps the stored public key is caught at login, before anything is sealed to it."""
    keys, master = UserKeys.generate(), os.urandom(32)
    wrapped = wrap_private_key(master, keys)
    with pytest.raises(IntegrityError, match="public key"):
        unwrap_private_key(master, wrapped, UserKeys.generate().public)


def test_sealed_file_key_does_not_open_with_another_users_key() -> None:
    owner, other = UserKeys.generate(), UserKeys.generate()
    sealed = seal_file_key(owner.public, new_file_key())
    with pytest.raises(IntegrityError):
        open_file_key(other, sealed)


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda b: flip(b, 0), id="ephemeral-key-bit"),
        pytest.param(lambda b: flip(b, 8 * 40), id="tag-bit"),
        pytest.param(lambda b: flip(b, 8 * len(b) - 1), id="ciphertext-bit"),
        pytest.param(lambda b: b[:-1], id="truncated"),
        pytest.param(lambda b: b[:47], id="shorter-than-key-and-tag"),
        pytest.param(lambda b: b"", id="empty"),
    ],
)
def test_tampered_sealed_file_key_does_not_open(damage: Any) -> None:
    keys = UserKeys.generate()
    sealed = seal_file_key(keys.public, new_file_key())
    with pytest.raises(IntegrityError):
        open_file_key(keys, damage(sealed))


def test_user_keys_repr_hides_the_private_key() -> None:
    keys = UserKeys.generate()
    for shown in (repr(keys), str(keys), f"{keys}", repr([keys]), repr({"keys": keys})):
        assert "<secret>" in shown
        assert keys.private.hex() not in shown
        assert repr(keys.private) not in shown


# --- sizes -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("plain_size", "chunk_size", "count"),
    [
        pytest.param(0, 8 * MIB, 1, id="empty-file-still-has-one-chunk"),
        pytest.param(1, 8 * MIB, 1, id="one-byte"),
        pytest.param(8 * MIB - 1, 8 * MIB, 1, id="one-chunk-less-a-byte"),
        pytest.param(8 * MIB, 8 * MIB, 1, id="exactly-one-chunk"),
        pytest.param(8 * MIB + 1, 8 * MIB, 2, id="one-chunk-and-a-byte"),
        pytest.param(16 * MIB, 8 * MIB, 2, id="exactly-two-chunks"),
        pytest.param(1024 * MIB, 8 * MIB, 128, id="1-GiB-is-128-chunks"),
        pytest.param(25_000_000, 8 * MIB, 3, id="25-MB-spreads-over-3-chunks"),
        pytest.param(5, 1, 5, id="chunk-size-1"),
    ],
)
def test_chunk_count(plain_size: int, chunk_size: int, count: int) -> None:
    assert chunk_count(plain_size, chunk_size) == count


@settings(deadline=None)
@given(plain_size=st.integers(min_value=1, max_value=2**50), chunk_size=st.integers(min_value=1, max_value=64 * MIB))
def test_chunk_count_is_the_fewest_chunks_that_hold_the_file(plain_size: int, chunk_size: int) -> None:
    count = chunk_count(plain_size, chunk_size)
    assert (count - 1) * chunk_size < plain_size <= count * chunk_size


def test_ciphertext_size_adds_a_12_byte_nonce_and_a_16_byte_tag() -> None:
    assert (NONCE_BYTES, TAG_BYTES, CHUNK_OVERHEAD) == (12, 16, 28)
    assert ciphertext_size(0) == 28
    assert ciphertext_size(1) == 29
    assert ciphertext_size(DEFAULT_CHUNK_SIZE) == 8 * MIB + 28 == 8_388_636


# --- key commitment ----------------------------------------------------------------------------------------


def test_key_commitment_is_32_bytes_and_differs_for_every_key() -> None:
    first, second = key_commitment(KEY), key_commitment(new_file_key())
    assert len(first) == len(second) == COMMITMENT_BYTES == 32
    assert first != second
    assert first == hashlib.blake2b(b"coffer key commitment v1", key=KEY, digest_size=32).digest()


def test_the_key_a_record_commits_to_is_accepted() -> None:
    check_key_commitment(KEY, key_commitment(KEY), "the link's key")


def test_a_key_the_record_does_not_commit_to_is_a_key_mismatch_naming_the_key() -> None:
    with pytest.raises(KeyMismatch, match="^the link's key does not match this file"):
        check_key_commitment(new_file_key(), key_commitment(KEY), "the link's key")


@pytest.mark.parametrize("key", [b"", KEY[:31], KEY + b"\x00"], ids=["empty", "31-bytes", "33-bytes"])
def test_a_key_of_the_wrong_length_is_a_key_mismatch_not_a_crash(key: bytes) -> None:
    with pytest.raises(KeyMismatch):
        check_key_commitment(key, key_commitment(KEY), "the key")


@pytest.mark.parametrize(
    ("commitment", "says"),
    [(b"", "has no key commitment"), (bytes(16), "16-byte key commitment"), (bytes(33), "33-byte key commitment")],
    ids=["missing", "short", "long"],
)
def test_a_record_without_a_usable_commitment_is_refused_but_not_as_a_key_mismatch(
    commitment: bytes, says: str
) -> None:
    """Nothing can be checked: that is the record's fault, so the message must not blame the key."""
    with pytest.raises(IntegrityError, match=says) as raised:
        check_key_commitment(KEY, commitment, "the shared key")
    assert not isinstance(raised.value, KeyMismatch)


@settings(deadline=None)
@given(key=st.binary(min_size=32, max_size=32), bit=st.integers(min_value=0, max_value=255))
def test_any_flipped_bit_of_a_commitment_refuses_the_key(key: bytes, bit: int) -> None:
    with pytest.raises(KeyMismatch):
        check_key_commitment(key, flip(key_commitment(key), bit), "the key")


def test_key_mismatch_is_an_integrity_error_with_its_own_code() -> None:
    assert issubclass(KeyMismatch, IntegrityError)
    assert (KeyMismatch.code, exit_code(KeyMismatch("x"))) == ("key_mismatch", 7)


# --- share box ---------------------------------------------------------------------------------------------

private_keys = st.binary(min_size=32, max_size=32)


def key_pair(private: bytes) -> UserKeys:
    return UserKeys(private, nacl.bindings.crypto_scalarmult_base(private))


@settings(deadline=None)
@given(owner=private_keys, recipient=private_keys, file_id=file_ids, file_key=st.binary(min_size=32, max_size=32))
def test_a_shared_key_round_trips_for_any_keys_and_file(
    owner: bytes, recipient: bytes, file_id: str, file_key: bytes
) -> None:
    box = seal_share_key(key_pair(owner), key_pair(recipient).public, file_id, file_key)
    assert len(box) == SHARE_KEY_BYTES == 103
    assert open_share_key(key_pair(recipient), key_pair(owner).public, file_id, box) == file_key


@settings(deadline=None)
@given(index=st.integers(min_value=0, max_value=102), change=st.integers(min_value=1, max_value=255))
def test_any_changed_byte_of_a_share_box_fails_to_open(index: int, change: int) -> None:
    owner, recipient = key_pair(bytes(range(32))), key_pair(bytes(range(1, 33)))
    box = bytearray(seal_share_key(owner, recipient.public, FILE_ID, KEY))
    box[index] ^= change
    with pytest.raises(IntegrityError):
        open_share_key(recipient, owner.public, FILE_ID, bytes(box))


def test_sharing_the_same_key_twice_uses_fresh_nonces() -> None:
    owner, recipient = UserKeys.generate(), UserKeys.generate()
    first, second = (seal_share_key(owner, recipient.public, FILE_ID, KEY) for _ in range(2))
    assert first[:24] != second[:24]
    assert KEY not in first


def test_a_box_made_by_anyone_but_the_owner_does_not_open_as_the_owners() -> None:
    """The server knows the recipient's public key, so it can box a key to them; it cannot do it as alice."""
    alice, server, bob = UserKeys.generate(), UserKeys.generate(), UserKeys.generate()
    planted = seal_share_key(server, bob.public, FILE_ID, KEY)
    with pytest.raises(IntegrityError, match="does not open"):
        open_share_key(bob, alice.public, FILE_ID, planted)


def test_a_sealed_box_cannot_pass_for_a_share() -> None:
    bob = UserKeys.generate()
    sealed = seal_file_key(bob.public, SHARE_LABEL + uuid.UUID(FILE_ID).bytes + KEY)
    with pytest.raises(IntegrityError):
        open_share_key(bob, UserKeys.generate().public, FILE_ID, sealed)


def test_a_share_moved_to_another_file_does_not_open() -> None:
    owner, recipient = UserKeys.generate(), UserKeys.generate()
    box = seal_share_key(owner, recipient.public, FILE_ID, KEY)
    with pytest.raises(IntegrityError, match="another file"):
        open_share_key(recipient, owner.public, OTHER_FILE_ID, box)


def test_a_share_boxed_to_someone_else_does_not_open() -> None:
    owner, recipient, other = (UserKeys.generate() for _ in range(3))
    box = seal_share_key(owner, other.public, FILE_ID, KEY)
    with pytest.raises(IntegrityError):
        open_share_key(recipient, owner.public, FILE_ID, box)


def test_a_genuine_box_with_another_label_is_refused() -> None:
    owner, recipient = UserKeys.generate(), UserKeys.generate()
    nonce = os.urandom(24)
    plaintext = b"coffer share v2" + uuid.UUID(FILE_ID).bytes + KEY
    box = nonce + nacl.bindings.crypto_box(plaintext, nonce, recipient.public, owner.private)
    with pytest.raises(IntegrityError, match="label"):
        open_share_key(recipient, owner.public, FILE_ID, box)


@pytest.mark.parametrize("length", [0, 24, 102, 104, 1000])
def test_a_share_box_of_the_wrong_length_is_refused_before_opening(length: int) -> None:
    recipient = UserKeys.generate()
    with pytest.raises(IntegrityError, match=f"{length} bytes, not 103"):
        open_share_key(recipient, UserKeys.generate().public, FILE_ID, bytes(length))


@pytest.mark.parametrize("length", [0, 31, 33])
def test_a_malformed_owner_public_key_is_an_integrity_error(length: int) -> None:
    recipient = UserKeys.generate()
    with pytest.raises(IntegrityError, match="owner's public key"):
        open_share_key(recipient, bytes(length), FILE_ID, bytes(103))


def test_a_share_of_a_file_whose_id_is_not_a_uuid_is_an_integrity_error() -> None:
    owner, recipient = UserKeys.generate(), UserKeys.generate()
    box = seal_share_key(owner, recipient.public, FILE_ID, KEY)
    with pytest.raises(IntegrityError, match="not a UUID"):
        open_share_key(recipient, owner.public, "../etc", box)


@pytest.mark.parametrize(
    "public",
    [
        pytest.param(bytes(31), id="31-bytes"),
        pytest.param(bytes(32), id="all-zero"),
        pytest.param(b"\x01" + bytes(31), id="low-order"),
    ],
)
def test_nothing_is_shared_to_a_malformed_or_weak_recipient_key(public: bytes) -> None:
    """A server that hands out a key no one holds the private half of gets an error, not a box."""
    with pytest.raises(IntegrityError, match="recipient's public key"):
        seal_share_key(UserKeys.generate(), public, FILE_ID, KEY)


# --- fingerprints ------------------------------------------------------------------------------------------


def test_a_fingerprint_is_32_lowercase_hex_digits_in_8_groups_of_4() -> None:
    shown = fingerprint(UserKeys.generate().public)
    groups = shown.split(" ")
    assert len(groups) == 8 and all(len(g) == 4 for g in groups)
    assert all(c in "0123456789abcdef" for c in "".join(groups))


def test_different_keys_have_different_fingerprints() -> None:
    assert fingerprint(UserKeys.generate().public) != fingerprint(UserKeys.generate().public)


@settings(deadline=None)
@given(
    public=private_keys,
    upper=st.lists(st.booleans(), min_size=32, max_size=32),
    spaces=st.lists(st.sampled_from(["", " ", "  ", "\t"]), min_size=33, max_size=33),
)
def test_a_typed_fingerprint_matches_whatever_its_spacing_and_case(
    public: bytes, upper: list[bool], spaces: list[str]
) -> None:
    digits = fingerprint(public).replace(" ", "")
    typed = "".join(spaces[i] + (d.upper() if upper[i] else d) for i, d in enumerate(digits)) + spaces[32]
    assert same_fingerprint(typed, public)
    assert parse_fingerprint(typed) == fingerprint(public)


@settings(deadline=None)
@given(public=private_keys, index=st.integers(min_value=0, max_value=31), digit=st.sampled_from("0123456789abcdef"))
def test_a_fingerprint_with_any_digit_changed_does_not_match(public: bytes, index: int, digit: str) -> None:
    digits = fingerprint(public).replace(" ", "")
    typed = digits[:index] + digit + digits[index + 1 :]
    assert same_fingerprint(typed, public) is (typed == digits)


@pytest.mark.parametrize(
    "typed",
    ["", "not a fingerprint", "0" * 31, "0" * 33, "ｆ" * 32, "g" * 32, "0x" + "0" * 30],
    ids=["empty", "words", "31-digits", "33-digits", "full-width", "not-hex", "0x-prefix"],
)
def test_text_that_is_not_a_fingerprint_matches_nothing_and_parses_to_a_usage_error(typed: str) -> None:
    assert not same_fingerprint(typed, UserKeys.generate().public)
    with pytest.raises(FingerprintMalformed, match="is not a fingerprint"):
        parse_fingerprint(typed)


def test_a_malformed_public_key_has_no_fingerprint() -> None:
    with pytest.raises(IntegrityError, match="31 bytes, not 32"):
        fingerprint(bytes(31))


# --- formerly known gaps, now fixed: a CPU without AES, short file keys, malformed metadata ----------------


class _NoAesLib:
    """Stands in for libsodium on a CPU without AES instructions; everything else is the real library."""

    def __init__(self, real: Any) -> None:
        self._real = real

    def __getattr__(self, name: str) -> Any:
        if name == "crypto_aead_aes256gcm_is_available":
            return lambda: 0
        return getattr(self._real, name)


@pytest.fixture
def no_aes(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    real = getattr(nacl.bindings.crypto_aead, "lib")  # noqa: B009 - not re-exported, so mypy needs getattr
    monkeypatch.setattr(nacl.bindings.crypto_aead, "lib", _NoAesLib(real))
    monkeypatch.setattr(aead, "_lib", _NoAesLib(getattr(aead, "_lib")))  # noqa: B009
    yield


def test_without_aes_instructions_libsodium_refuses_aes256gcm(no_aes: None) -> None:
    with pytest.raises(nacl.exceptions.UnavailableError):
        nacl.bindings.crypto_aead_aes256gcm_encrypt(b"", None, bytes(12), KEY)


def test_a_cpu_without_aes_instructions_is_not_reported_as_tampering(no_aes: None) -> None:
    blob = bytes(CHUNK_OVERHEAD)
    with pytest.raises(CryptoUnavailable) as raised:
        open_chunk(KEY, FILE_ID, 0, True, blob)
    assert not isinstance(raised.value, IntegrityError)


def test_a_cpu_without_aes_instructions_gets_a_clear_error_on_upload(no_aes: None) -> None:
    with pytest.raises(CryptoUnavailable, match="AES"):
        seal_chunk(KEY, FILE_ID, 0, True, b"")


def test_a_sealed_file_key_that_is_not_32_bytes_is_refused() -> None:
    """Anyone with the public key (the server included) can seal; a short 'key' must not reach AES as a TypeError."""
    keys = UserKeys.generate()
    with pytest.raises(IntegrityError):
        open_file_key(keys, seal_file_key(keys.public, b"short"))


@pytest.mark.parametrize(
    "plaintext",
    [
        pytest.param(b"[1, 2]", id="array"),
        pytest.param(b'{"v":1,"name":5,"size":1,"type":"t","mtime":0,"sha256":"00"}', id="name-not-a-string"),
        pytest.param(b'{"v":1,"name":"a","size":"1","type":"t","mtime":0,"sha256":"00"}', id="size-not-an-int"),
        pytest.param(b'{"v":1,"name":"a","size":-1,"type":"t","mtime":0,"sha256":"00"}', id="size-negative"),
        pytest.param(b'{"v":1,"name":"a","size":1,"type":"t","mtime":0,"sha256":"zz"}', id="sha256-not-hex"),
    ],
)
def test_metadata_with_wrong_shapes_is_an_integrity_error(plaintext: bytes) -> None:
    """A sharer holds the file key too, so authentic metadata is still input to validate."""
    with pytest.raises(IntegrityError):
        open_metadata(KEY, FILE_ID, seal_raw_metadata(plaintext))
