"""Regenerate ``spec/vectors/protocol-v1.json``: run ``python -m tests.protocol.generate_vectors`` from the root.

The vectors pin the signed tokens programs hand each other (docs/protocol.md): transfer tickets
(server → client → fileserver), chunk receipts (fileserver → client → server) and cluster-signed
requests (fileserver → server). Ed25519 is deterministic, so with fixed seeds, ids, times and
nonces every token is exact bytes, and running this again rewrites the file byte for byte.
Each ``rejections`` entry is a token a checker must refuse, with the Python code's error code.

``--check`` compares instead of writing and exits 1 if the file is stale.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from coffer.protocol import PROTOCOL_VERSION, cluster, receipts, tickets
from coffer.protocol.encoding import b64decode, b64encode
from coffer.protocol.signing import SigningKey

VECTORS = Path(__file__).parents[2] / "spec" / "vectors" / "protocol-v1.json"

FILE_ID = "6f1c3f0e-2b7a-4d55-9a43-0c3e8f1d2a10"
OTHER_FILE_ID = "0b8e2f4c-5d7a-4e19-8c33-91a7d4b6e205"
USER_ID = "5b0f3a7e-1c2d-4e8f-9a6b-3d4c5e6f7a81"
FILESERVER_ID = "8c1e6f2a-4b3d-4a7e-9f05-1d2c3b4a5e6f"
CLUSTER_ID = "2d7a9c4e-6f1b-4c3a-8e52-7b9d0f1e2a34"
TICKET_ID = "a4c2e6f8-0b1d-4e3f-9a57-c6e8d0f2b4a1"
SHARD = "hq"
NOW = 1767225600
CHUNK = hashlib.sha256(b"coffer protocol vector chunk").hexdigest()
OTHER_CHUNK = hashlib.sha256(b"coffer protocol vector chunk 2").hexdigest()

Vector = dict[str, Any]


def fixed_key(label: str) -> SigningKey:
    """Return an Ed25519 key whose seed is the SHA-256 of *label*: fixed, and random-looking."""
    return SigningKey(hashlib.sha256(b"coffer test vector: " + label.encode()).digest())


SERVER, CLUSTER, FILESERVER, STRANGER = (
    fixed_key(f"{name} signing key") for name in ("server", "cluster", "fileserver", "stranger")
)


def key_json(key: SigningKey) -> Vector:
    return {"seed": key.seed.hex(), "public_key": key.public_key.hex(), "kid": key.kid}


def token_parts(kind: str, token: str) -> Vector:
    """Spell out what a token is made of: its canonical payload, the signed bytes and the signature."""
    body, signature = token.split(".")
    return {
        "payload_json": b64decode(body).decode("ascii"),
        "signed_message": (b"coffer:" + kind.encode() + b"\n" + body.encode()).hex(),
        "signature": b64decode(signature).hex(),
        "token": token,
    }


def resigned(key: SigningKey, kind: str, payload: dict[str, Any]) -> str:
    return key.sign(kind, payload)


def flipped(token: str) -> str:
    """Return *token* with one bit of its signature changed."""
    body, signature = token.split(".")
    raw = bytearray(b64decode(signature))
    raw[0] ^= 1
    return f"{body}.{b64encode(bytes(raw))}"


def ticket_vectors() -> Vector:
    get = tickets.Ticket("get", FILE_ID, SHARD, USER_ID, NOW, NOW + 300, TICKET_ID, chunks=(CHUNK, OTHER_CHUNK))
    put = tickets.Ticket(
        "put",
        FILE_ID,
        SHARD,
        USER_ID,
        NOW,
        NOW + 300,
        TICKET_ID,
        max_bytes=8388636,
        max_chunks=3,
        max_total=20971604,
    )
    valid = []
    put_about = "a put ticket for a file of 3 chunks of at most 8 MiB + 28 and 20 MiB + 84 bytes in all"
    for about, ticket in (("a get ticket for two chunks", get), (put_about, put)):
        token = tickets.issue(SERVER, ticket)
        valid.append(
            {
                "about": about,
                "pins": ["protocol.tickets.issue", "protocol.tickets.verify"],
                "now": NOW + 60,
                **token_parts(tickets.KIND, token),
            }
        )
    token = valid[0]["token"]
    payload = json.loads(valid[0]["payload_json"])

    def reject(about: str, bad: str, error: str, now: int = NOW + 60) -> Vector:
        return {"about": about, "pins": ["protocol.tickets.verify"], "token": bad, "now": now, "error": error}

    rejections = [
        reject("expired: checked a second after exp", token, "ticket_expired", NOW + 301),
        reject("issued more than 30 s in the future", token, "ticket_invalid", NOW - 31),
        reject("signed by a key the fileserver does not trust", tickets.issue(STRANGER, get), "ticket_unknown_key"),
        reject("one bit of the signature changed", flipped(token), "ticket_invalid"),
        reject("the server's key, but signed as a receipt", resigned(SERVER, receipts.KIND, payload), "ticket_invalid"),
        reject("version 2", resigned(SERVER, tickets.KIND, payload | {"v": 2}), "ticket_invalid"),
        reject(
            "a payload that is not canonical JSON (a space after a colon)",
            f"{b64encode(valid[0]['payload_json'].replace(':', ': ', 1).encode())}.{token.split('.')[1]}",
            "ticket_invalid",
        ),
        reject(
            "an op that is neither put nor get",
            resigned(SERVER, tickets.KIND, payload | {"op": "delete"}),
            "ticket_invalid",
        ),
    ]
    return {"trusted_keys": {SERVER.kid: SERVER.public_key.hex()}, "valid": valid, "rejections": rejections}


def receipt_vectors() -> Vector:
    receipt = receipts.Receipt(FILESERVER_ID, SHARD, FILE_ID, CHUNK, 8388636, NOW)
    token = receipts.sign(FILESERVER, receipt)
    payload = receipt.payload()

    def reject(about: str, bad: str) -> Vector:
        return {"about": about, "pins": ["protocol.receipts.verify"], "token": bad, "error": "receipt_invalid"}

    return {
        "fileserver_public_key": FILESERVER.public_key.hex(),
        "valid": [
            {
                "about": "a receipt for one stored chunk",
                "pins": ["protocol.receipts.sign", "protocol.receipts.verify", "protocol.receipts.fileserver_of"],
                **token_parts(receipts.KIND, token),
            }
        ],
        "rejections": [
            reject("signed by another fileserver's key", receipts.sign(STRANGER, receipt)),
            reject("one bit of the signature changed", flipped(token)),
            reject("the fileserver's key, but signed as a ticket", resigned(FILESERVER, tickets.KIND, payload)),
            reject("version 2", resigned(FILESERVER, receipts.KIND, payload | {"v": 2})),
            reject("a negative size", resigned(FILESERVER, receipts.KIND, payload | {"size": -1})),
            reject(
                "a chunk name that is not a SHA-256", resigned(FILESERVER, receipts.KIND, payload | {"chunk": "ab"})
            ),
        ],
    }


def cluster_payload(action: str, ts: float, body: dict[str, Any]) -> dict[str, Any]:
    """Build a request's payload as docs/protocol.md lays it out, with a fixed nonce."""
    return {
        "v": PROTOCOL_VERSION,
        "cluster": CLUSTER_ID,
        "gen": 1,
        "fs": FILESERVER_ID,
        "action": action,
        "ts": ts,
        "nonce": b64encode(hashlib.sha256(b"coffer test vector: cluster nonce").digest()[:16]),
        "body": body,
    }


