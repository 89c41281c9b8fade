"""A fileserver's identity key is pinned at its first registration: no peer of its cluster can speak for it."""

from __future__ import annotations

import dataclasses
import logging

import pytest

from coffer.protocol import cluster as cluster_protocol
from coffer.protocol.ids import new_id
from coffer.protocol.signing import SigningKey, key_id

from .conftest import FakeFileserver, Harness


def _impostor(real: FakeFileserver) -> FakeFileserver:
    """A second fileserver of the same cluster, claiming the real one's id with its own key and address."""
    return dataclasses.replace(real, key=SigningKey.generate(), url="http://127.0.0.1:9666")


def _listed(harness: Harness, admin: str) -> list[tuple[str, str]]:
    return [(s["id"], s["url"]) for s in harness.call("GET", "/api/admin/fileservers", token=admin).json]


def test_a_peer_re_registering_anothers_id_is_refused_and_the_real_one_keeps_its_address(
    harness: Harness, admin: str, caplog: pytest.LogCaptureFixture
) -> None:
    real = harness.fileserver(admin)
    assert harness.register(real).status_code == 200
    with caplog.at_level(logging.WARNING, logger="coffer.server"):
        answer = harness.register(_impostor(real))
    assert answer.status_code == 409
    assert answer.json["error"] == "fileserver_key_mismatch"
    assert key_id(real.key.public_key) in answer.json["message"]
    assert "coffer admin fileserver forget" in answer.json["message"]
    refusals = [r.kv for r in caplog.records if r.levelno == logging.WARNING and hasattr(r, "kv")]
    assert {"claimed_fileserver": real.id, "error": "fileserver_key_mismatch"}.items() <= refusals[-1].items()
    assert _listed(harness, admin) == [(real.id, real.url)]
    assert harness.beat(real).status_code == 200


def test_a_peers_heartbeat_or_reconcile_in_anothers_name_is_refused(harness: Harness, admin: str) -> None:
    real = harness.fileserver(admin)
    harness.register(real)
    impostor = _impostor(real)
    beat = harness.beat(impostor)
    assert (beat.status_code, beat.json["error"]) == (409, "fileserver_key_mismatch")
    body = impostor.signed("reconcile", {"shard": "default", "files": []}, harness.clock())
    answer = harness.call("POST", "/api/fileservers/reconcile", body)
    assert (answer.status_code, answer.json["error"]) == (409, "fileserver_key_mismatch")


def test_a_request_without_an_identity_proof_is_refused(harness: Harness, admin: str) -> None:
    fs = harness.fileserver(admin)
    harness.register(fs)
    for action, path, body in (
        ("register", "/api/fileservers/register", fs.registration()),
        ("heartbeat", "/api/fileservers/heartbeat", fs.heartbeat()),
    ):
        signed = fs.signed(action, body, harness.clock())  # type: ignore[arg-type]
        del signed["proof"]
        answer = harness.call("POST", path, signed)
        assert (answer.status_code, answer.json["error"]) == (401, "fileserver_proof_invalid"), action


def test_a_proof_made_for_another_request_is_refused(harness: Harness, admin: str) -> None:
    fs = harness.fileserver(admin)
    harness.register(fs)
    earlier = fs.signed("heartbeat", fs.heartbeat(), harness.clock())
    later = fs.signed("heartbeat", fs.heartbeat(), harness.clock())
    answer = harness.call("POST", "/api/fileservers/heartbeat", later | {"proof": earlier["proof"]})
    assert (answer.status_code, answer.json["error"]) == (401, "fileserver_proof_invalid")


def test_a_first_registration_must_prove_possession_of_the_key_it_registers(harness: Harness, admin: str) -> None:
    fs = harness.fileserver(admin)
    body = fs.signed("register", fs.registration(), harness.clock())
    # The registration names fs.key, but the proof is made with another key.
    forged = cluster_protocol.prove(SigningKey.generate(), {"token": body["token"]})
    answer = harness.call("POST", "/api/fileservers/register", forged)
    assert (answer.status_code, answer.json["error"]) == (401, "bad_signature")
    assert _listed(harness, admin) == []


def test_the_url_changes_only_with_a_valid_proof(harness: Harness, admin: str) -> None:
    fs = harness.fileserver(admin)
    harness.register(fs)
    moved = dataclasses.replace(fs, url="http://127.0.0.1:8202")
    assert harness.register(moved).status_code == 200
    assert _listed(harness, admin) == [(fs.id, moved.url)]


def test_a_fileserver_that_lost_its_identity_file_is_told_what_to_do_and_an_admin_can_forget_it(
    harness: Harness, admin: str
) -> None:
    fs = harness.fileserver(admin)
    harness.register(fs)
    rebuilt = dataclasses.replace(fs, key=SigningKey.generate())
    refused = harness.register(rebuilt)
    assert refused.status_code == 409
    assert "identity.json" in refused.json["message"]
    assert f"coffer admin fileserver forget {fs.id}" in refused.json["message"]

    user = harness.make_user("mallory")
    assert harness.call("POST", f"/api/admin/fileservers/{fs.id}/forget", token=user).status_code == 403
    assert harness.call("POST", f"/api/admin/fileservers/{fs.id}/forget", token=admin).status_code == 204
    assert harness.beat(fs).json["error"] == "fileserver_unknown"  # the old key no longer speaks for the id
    assert harness.register(rebuilt).status_code == 200
    assert harness.beat(rebuilt).status_code == 200
    assert harness.beat(fs).json["error"] == "fileserver_key_mismatch"
    events = harness.call("GET", "/api/admin/audit", token=admin).json
    assert [e["object"] for e in events if e["action"] == "admin.fileserver_forget"] == [f"fileserver:{fs.id}"]


def test_forgetting_an_unknown_fileserver_says_how_to_list_them(harness: Harness, admin: str) -> None:
    answer = harness.call("POST", f"/api/admin/fileservers/{new_id()}/forget", token=admin)
    assert (answer.status_code, answer.json["error"]) == (404, "fileserver_not_found")
    assert "coffer admin fileservers" in answer.json["message"]
