"""Requests a fileserver signs with its cluster's credential: registration and heartbeat."""

from __future__ import annotations

import json
from typing import Any

import nacl.signing
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coffer.protocol import PROTOCOL_VERSION, tickets
from coffer.protocol.cluster import (
    KIND,
    MAX_SKEW,
    ClusterRequest,
    ProofInvalid,
    RequestStale,
    check_proof,
    claimed_sender,
    open_request,
    prove,
    sign_request,
)
from coffer.protocol.encoding import b64decode, b64encode, canonical_json
from coffer.protocol.errors import ProtocolError
from coffer.protocol.signing import SignatureInvalid, SigningKey, TokenMalformed

NOW = 1_700_000_000.25
CREDENTIAL = SigningKey(bytes(range(32)))
OLD_CREDENTIAL = SigningKey(bytes(range(1, 33)))
CLUSTER = "66666666-6666-4666-a666-666666666666"
FS_ID = "55555555-5555-4555-9555-555555555555"
BODY = {"version": "0.1.0", "shards": [{"name": "europe-1", "read": True, "write": True}]}


def request(action: str = "heartbeat", now: float = NOW, gen: int = 3) -> dict[str, str]:
    return sign_request(CREDENTIAL, CLUSTER, gen, FS_ID, action, BODY, now)  # type: ignore[arg-type]


def payload(**changes: Any) -> dict[str, Any]:
    return {
        "v": PROTOCOL_VERSION,
        "cluster": CLUSTER,
        "gen": 3,
        "fs": FS_ID,
        "action": "heartbeat",
        "ts": NOW,
        "nonce": b64encode(bytes(16)),
        "body": BODY,
    } | changes


def signed(**changes: Any) -> dict[str, str]:
    return {"token": CREDENTIAL.sign(KIND, payload(**changes))}


def signed_as_any_json(**changes: Any) -> dict[str, str]:
    """Sign as a foreign implementation might, with JSON extensions such as Infinity."""
    body = b64encode(json.dumps(payload(**changes), sort_keys=True, separators=(",", ":")).encode())
    signature = nacl.signing.SigningKey(CREDENTIAL.seed).sign(f"coffer:{KIND}\n{body}".encode()).signature
    return {"token": f"{body}.{b64encode(signature)}"}


def test_signed_request_opens_with_the_cluster_credential() -> None:
    opened = open_request(request(), CREDENTIAL.public_key, "heartbeat", NOW)
    assert opened == ClusterRequest(
        cluster=CLUSTER, gen=3, fs=FS_ID, action="heartbeat", ts=NOW, nonce=opened.nonce, body=BODY
    )


def test_signed_request_is_an_http_body_with_one_token() -> None:
    http_body = request()
    assert list(http_body) == ["token"]
    assert isinstance(http_body["token"], str)


def test_request_nonce_is_16_fresh_random_bytes() -> None:
    first = open_request(request(), CREDENTIAL.public_key, "heartbeat", NOW).nonce
    second = open_request(request(), CREDENTIAL.public_key, "heartbeat", NOW).nonce
    assert len(b64decode(first)) == 16
    assert first != second


def test_request_time_is_returned_as_a_float() -> None:
    opened = open_request(signed(ts=int(NOW)), CREDENTIAL.public_key, "heartbeat", NOW)
    assert opened.ts == int(NOW)
    assert isinstance(opened.ts, float)


def test_registration_is_not_accepted_as_a_heartbeat() -> None:
    with pytest.raises(ProtocolError) as info:
        open_request(request("register"), CREDENTIAL.public_key, "heartbeat", NOW)
    assert info.value.code == "wrong_action"
    assert info.value.status == 400


def test_heartbeat_is_not_accepted_as_a_registration() -> None:
    with pytest.raises(ProtocolError) as info:
        open_request(request("heartbeat"), CREDENTIAL.public_key, "register", NOW)
    assert info.value.code == "wrong_action"


@pytest.mark.parametrize("version", [0, 2, "1", None])
def test_request_of_another_protocol_version_is_refused(version: object) -> None:
    with pytest.raises(ProtocolError):
        open_request(signed(v=version), CREDENTIAL.public_key, "heartbeat", NOW)