def cluster_vectors() -> Vector:
    body = {"load": {"active_transfers": 2}, "shards": [{"name": SHARD, "read": True, "write": True}]}
    payload = cluster_payload("heartbeat", NOW + 0.5, body)
    token = CLUSTER.sign(cluster.KIND, payload)

    def reject(about: str, bad: str, error: str, action: str = "heartbeat", now: float = NOW) -> Vector:
        return {
            "about": about,
            "pins": ["protocol.cluster.open_request"],
            "token": bad,
            "action": action,
            "now": now,
            "error": error,
        }

    return {
        "cluster_public_key": CLUSTER.public_key.hex(),
        "valid": [
            {
                "about": "a heartbeat, half a second after the server's clock",
                "pins": ["protocol.cluster.sign_request", "protocol.cluster.open_request"],
                "nonce_bytes": b64decode(payload["nonce"]).hex(),
                "action": "heartbeat",
                "now": NOW,
                **token_parts(cluster.KIND, token),
            }
        ],
        "rejections": [
            reject("sent to the register endpoint", token, "wrong_action", action="register"),
            reject("61 s older than the server's clock", token, "request_stale", now=NOW + 61.5),
            reject("signed by another key", STRANGER.sign(cluster.KIND, payload), "bad_signature"),
            reject("the cluster's key, but signed as a ticket", CLUSTER.sign(tickets.KIND, payload), "bad_signature"),
            reject("version 2", CLUSTER.sign(cluster.KIND, payload | {"v": 2}), "wrong_action"),
            reject("a body that is not an object", CLUSTER.sign(cluster.KIND, payload | {"body": []}), "bad_request"),
        ],
    }


def build() -> dict[str, Any]:
    return {
        "format": "coffer protocol tokens, version 1",
        "spec": "docs/protocol.md",
        "generator": "python -m tests.protocol.generate_vectors",
        "notes": [
            "Byte strings are lowercase hex; tokens are base64url(canonical JSON payload) '.' base64url(signature).",
            "The signature is Ed25519 over 'coffer:' || kind || '\\n' || the token's first part (signed_message).",
            "Ed25519 is deterministic: signing payload_json with a key's seed gives the token exactly.",
            "Every entry of a 'rejections' list must be refused; its 'error' is the Python code's error code.",
        ],
        "keys": {
            name: key_json(k)
            for name, k in (
                ("server", SERVER),
                ("cluster", CLUSTER),
                ("fileserver", FILESERVER),
                ("stranger", STRANGER),
            )
        },
        "tickets": ticket_vectors(),
        "receipts": receipt_vectors(),
        "cluster_requests": cluster_vectors(),
    }


def render(vectors: dict[str, Any]) -> str:
    return json.dumps(vectors, indent=2, ensure_ascii=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Regenerate Coffer's protocol test vectors.")
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 if the file is stale")
    args = parser.parse_args(argv)
    text = render(build())
    if args.check:
        if not VECTORS.exists() or text != VECTORS.read_text(encoding="ascii"):
            print(f"{VECTORS.name} is stale: run python -m tests.protocol.generate_vectors", file=sys.stderr)
            return 1
        return 0
    VECTORS.write_text(text, encoding="ascii")
    print(f"wrote {VECTORS.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
