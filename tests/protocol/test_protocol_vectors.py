"""The Python protocol makes and checks exactly the tokens in spec/vectors/protocol-v1.json.

Tickets, receipts and cluster requests are Ed25519-signed canonical JSON; with fixed seeds, times
and nonces every token is exact bytes, so another implementation (the web page, a fileserver in
another language) can be checked against the same file. Every rejection must fail with its code.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import nacl.signing
import pytest

from coffer.protocol import cluster, receipts, tickets
from coffer.protocol.encoding import canonical_json
from coffer.protocol.errors import ProtocolError
from coffer.protocol.signing import SigningKey
from tests.protocol import generate_vectors

VECTORS_FILE = Path(__file__).parents[2] / "spec" / "vectors" / "protocol-v1.json"
VECTORS: dict[str, Any] = json.loads(VECTORS_FILE.read_text(encoding="ascii"))
KEYS = {name: SigningKey(bytes.fromhex(k["seed"])) for name, k in VECTORS["keys"].items()}


def by_about(section: str, part: str) -> list[Any]:
    return [pytest.param(v, id=v["about"]) for v in VECTORS[section][part]]


def test_the_generator_reproduces_the_committed_file_byte_for_byte() -> None:
    assert generate_vectors.render(generate_vectors.build()) == VECTORS_FILE.read_text(encoding="ascii")


def test_every_key_is_its_seed_s_public_key_and_kid() -> None:
    for name, key in KEYS.items():
        assert (key.public_key.hex(), key.kid) == (VECTORS["keys"][name]["public_key"], VECTORS["keys"][name]["kid"])


def check_token_parts(kind: str, key: SigningKey, vector: dict[str, Any]) -> dict[str, Any]:
    """The token is the signed canonical payload; the signature verifies over the domain-tagged message."""
    payload: dict[str, Any] = json.loads(vector["payload_json"])
    assert canonical_json(payload).decode("ascii") == vector["payload_json"]
    assert key.sign(kind, payload) == vector["token"]
    message = bytes.fromhex(vector["signed_message"])
    assert message == b"coffer:" + kind.encode() + b"\n" + vector["token"].split(".")[0].encode()
    nacl.signing.VerifyKey(key.public_key).verify(message, bytes.fromhex(vector["signature"]))
    return payload


@pytest.mark.parametrize("vector", by_about("tickets", "valid"))
def test_ticket_vector_is_issued_and_accepted_exactly(vector: dict[str, Any]) -> None:
    payload = check_token_parts(tickets.KIND, KEYS["server"], vector)
    trusted = {kid: bytes.fromhex(k) for kid, k in VECTORS["tickets"]["trusted_keys"].items()}
    ticket = tickets.verify(vector["token"], trusted, vector["now"])
    assert ticket.payload() == payload
    assert tickets.issue(KEYS["server"], ticket) == vector["token"]


@pytest.mark.parametrize("vector", by_about("tickets", "rejections"))
def test_ticket_rejection_vector_is_refused_with_its_code(vector: dict[str, Any]) -> None:
    trusted = {kid: bytes.fromhex(k) for kid, k in VECTORS["tickets"]["trusted_keys"].items()}
    with pytest.raises(tickets.TicketError) as raised:
        tickets.verify(vector["token"], trusted, vector["now"])
    assert raised.value.code == vector["error"]


@pytest.mark.parametrize("vector", by_about("receipts", "valid"))
def test_receipt_vector_is_signed_and_accepted_exactly(vector: dict[str, Any]) -> None:
    payload = check_token_parts(receipts.KIND, KEYS["fileserver"], vector)
    receipt = receipts.verify(vector["token"], bytes.fromhex(VECTORS["receipts"]["fileserver_public_key"]))
    assert receipt.payload() == payload
    assert receipts.sign(KEYS["fileserver"], receipt) == vector["token"]
    assert receipts.fileserver_of(vector["token"]) == payload["fs"]


@pytest.mark.parametrize("vector", by_about("receipts", "rejections"))
def test_receipt_rejection_vector_is_refused_with_its_code(vector: dict[str, Any]) -> None:
    with pytest.raises(receipts.ReceiptInvalid) as raised:
        receipts.verify(vector["token"], bytes.fromhex(VECTORS["receipts"]["fileserver_public_key"]))
    assert raised.value.code == vector["error"]


@pytest.mark.parametrize("vector", by_about("cluster_requests", "valid"))
def test_cluster_request_vector_is_signed_and_accepted_exactly(
    vector: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    payload = check_token_parts(cluster.KIND, KEYS["cluster"], vector)
    monkeypatch.setattr(os, "urandom", lambda n: bytes.fromhex(vector["nonce_bytes"])[:n])
    made = cluster.sign_request(
        KEYS["cluster"],
        payload["cluster"],
        payload["gen"],
        payload["fs"],
        payload["action"],
        payload["body"],
        payload["ts"],
    )
    assert made == {"token": vector["token"]}
    public = bytes.fromhex(VECTORS["cluster_requests"]["cluster_public_key"])
    request = cluster.open_request(made, public, vector["action"], vector["now"])
    assert (request.cluster, request.gen, request.fs, request.ts, request.nonce, request.body) == (
        payload["cluster"],
        payload["gen"],
        payload["fs"],
        payload["ts"],
        payload["nonce"],
        payload["body"],
    )


@pytest.mark.parametrize("vector", by_about("cluster_requests", "rejections"))
def test_cluster_request_rejection_vector_is_refused_with_its_code(vector: dict[str, Any]) -> None:
    public = bytes.fromhex(VECTORS["cluster_requests"]["cluster_public_key"])
    with pytest.raises(ProtocolError) as raised:
        cluster.open_request({"token": vector["token"]}, public, vector["action"], vector["now"])
    assert raised.value.code == vector["error"]


def test_the_vectors_file_is_pure_ascii() -> None:
    VECTORS_FILE.read_bytes().decode("ascii")