def test_request_signed_with_another_credential_is_refused() -> None:
    with pytest.raises(SignatureInvalid):
        open_request(request(), OLD_CREDENTIAL.public_key, "heartbeat", NOW)


def test_ticket_signed_with_the_credential_does_not_open_as_a_request() -> None:
    http_body = {"token": CREDENTIAL.sign(tickets.KIND, payload())}
    with pytest.raises(SignatureInvalid):
        open_request(http_body, CREDENTIAL.public_key, "heartbeat", NOW)


@pytest.mark.parametrize("offset", [-MAX_SKEW, -1.5, 0, 1.5, MAX_SKEW])
def test_request_within_the_clock_window_is_accepted(offset: float) -> None:
    assert open_request(request(now=NOW + offset), CREDENTIAL.public_key, "heartbeat", NOW).ts == NOW + offset


@pytest.mark.parametrize("offset", [-MAX_SKEW - 0.5, MAX_SKEW + 0.5, -86400, 86400])
def test_request_beyond_the_clock_window_is_stale(offset: float) -> None:
    with pytest.raises(RequestStale, match="NTP") as info:
        open_request(request(now=NOW + offset), CREDENTIAL.public_key, "heartbeat", NOW)
    assert info.value.status == 401
    assert info.value.code == "request_stale"


@pytest.mark.parametrize(
    ("offset", "words"),
    [
        (-3600, "the sender's clock is 3600 s behind the server's"),
        (3600, "the sender's clock is 3600 s ahead of the server's"),
        (-MAX_SKEW - 0.5, f"the sender's clock is {MAX_SKEW + 1} s behind the server's"),
    ],
)
def test_a_stale_request_says_whether_the_senders_clock_is_ahead_or_behind_and_by_how_much(
    offset: float, words: str
) -> None:
    with pytest.raises(RequestStale) as info:
        open_request(request(now=NOW + offset), CREDENTIAL.public_key, "heartbeat", NOW)
    assert info.value.message == f"{words} (at most {MAX_SKEW} s is accepted): check that both hosts keep time with NTP"


@pytest.mark.parametrize("ts", ["1700000000", None, True, False, [NOW]])
def test_request_with_a_timestamp_that_is_not_a_number_is_refused(ts: object) -> None:
    with pytest.raises(ProtocolError, match="timestamp"):
        open_request(signed(ts=ts), CREDENTIAL.public_key, "heartbeat", NOW)


@pytest.mark.parametrize("ts", [float("inf"), float("-inf")])
def test_request_with_an_infinite_timestamp_is_refused(ts: float) -> None:
    with pytest.raises(ProtocolError):
        open_request(signed_as_any_json(ts=ts), CREDENTIAL.public_key, "heartbeat", NOW)


def test_raw_signer_matches_the_protocol_signer() -> None:
    assert signed_as_any_json() == signed()


@pytest.mark.parametrize(
    "nonce",
    [None, 16, "", "A" * 15, "A" * 65, ["A" * 22]],
    ids=["none", "int", "empty", "short", "long", "list"],
)
def test_request_with_a_malformed_nonce_is_refused(nonce: object) -> None:
    with pytest.raises(ProtocolError, match="nonce"):
        open_request(signed(nonce=nonce), CREDENTIAL.public_key, "heartbeat", NOW)


@pytest.mark.parametrize("nonce", ["A" * 16, "A" * 64])
def test_request_nonce_of_16_to_64_characters_is_accepted(nonce: str) -> None:
    assert open_request(signed(nonce=nonce), CREDENTIAL.public_key, "heartbeat", NOW).nonce == nonce


@pytest.mark.parametrize("body", [None, [], "text", 1, True])
def test_request_whose_body_is_not_an_object_is_refused(body: object) -> None:
    with pytest.raises(ProtocolError, match="body"):
        open_request(signed(body=body), CREDENTIAL.public_key, "heartbeat", NOW)


@pytest.mark.parametrize("fs", [None, "../x", FS_ID.upper().replace("-", "")])
def test_request_from_a_malformed_fileserver_id_is_refused(fs: object) -> None:
    with pytest.raises(ProtocolError):
        open_request(signed(fs=fs), CREDENTIAL.public_key, "heartbeat", NOW)


