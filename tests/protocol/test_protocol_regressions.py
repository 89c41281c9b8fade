"""Regression tests for protocol bugs found by review: hostile JSON, booleans as numbers, NaN times, log injection."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from coffer.protocol import cluster, receipts, settings, signing, tickets
from coffer.protocol.encoding import DecodeError, b64encode, parse_json_object
from coffer.protocol.errors import ProtocolError
from coffer.protocol.logs import KeyValueFormatter
from coffer.protocol.signing import SigningKey, TokenMalformed

KEY = SigningKey(bytes(range(32)))
TRUSTED = {KEY.kid: KEY.public_key}
ID = "11111111-1111-4111-8111-111111111111"
DEEP = b"[" * 2000
BIG_INT = b'{"a":1' + b"0" * 5000 + b"}"


@pytest.mark.parametrize("data", [DEEP, BIG_INT], ids=["deep-nesting", "5000-digit-int"])
def test_parse_json_object_raises_only_decode_error(data: bytes) -> None:
    with pytest.raises(DecodeError):
        parse_json_object(data)


@pytest.mark.parametrize("data", [DEEP, BIG_INT], ids=["deep-nesting", "5000-digit-int"])
def test_hostile_token_payload_is_a_protocol_error_everywhere(data: bytes) -> None:
    token = b64encode(data) + ".AA"
    assert len(token) <= cluster.MAX_TOKEN_LENGTH  # reaches the JSON parser, not the length check
    with pytest.raises(TokenMalformed):
        signing.peek_token(token, cluster.MAX_TOKEN_LENGTH)
    with pytest.raises(tickets.TicketError):
        tickets.verify(token, TRUSTED, 0)
    with pytest.raises(receipts.ReceiptInvalid):
        receipts.fileserver_of(token)
    with pytest.raises(TokenMalformed):
        cluster.claimed_sender({"token": token})


def test_ticket_whose_signature_is_not_base64url_is_a_ticket_error() -> None:
    body = KEY.sign(tickets.KIND, {"kid": KEY.kid}).split(".")[0]
    with pytest.raises(tickets.TicketError):
        tickets.verify(body + ".!!!", TRUSTED, 0)


def _ticket_payload(**changes: object) -> dict[str, object]:
    t = tickets.Ticket(op="put", file=ID, shard="s", sub=ID, iat=0, exp=100, jti=ID)
    return t.payload() | {"kid": KEY.kid} | changes


@pytest.mark.parametrize("version", [True, 1.0])
def test_version_must_be_the_integer_1(version: object) -> None:
    with pytest.raises(tickets.TicketError):
        tickets.verify(KEY.sign(tickets.KIND, _ticket_payload(v=version)), TRUSTED, 1)
    receipt = {"v": version, "fs": ID, "shard": "s", "file": ID, "chunk": "0" * 64, "size": 1, "iat": 0}
    with pytest.raises(receipts.ReceiptInvalid):
        receipts.verify(KEY.sign(receipts.KIND, receipt), KEY.public_key)


@pytest.mark.parametrize(("field", "value"), [("size", True), ("iat", False)])
def test_receipt_size_and_time_are_not_booleans(field: str, value: bool) -> None:
    receipt = {"v": 1, "fs": ID, "shard": "s", "file": ID, "chunk": "0" * 64, "size": 1, "iat": 0, field: value}
    with pytest.raises(receipts.ReceiptInvalid):
        receipts.verify(KEY.sign(receipts.KIND, receipt), KEY.public_key)


def _request(**changes: object) -> dict[str, str]:
    payload = {"v": 1, "cluster": ID, "gen": 1, "fs": ID, "action": "heartbeat", "ts": 1e9, "nonce": "A" * 22}
    payload = payload | {"body": {}} | changes
    for key in [k for k, v in payload.items() if v is KeyError]:
        del payload[key]
    return {"token": KEY.sign(cluster.KIND, payload)}


def test_request_with_a_nan_timestamp_is_refused() -> None:
    """Signed as a foreign implementation could: the current signer emits NaN too."""
    import json

    import nacl.signing

    payload = {"v": 1, "cluster": ID, "gen": 1, "fs": ID, "action": "heartbeat", "ts": float("nan")}
    payload |= {"nonce": "A" * 22, "body": {}}
    body = b64encode(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode())
    signature = nacl.signing.SigningKey(KEY.seed).sign(f"coffer:{cluster.KIND}\n{body}".encode()).signature
    with pytest.raises(ProtocolError):
        cluster.open_request({"token": f"{body}.{b64encode(signature)}"}, KEY.public_key, "heartbeat", 1e9)


def test_signer_refuses_to_emit_non_json_floats() -> None:
    with pytest.raises(ValueError):
        KEY.sign("x", {"ts": float("nan")})


@pytest.mark.parametrize(
    "changes", [{"cluster": KeyError}, {"gen": KeyError}, {"gen": "x"}, {"gen": True}, {"cluster": "../x"}, {"v": True}]
)
def test_open_request_checks_cluster_gen_and_version_itself(changes: dict[str, object]) -> None:
    with pytest.raises(ProtocolError):
        cluster.open_request(_request(**changes), KEY.public_key, "heartbeat", 1e9)


def test_config_path_that_is_a_directory_is_a_settings_error(tmp_path: Path) -> None:
    with pytest.raises(settings.SettingsError):
        settings.read_toml(tmp_path)


def test_config_file_that_is_not_utf8_is_a_settings_error(tmp_path: Path) -> None:
    path = tmp_path / "coffer.toml"
    path.write_bytes(b'name = "caf\xe9"\n')
    with pytest.raises(settings.SettingsError):
        settings.read_toml(path)


@pytest.mark.parametrize("text", ["a\rlevel=error", "a\x0bb", "a\x0cb", "a\x1cb", "a\x85b", "a\u2028b", "a\u00a0b"])
def test_any_line_break_or_whitespace_is_escaped_inside_quotes(text: str) -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, text, None, None)
    record.kv = {"url": "http://fs1" + text}
    line = KeyValueFormatter().format(record)
    assert len(line.splitlines()) == 1
    assert len(line.split()) == 5


def test_put_ticket_that_verify_would_refuse_cannot_be_issued() -> None:
    ticket = tickets.Ticket(op="put", file=ID, shard="s", sub=ID, iat=0, exp=100, jti=ID, chunks=("0" * 64,) * 33)
    with pytest.raises(ValueError):
        tickets.issue(KEY, ticket)
