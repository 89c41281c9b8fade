"""Declarative shard config, cluster configs and credential rotation."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from coffer.server.domain import audit
from coffer.server.domain.topology_plan import Link, Topology, parse, plan

from .conftest import LOCAL_TOPOLOGY, Harness


def test_apply_creates_then_is_idempotent(harness: Harness) -> None:
    admin = harness.make_user("root", "admin")
    first = harness.apply(admin).json["changes"]
    assert {(c["action"], c["kind"], c["name"]) for c in first} == {
        ("create", "shard", "default"),
        ("create", "shard", "archive"),
        ("create", "cluster", "local"),
        ("create", "link", "local/default"),
        ("create", "link", "local/archive"),
    }
    assert harness.apply(admin).json["changes"] == []


def test_apply_updates_flags_and_removes_only_with_prune(harness: Harness, admin: str) -> None:
    smaller = {
        "shards": [{"name": "default", "description": "one site"}],
        "clusters": [{"name": "local", "shards": [{"name": "default", "read": True, "write": False}]}],
    }
    changes = harness.apply(admin, smaller).json["changes"]
    assert [(c["action"], c["name"]) for c in changes] == [("update", "local/default")]
    assert {s["name"] for s in harness.call("GET", "/api/admin/shards", token=admin).json} == {"default", "archive"}
    pruned = harness.apply(admin, smaller, prune=True).json["changes"]
    assert {(c["action"], c["name"]) for c in pruned} == {("remove", "local/archive"), ("remove", "archive")}
    assert {s["name"] for s in harness.call("GET", "/api/admin/shards", token=admin).json} == {"default"}


def test_dry_run_changes_nothing(harness: Harness) -> None:
    admin = harness.make_user("root", "admin")
    planned = harness.apply(admin, dry_run=True).json
    assert planned["dry_run"] is True and len(planned["changes"]) == 5
    assert harness.call("GET", "/api/admin/shards", token=admin).json == []


def test_bad_config_is_refused_and_changes_nothing(harness: Harness) -> None:
    admin = harness.make_user("root", "admin")
    bad = {
        "shards": [{"name": "default"}],
        "clusters": [{"name": "local", "shards": [{"name": "missing", "read": True}]}],
    }
    answer = harness.apply(admin, bad)
    assert answer.status_code == 400
    assert "missing" in answer.json["message"]
    assert harness.call("GET", "/api/admin/shards", token=admin).json == []
    configs: list[Any] = [{"shards": [{"name": "../x"}]}, {"shards": "x"}, {"other": []}, ["x"]]
    for config in configs:
        assert harness.apply(admin, config).status_code == 400, config


def test_cluster_config_is_stable_toml_with_the_credential(harness: Harness, admin: str) -> None:
    first = harness.call("GET", "/api/admin/clusters/local/config", token=admin).json
    second = harness.call("GET", "/api/admin/clusters/local/config", token=admin).json
    assert first == second
    parsed = tomllib.loads(first["toml"])
    assert parsed["server"]["public_key"] == harness.keys.signing.public_text
    assert parsed["cluster"]["name"] == "local" and parsed["cluster"]["generation"] == 1
    assert parsed["cluster"]["credential"] == first["config"]["cluster"]["credential"]
    assert {(s["name"], s["read"], s["write"]) for s in parsed["shards"]} == {
        ("default", True, True),
        ("archive", True, False),
    }
    assert parsed["fileserver"]["bind"] == "127.0.0.1:8101"


def test_unknown_cluster_is_404(harness: Harness, admin: str) -> None:
    answer = harness.call("GET", "/api/admin/clusters/nope/config", token=admin)
    assert answer.status_code == 404
    assert answer.json["error"] == "cluster_not_found"


def test_rotation_retires_the_old_credential_after_the_grace(harness: Harness, admin: str) -> None:
    old = harness.fileserver(admin)
    assert harness.register(old).status_code == 200
    rotated = harness.call("POST", "/api/admin/clusters/local/rotate", {"grace_seconds": 60}, admin).json
    assert rotated["config"]["cluster"]["generation"] == 2
    new = harness.fileserver(admin)
    new.id, new.key = old.id, old.key  # the same fileserver, its identity kept, under the new credential
    assert new.credential != old.credential
    assert harness.beat(old).status_code == 200, "within the grace the old credential still works"
    assert harness.beat(new).status_code == 200
    harness.clock.now += 61
    refused = harness.beat(old)
    assert refused.status_code == 401
    assert refused.json["error"] == "credential_invalid"
    assert harness.beat(new).status_code == 200, "the fileserver keeps its identity under the new credential"


def test_rotation_without_grace_retires_the_old_credential_at_once(harness: Harness, admin: str) -> None:
    old = harness.fileserver(admin)
    harness.call("POST", "/api/admin/clusters/local/rotate", {}, admin)
    assert harness.register(old).status_code == 401


def test_plan_orders_creations_before_removals() -> None:
    current = Topology(shards={"old": ""}, clusters={"c": {"old": Link(True, True)}})
    wanted = parse(LOCAL_TOPOLOGY, set())
    actions = [c.action for c in plan(current, wanted, prune=True)]
    assert actions == sorted(actions, key=lambda a: a == "remove")
    assert plan(wanted, wanted, prune=True) == []


@pytest.mark.parametrize(
    "example", sorted((Path(__file__).resolve().parents[2] / "shard-config").glob("*.toml")), ids=lambda p: p.name
)
def test_every_shipped_example_applies_and_is_idempotent(harness: Harness, example: Path) -> None:
    admin = harness.make_user("root", "admin")
    config = tomllib.loads(example.read_text())
    first = harness.apply(admin, config)
    assert first.status_code == 200, first.json
    assert first.json["changes"], "an example that changes nothing teaches nothing"
    assert harness.apply(admin, config).json["changes"] == []


def test_every_export_of_a_cluster_config_is_audited_because_it_holds_the_credential(
    harness: Harness, admin: str
) -> None:
    assert harness.call("GET", "/api/admin/clusters/local/config", token=admin).status_code == 200
    exports = [e for e in audit.query(harness.db) if e.action == "admin.export"]
    assert [(e.actor, e.object) for e in exports] == [("root", "cluster:local")]