def test_request_without_a_token_is_malformed() -> None:
    with pytest.raises(TokenMalformed):
        open_request({}, CREDENTIAL.public_key, "heartbeat", NOW)
    with pytest.raises(TokenMalformed):
        claimed_sender({})


def test_claimed_sender_names_the_cluster_and_credential_generation() -> None:
    assert claimed_sender(request(gen=7)) == (CLUSTER, 7)


def test_claimed_sender_does_not_check_the_signature() -> None:
    forged = {"token": OLD_CREDENTIAL.sign(KIND, payload(gen=9))}
    assert claimed_sender(forged) == (CLUSTER, 9)


@pytest.mark.parametrize("gen", [True, False, None, "3", 3.0, [3]])
def test_claimed_generation_must_be_an_integer_and_not_a_boolean(gen: object) -> None:
    with pytest.raises(TokenMalformed, match="generation"):
        claimed_sender(signed(gen=gen))


@pytest.mark.parametrize("cluster", [None, "europe", "../x", 5, CLUSTER.upper()])
def test_claimed_cluster_must_be_a_lowercase_uuid(cluster: object) -> None:
    with pytest.raises(ProtocolError) as info:
        claimed_sender(signed(cluster=cluster))
    assert info.value.code == "invalid_cluster_id"


@pytest.mark.parametrize("token", [None, 5, "", "x", "a.b.c", b64encode(b"[1]") + ".AA"])
def test_claimed_sender_of_a_malformed_token_is_token_malformed(token: object) -> None:
    with pytest.raises(TokenMalformed):
        claimed_sender({"token": token})


@settings(deadline=None)
@given(st.text(max_size=300))
def test_any_text_as_a_request_token_raises_only_protocol_errors(text: str) -> None:
    with pytest.raises(ProtocolError):
        claimed_sender({"token": text})
    with pytest.raises(ProtocolError):
        open_request({"token": text}, CREDENTIAL.public_key, "heartbeat", NOW)


json_scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=70)
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=8,
)


@settings(deadline=None)
@given(field=st.sampled_from(["v", "fs", "action", "ts", "nonce", "body"]), value=json_values)
def test_any_value_in_a_checked_field_gives_a_request_or_a_protocol_error(field: str, value: object) -> None:
    try:
        opened = open_request(signed(**{field: value}), CREDENTIAL.public_key, "heartbeat", NOW)
    except ProtocolError:
        return
    assert abs(opened.ts - NOW) <= MAX_SKEW
    assert isinstance(opened.body, dict)


def test_forged_canonical_request_with_the_right_shape_is_still_refused() -> None:
    forged = b64encode(canonical_json(payload())) + "." + CREDENTIAL.sign(KIND, payload(gen=4)).split(".")[1]
    with pytest.raises(SignatureInvalid):
        open_request({"token": forged}, CREDENTIAL.public_key, "heartbeat", NOW)


IDENTITY = SigningKey(bytes(range(2, 34)))


def test_a_proof_by_the_fileservers_identity_key_covers_exactly_its_request() -> None:
    proven = prove(IDENTITY, request())
    check_proof(proven, IDENTITY.public_key)
    with pytest.raises(SignatureInvalid):
        check_proof(proven, CREDENTIAL.public_key)  # a peer's key (here the cluster's) is not this fileserver's
    with pytest.raises(ProofInvalid, match="another request"):
        check_proof(request() | {"proof": proven["proof"]}, IDENTITY.public_key)
    with pytest.raises(ProofInvalid, match="no proof"):
        check_proof(request(), IDENTITY.public_key)


def test_a_proof_signed_as_another_kind_is_refused() -> None:
    token = request()["token"]
    digest = json.loads(b64decode(prove(IDENTITY, {"token": token})["proof"].split(".")[0]))["token"]
    forged = IDENTITY.sign(KIND, {"token": digest})  # the right key and digest, signed as a cluster request
    with pytest.raises(SignatureInvalid):
        check_proof({"token": token, "proof": forged}, IDENTITY.public_key)
