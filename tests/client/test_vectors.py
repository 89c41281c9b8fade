"""The Python client passes every vector in tests/vectors/crypto.json, and the file is what the code makes.

The vectors pin crypto format v1 (docs/crypto.md) for every client; a browser client must pass the same
file. Deterministic vectors compare exact bytes; the sealed file key is randomised, so it is opened.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import nacl.bindings
import nacl.pwhash.argon2id
import pytest

from client import crypto
from protocol import kdf
from protocol.encoding import canonical_json
from tests.vectors import generate

VECTORS_FILE = Path(__file__).parents[1] / "vectors" / "crypto.json"
VECTORS: dict[str, Any] = json.loads(VECTORS_FILE.read_text(encoding="ascii"))


def h(text: str) -> bytes:
    return bytes.fromhex(text)


def by_about(section: str) -> list[Any]:
    return [pytest.param(v, id=v["about"]) for v in VECTORS[section]]


def test_vectors_file_is_pure_ascii_so_no_editor_can_renormalise_it() -> None:
    VECTORS_FILE.read_bytes().decode("ascii")


def test_every_vector_names_the_functions_it_pins() -> None:
    entries = [*VECTORS["kdf"], VECTORS["user_keys"], VECTORS["sealed_file_key"], VECTORS["file"]]
    entries += VECTORS["chunks"] + VECTORS["chunk_rejections"] + VECTORS["metadata"]
    for entry in entries:
        assert entry["pins"], entry["about"]
        for name in entry["pins"]:
            module, function = name.rsplit(".", 1)
            assert callable(getattr({"client.crypto": crypto, "protocol.kdf": kdf}[module], function)), name


@pytest.mark.parametrize("vector", by_about("kdf"))
def test_kdf_vector_derives_the_pinned_keys(vector: dict[str, Any]) -> None:
    """Argon2id (t=3, 64 MiB, one lane) gives `root`; keyed BLAKE2b-256 of two labels gives the keys."""
    assert vector["password"].encode() == h(vector["password_utf8"])
    params = kdf.KdfParams(salt=h(vector["salt"]), opslimit=vector["opslimit"], memlimit=vector["memlimit"])
    assert (params.opslimit, params.memlimit) == (kdf.OPSLIMIT, kdf.MEMLIMIT)
    keys = kdf.derive(vector["password"], params)
    assert keys.auth_key.hex() == vector["auth_key"]
    assert keys.master_key.hex() == vector["master_key"]
    root = h(vector["root"])
    assert hashlib.blake2b(b"coffer auth key v1", key=root, digest_size=32).hexdigest() == vector["auth_key"]
    assert hashlib.blake2b(b"coffer master key v1", key=root, digest_size=32).hexdigest() == vector["master_key"]


def test_kdf_root_is_libsodium_argon2id13_of_the_utf8_password() -> None:
    vector = VECTORS["kdf"][1]
    root = nacl.pwhash.argon2id.kdf(
        32, h(vector["password_utf8"]), h(vector["salt"]), opslimit=vector["opslimit"], memlimit=vector["memlimit"]
    )
    assert root.hex() == vector["root"]


def test_user_key_vector_wraps_to_the_exact_bytes_and_unwraps() -> None:
    vector = VECTORS["user_keys"]
    private, public, master = h(vector["private_key"]), h(vector["public_key"]), h(vector["master_key"])
    assert nacl.bindings.crypto_scalarmult_base(private) == public
    wrapped = crypto.wrap_private_key(master, crypto.UserKeys(private, public), h(vector["nonce"]))
    assert wrapped.hex() == vector["wrapped"]
    assert len(wrapped) == 24 + 16 + 32
    assert crypto.unwrap_private_key(master, h(vector["wrapped"]), public) == crypto.UserKeys(private, public)


def test_user_key_vector_is_wrapped_under_the_first_kdf_vectors_master_key() -> None:
    assert VECTORS["user_keys"]["master_key"] == VECTORS["kdf"][0]["master_key"]


def test_sealed_file_key_vector_opens_to_the_pinned_file_key() -> None:
    vector = VECTORS["sealed_file_key"]
    keys = crypto.UserKeys(h(vector["private_key"]), h(vector["public_key"]))
    sealed = h(vector["sealed"])
    assert len(sealed) == 32 + 16 + 32
    assert crypto.open_file_key(keys, sealed) == h(vector["file_key"])
    assert nacl.bindings.crypto_box_seal_open(sealed, keys.public, keys.private) == h(vector["file_key"])


@pytest.mark.parametrize("vector", by_about("chunks"))
def test_chunk_vector_seals_to_the_exact_blob_and_name(vector: dict[str, Any]) -> None:
    key, plaintext = h(vector["key"]), h(vector["plaintext"])
    blob = crypto.seal_chunk(key, vector["file_id"], vector["index"], vector["last"], plaintext, h(vector["nonce"]))
    assert blob.hex() == vector["blob"]
    assert crypto.chunk_hash(blob) == vector["hash"] == hashlib.sha256(blob).hexdigest()
    assert len(blob) == crypto.ciphertext_size(len(plaintext))
    assert crypto.open_chunk(key, vector["file_id"], vector["index"], vector["last"], blob) == plaintext


@pytest.mark.parametrize("vector", by_about("chunks"))
def test_chunk_vector_is_aes256gcm_with_the_documented_ad(vector: dict[str, Any]) -> None:
    """blob = nonce || AES-256-GCM(key, nonce, plaintext, ad), and ad is built exactly as docs/crypto.md says."""
    label, file_id = b"coffer chunk v1", bytes.fromhex(vector["file_id"].replace("-", ""))
    ad = label + file_id + vector["index"].to_bytes(8, "big") + (b"\x01" if vector["last"] else b"\x00")
    assert ad.hex() == vector["ad"]
    sealed = nacl.bindings.crypto_aead_aes256gcm_encrypt(
        h(vector["plaintext"]), ad, h(vector["nonce"]), h(vector["key"])
    )
    assert (h(vector["nonce"]) + sealed).hex() == vector["blob"]


@pytest.mark.parametrize("vector", by_about("chunk_rejections"))
def test_chunk_rejection_vector_fails_to_open(vector: dict[str, Any]) -> None:
    with pytest.raises(crypto.IntegrityError, match=f"chunk {vector['index']}"):
        crypto.open_chunk(h(vector["key"]), vector["file_id"], vector["index"], vector["last"], h(vector["blob"]))


@pytest.mark.parametrize("vector", by_about("metadata"))
def test_metadata_vector_seals_to_the_exact_blob_and_opens(vector: dict[str, Any]) -> None:
    key, file_id, fields = h(vector["key"]), vector["file_id"], vector["metadata"]
    metadata = crypto.Metadata(fields["name"], fields["size"], fields["type"], fields["mtime"], fields["sha256"])
    assert canonical_json(metadata.to_json()).decode("ascii") == vector["plaintext"]
    assert json.loads(vector["plaintext"]) == fields
    assert crypto.seal_metadata(key, file_id, metadata, h(vector["nonce"])).hex() == vector["blob"]
    assert crypto.open_metadata(key, file_id, h(vector["blob"])) == metadata
    ad = b"coffer metadata v1" + bytes.fromhex(file_id.replace("-", ""))
    assert ad.hex() == vector["ad"]


def test_whole_file_vector_splits_seals_and_opens() -> None:
    vector = VECTORS["file"]
    key, file_id, size = h(vector["key"]), vector["file_id"], vector["chunk_size"]
    plaintext = h(vector["plaintext"])
    count = crypto.chunk_count(len(plaintext), size)
    assert [c["index"] for c in vector["chunks"]] == list(range(count))
    opened = b""
    for chunk in vector["chunks"]:
        index, last = chunk["index"], chunk["index"] == count - 1
        assert chunk["last"] is last
        piece = plaintext[index * size : (index + 1) * size]
        blob = crypto.seal_chunk(key, file_id, index, last, piece, h(chunk["nonce"]))
        assert blob.hex() == chunk["blob"]
        assert crypto.chunk_hash(blob) == chunk["hash"]
        opened += crypto.open_chunk(key, file_id, index, last, h(chunk["blob"]))
    assert opened == plaintext
    metadata = crypto.open_metadata(key, file_id, h(vector["metadata_blob"]))
    assert metadata.to_json() == vector["metadata"]
    assert metadata.size == len(plaintext)
    assert metadata.sha256 == hashlib.sha256(plaintext).hexdigest()
    record = vector["server_record"]
    assert record["chunk_count"] == count
    assert record["chunk_size"] == crypto.ciphertext_size(size) == size + 28
    assert record["size"] == sum(len(h(c["blob"])) for c in vector["chunks"]) == len(plaintext) + 28 * count


def test_generator_reproduces_the_committed_file_byte_for_byte() -> None:
    """Run the generator in-process; the sealed box it keeps from the file is checked by opening it above."""
    assert generate.render(generate.build(VECTORS)) == VECTORS_FILE.read_text(encoding="ascii")


def test_only_the_sealed_box_is_randomised_when_made_afresh() -> None:
    fresh, committed = generate.sealed_key_vector(None), VECTORS["sealed_file_key"]
    assert fresh["randomised"] == ["sealed"]
    assert fresh["sealed"] != committed["sealed"]
    assert {**fresh, "sealed": None} == {**committed, "sealed": None}


def test_generator_replaces_a_sealed_box_that_no_longer_opens() -> None:
    rebuilt = generate.sealed_key_vector({**VECTORS["sealed_file_key"], "sealed": "00" * 80})
    keys = crypto.UserKeys(h(rebuilt["private_key"]), h(rebuilt["public_key"]))
    assert rebuilt["sealed"] != "00" * 80
    assert crypto.open_file_key(keys, h(rebuilt["sealed"])) == h(rebuilt["file_key"])
