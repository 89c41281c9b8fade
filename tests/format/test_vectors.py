"""The Python client passes every vector in spec/vectors/format-v1.json, and the file is what the code makes.

The vectors pin crypto format v1 (spec/format-v1.md) for every client; a browser client must pass the same
file. Deterministic vectors compare exact bytes; the sealed file key is randomised, so it is opened.
Every rejection must fail with the error code it names, and nothing else.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from pathlib import Path
from typing import Any

import nacl.bindings
import nacl.pwhash.argon2id
import pytest

from coffer.format import kdf
from coffer.format.chunks import chunk_hash, open_chunk, seal_chunk
from coffer.format.errors import FormatError, IntegrityError, KeyMismatch, LinkMalformed
from coffer.format.keys import (
    UserKeys,
    check_key_commitment,
    key_commitment,
    open_file_key,
    unwrap_private_key,
    wrap_private_key,
)
from coffer.format.links import is_link, link_url, locked_fragment, open_fragment, parse_link, plain_fragment
from coffer.format.metadata import Metadata, open_metadata, seal_metadata
from coffer.format.shares import SHARE_KEY_BYTES, fingerprint, open_share_key, same_fingerprint, seal_share_key
from coffer.format.sizes import chunk_count, ciphertext_size
from coffer.protocol.encoding import b64encode, canonical_json
from tests.format import generate_vectors as generate

VECTORS_FILE = Path(__file__).parents[2] / "spec" / "vectors" / "format-v1.json"
VECTORS: dict[str, Any] = json.loads(VECTORS_FILE.read_text(encoding="ascii"))


def h(text: str) -> bytes:
    return bytes.fromhex(text)


def by_about(section: str) -> list[Any]:
    return [pytest.param(v, id=v["about"]) for v in VECTORS[section]]


def test_vectors_file_is_pure_ascii_so_no_editor_can_renormalise_it() -> None:
    VECTORS_FILE.read_bytes().decode("ascii")


def test_every_vector_names_the_functions_it_pins() -> None:
    links, share = VECTORS["links"], VECTORS["share_key"]
    entries = [*VECTORS["kdf"], VECTORS["user_keys"], VECTORS["sealed_file_key"], VECTORS["file"], share]
    entries += VECTORS["chunks"] + VECTORS["chunk_rejections"] + VECTORS["metadata"] + share["rejections"]
    entries += VECTORS["key_commitment"] + VECTORS["fingerprint"] + [links["plain"], links["password"]]
    entries += links["rejections"] + links["urls"] + links["malformed_urls"]
    for entry in entries:
        assert entry["pins"], entry["about"]
        for name in entry["pins"]:
            module, function = name.rsplit(".", 1)
            assert module.startswith("format."), name
            assert callable(getattr(importlib.import_module(f"coffer.{module}"), function)), name


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
    wrapped = wrap_private_key(master, UserKeys(private, public), h(vector["nonce"]))
    assert wrapped.hex() == vector["wrapped"]
    assert len(wrapped) == 24 + 16 + 32
    assert unwrap_private_key(master, h(vector["wrapped"]), public) == UserKeys(private, public)


def test_user_key_vector_is_wrapped_under_the_first_kdf_vectors_master_key() -> None:
    assert VECTORS["user_keys"]["master_key"] == VECTORS["kdf"][0]["master_key"]


def test_sealed_file_key_vector_opens_to_the_pinned_file_key() -> None:
    vector = VECTORS["sealed_file_key"]
    keys = UserKeys(h(vector["private_key"]), h(vector["public_key"]))
    sealed = h(vector["sealed"])
    assert len(sealed) == 32 + 16 + 32
    assert open_file_key(keys, sealed) == h(vector["file_key"])
    assert nacl.bindings.crypto_box_seal_open(sealed, keys.public, keys.private) == h(vector["file_key"])


@pytest.mark.parametrize("vector", by_about("chunks"))
def test_chunk_vector_seals_to_the_exact_blob_and_name(vector: dict[str, Any]) -> None:
    key, plaintext = h(vector["key"]), h(vector["plaintext"])
    blob = seal_chunk(key, vector["file_id"], vector["index"], vector["last"], plaintext, h(vector["nonce"]))
    assert blob.hex() == vector["blob"]
    assert chunk_hash(blob) == vector["hash"] == hashlib.sha256(blob).hexdigest()
    assert len(blob) == ciphertext_size(len(plaintext))
    assert open_chunk(key, vector["file_id"], vector["index"], vector["last"], blob) == plaintext


@pytest.mark.parametrize("vector", by_about("chunks"))
def test_chunk_vector_is_aes256gcm_with_the_documented_ad(vector: dict[str, Any]) -> None:
    """blob = nonce || AES-256-GCM(key, nonce, plaintext, ad), and ad is built exactly as spec/format-v1.md says."""
    label, file_id = b"coffer chunk v1", bytes.fromhex(vector["file_id"].replace("-", ""))
    ad = label + file_id + vector["index"].to_bytes(8, "big") + (b"\x01" if vector["last"] else b"\x00")
    assert ad.hex() == vector["ad"]
    sealed = nacl.bindings.crypto_aead_aes256gcm_encrypt(
        h(vector["plaintext"]), ad, h(vector["nonce"]), h(vector["key"])
    )
    assert (h(vector["nonce"]) + sealed).hex() == vector["blob"]


@pytest.mark.parametrize("vector", by_about("chunk_rejections"))
def test_chunk_rejection_vector_fails_to_open(vector: dict[str, Any]) -> None:
    with pytest.raises(IntegrityError, match=f"chunk {vector['index']}"):
        open_chunk(h(vector["key"]), vector["file_id"], vector["index"], vector["last"], h(vector["blob"]))


@pytest.mark.parametrize("vector", by_about("metadata"))
def test_metadata_vector_seals_to_the_exact_blob_and_opens(vector: dict[str, Any]) -> None:
    key, file_id, fields = h(vector["key"]), vector["file_id"], vector["metadata"]
    metadata = Metadata(fields["name"], fields["size"], fields["type"], fields["mtime"], fields["sha256"])
    assert canonical_json(metadata.to_json()).decode("ascii") == vector["plaintext"]
    assert json.loads(vector["plaintext"]) == fields
    assert seal_metadata(key, file_id, metadata, h(vector["nonce"])).hex() == vector["blob"]
    assert open_metadata(key, file_id, h(vector["blob"])) == metadata
    ad = b"coffer metadata v1" + bytes.fromhex(file_id.replace("-", ""))
    assert ad.hex() == vector["ad"]


def test_whole_file_vector_splits_seals_and_opens() -> None:
    vector = VECTORS["file"]
    key, file_id, size = h(vector["key"]), vector["file_id"], vector["chunk_size"]
    plaintext = h(vector["plaintext"])
    count = chunk_count(len(plaintext), size)
    assert [c["index"] for c in vector["chunks"]] == list(range(count))
    opened = b""
    for chunk in vector["chunks"]:
        index, last = chunk["index"], chunk["index"] == count - 1
        assert chunk["last"] is last
        piece = plaintext[index * size : (index + 1) * size]
        blob = seal_chunk(key, file_id, index, last, piece, h(chunk["nonce"]))
        assert blob.hex() == chunk["blob"]
        assert chunk_hash(blob) == chunk["hash"]
        opened += open_chunk(key, file_id, index, last, h(chunk["blob"]))
    assert opened == plaintext
    metadata = open_metadata(key, file_id, h(vector["metadata_blob"]))
    assert metadata.to_json() == vector["metadata"]
    assert metadata.size == len(plaintext)
    assert metadata.sha256 == hashlib.sha256(plaintext).hexdigest()
    record = vector["server_record"]
    assert record["chunk_count"] == count
    assert record["chunk_size"] == ciphertext_size(size) == size + 28
    assert record["size"] == sum(len(h(c["blob"])) for c in vector["chunks"]) == len(plaintext) + 28 * count


@pytest.mark.parametrize("vector", by_about("key_commitment"))
def test_key_commitment_vector_is_keyed_blake2b_of_the_label(vector: dict[str, Any]) -> None:
    file_key, commitment = h(vector["file_key"]), h(vector["commitment"])
    assert vector["label"] == "coffer key commitment v1"
    assert key_commitment(file_key) == commitment
    assert hashlib.blake2b(vector["label"].encode(), key=file_key, digest_size=32).digest() == commitment
    check_key_commitment(file_key, commitment, "the key")


def test_key_commitment_vectors_refuse_each_others_keys() -> None:
    first, second = VECTORS["key_commitment"]
    with pytest.raises(KeyMismatch):
        check_key_commitment(h(first["file_key"]), h(second["commitment"]), "the key")


def test_share_key_vector_seals_to_the_exact_bytes_and_opens() -> None:
    vector = VECTORS["share_key"]
    owner = UserKeys(h(vector["owner_private_key"]), h(vector["owner_public_key"]))
    recipient = UserKeys(h(vector["recipient_private_key"]), h(vector["recipient_public_key"]))
    file_key, nonce = h(vector["file_key"]), h(vector["nonce"])
    box = seal_share_key(owner, recipient.public, vector["file_id"], file_key, nonce)
    assert box.hex() == vector["share_key"]
    assert len(box) == 24 + 16 + 15 + 16 + 32 == SHARE_KEY_BYTES
    assert open_share_key(recipient, owner.public, vector["file_id"], h(vector["share_key"])) == file_key
    check_key_commitment(file_key, h(vector["key_commitment"]), "the shared key")


def test_share_key_vector_is_crypto_box_easy_of_label_file_id_and_key() -> None:
    """share_key = nonce || crypto_box_easy("coffer share v1" || file id (16) || file key), as the spec says."""
    vector = VECTORS["share_key"]
    plaintext = b"coffer share v1" + bytes.fromhex(vector["file_id"].replace("-", "")) + h(vector["file_key"])
    assert plaintext.hex() == vector["plaintext"]
    nonce = h(vector["nonce"])
    sealed = nacl.bindings.crypto_box(
        plaintext, nonce, h(vector["recipient_public_key"]), h(vector["owner_private_key"])
    )
    assert (nonce + sealed).hex() == vector["share_key"]
    box = h(vector["share_key"])
    opened = nacl.bindings.crypto_box_open(
        box[24:], box[:24], h(vector["owner_public_key"]), h(vector["recipient_private_key"])
    )
    assert opened == plaintext
    for prefix in ("owner", "recipient"):
        assert (
            nacl.bindings.crypto_scalarmult_base(h(vector[f"{prefix}_private_key"])).hex()
            == vector[f"{prefix}_public_key"]
        )


def test_share_key_vector_owner_is_the_user_keys_pair() -> None:
    assert VECTORS["share_key"]["owner_public_key"] == VECTORS["user_keys"]["public_key"]


@pytest.mark.parametrize("vector", [pytest.param(v, id=v["about"]) for v in VECTORS["share_key"]["rejections"]])
def test_share_key_rejection_vector_fails_to_open(vector: dict[str, Any]) -> None:
    me = UserKeys(h(vector["recipient_private_key"]), h(vector["recipient_public_key"]))
    with pytest.raises(IntegrityError) as raised:
        open_share_key(me, h(vector["owner_public_key"]), vector["file_id"], h(vector["share_key"]))
    assert raised.value.code == vector["error"] == "integrity"


@pytest.mark.parametrize("vector", by_about("fingerprint"))
def test_fingerprint_vector_is_blake2b_128_of_label_and_key_in_groups_of_four(vector: dict[str, Any]) -> None:
    public = h(vector["public_key"])
    assert h(vector["message"]) == b"coffer fingerprint v1" + public
    digits = hashlib.blake2b(h(vector["message"]), digest_size=16).hexdigest()
    assert fingerprint(public) == vector["fingerprint"] == " ".join(digits[i : i + 4] for i in range(0, 32, 4))


@pytest.mark.parametrize("vector", by_about("fingerprint"))
def test_fingerprint_vector_typed_forms_match_or_not(vector: dict[str, Any]) -> None:
    public = h(vector["public_key"])
    assert all(same_fingerprint(typed, public) for typed in vector["typed_matching"])
    assert not any(same_fingerprint(typed, public) for typed in vector["typed_not_matching"])


def test_plain_link_vector_makes_the_exact_fragment_and_url_and_opens() -> None:
    vector = VECTORS["links"]["plain"]
    file_key = h(vector["file_key"])
    assert plain_fragment(file_key) == vector["fragment"] == "v1.k." + b64encode(file_key)
    assert link_url(vector["server"], vector["link_id"], vector["fragment"]) == vector["url"]
    assert vector["url"] == f"{vector['server']}/s/{vector['link_id']}#{vector['fragment']}"
    ref = parse_link(vector["url"])
    assert (ref.server, ref.link_id, ref.fragment) == (vector["server"], vector["link_id"], vector["fragment"])
    assert open_fragment(ref.fragment, ref.link_id, None) == file_key
    check_key_commitment(file_key, h(vector["key_commitment"]), "the link's key")


def test_password_link_vector_locks_to_the_exact_fragment_and_url_and_opens() -> None:
    vector = VECTORS["links"]["password"]
    file_key, link_id, password = h(vector["file_key"]), vector["link_id"], vector["password"]
    fragment = locked_fragment(file_key, link_id, password, salt=h(vector["salt"]), nonce=h(vector["nonce"]))
    assert fragment == vector["fragment"]
    assert link_url(vector["server"], link_id, fragment) == vector["url"]
    assert vector["url"] == f"{vector['server']}/s/{link_id}#{fragment}"
    ref = parse_link(vector["url"])
    assert (ref.server, ref.link_id, ref.fragment) == (vector["server"], link_id, fragment)
    assert open_fragment(ref.fragment, ref.link_id, password) == file_key
    check_key_commitment(file_key, h(vector["key_commitment"]), "the link's key")


def test_password_link_vector_follows_the_documented_steps() -> None:
    """root = Argon2id at the login cost; wrap_key = keyed BLAKE2b; XChaCha20-Poly1305 with the link id in the AD."""
    vector = VECTORS["links"]["password"]
    assert (vector["opslimit"], vector["memlimit"]) == (kdf.OPSLIMIT, kdf.MEMLIMIT)
    assert vector["password"].encode() == h(vector["password_utf8"])
    salt, nonce = h(vector["salt"]), h(vector["nonce"])
    root = nacl.pwhash.argon2id.kdf(
        32, h(vector["password_utf8"]), salt, opslimit=vector["opslimit"], memlimit=vector["memlimit"]
    )
    assert root.hex() == vector["root"]
    wrap_key = hashlib.blake2b(b"coffer link key v1", key=root, digest_size=32).digest()
    assert wrap_key.hex() == vector["wrap_key"]
    ad = b"coffer link v1" + bytes.fromhex(vector["link_id"].replace("-", ""))
    assert ad.hex() == vector["ad"]
    ciphertext = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_encrypt(h(vector["file_key"]), ad, nonce, wrap_key)
    assert ciphertext.hex() == vector["ciphertext"]
    assert vector["fragment"] == "v1.p." + b64encode(salt + nonce + ciphertext)
    assert len(vector["fragment"]) == 5 + 118


@pytest.mark.parametrize("vector", [pytest.param(v, id=v["about"]) for v in VECTORS["links"]["rejections"]])
def test_link_rejection_vector_fails_with_its_error(vector: dict[str, Any]) -> None:
    """A client opens the fragment, then checks the key against the record's commitment: one of them must refuse."""
    with pytest.raises(FormatError) as raised:
        key = open_fragment(vector["fragment"], vector["link_id"], vector["password"])
        check_key_commitment(key, h(vector["key_commitment"]), "the link's key")
    assert raised.value.code == vector["error"]


@pytest.mark.parametrize("vector", [pytest.param(v, id=v["about"]) for v in VECTORS["links"]["urls"]])
def test_link_url_vector_splits_into_server_id_and_fragment(vector: dict[str, Any]) -> None:
    ref = parse_link(vector["url"])
    assert (ref.server, ref.link_id, ref.fragment) == (vector["server"], vector["link_id"], vector["fragment"])
    assert is_link(vector["url"])


@pytest.mark.parametrize("vector", [pytest.param(v, id=v["about"]) for v in VECTORS["links"]["malformed_urls"]])
def test_malformed_link_url_vector_is_refused(vector: dict[str, Any]) -> None:
    with pytest.raises(LinkMalformed) as raised:
        parse_link(vector["url"])
    assert raised.value.code == vector["error"]


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
    keys = UserKeys(h(rebuilt["private_key"]), h(rebuilt["public_key"]))
    assert rebuilt["sealed"] != "00" * 80
    assert open_file_key(keys, h(rebuilt["sealed"])) == h(rebuilt["file_key"])
