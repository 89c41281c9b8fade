"""Administration messages: an applied config, a rotation, checked as the server always did."""

from __future__ import annotations

from typing import Any

import pytest

from coffer.protocol.api.admin import (
    MAX_CHANGES,
    MAX_GRACE_SECONDS,
    MAX_LISTED_CLUSTERS,
    MAX_LISTED_FILESERVERS,
    MAX_LISTED_SHARDS,
    MAX_LISTED_USERS,
    Applied,
    Apply,
    ClusterConfig,
    ConfigChange,
    ListedCluster,
    ListedShard,
    RegisteredFileserver,
    Rotate,
    parse_clusters,
    parse_fileservers,
    parse_shards,
    parse_users,
)
from coffer.protocol.errors import ProtocolError
from coffer.protocol.messages import MAX_SHARDS


def refusal(parse: Any, body: dict[str, Any]) -> tuple[str, str]:
    with pytest.raises(ProtocolError) as info:
        parse(body)
    assert info.value.status == 400
    return info.value.code, info.value.message


def test_apply_refuses_a_flag_that_is_not_a_boolean() -> None:
    assert Apply.parse({"config": {}, "prune": True}) == Apply({}, prune=True)
    assert refusal(Apply.parse, {"dry_run": "yes"}) == ("bad_request", "'prune' and 'dry_run' must be true or false")


@pytest.mark.parametrize("grace", [-1, MAX_GRACE_SECONDS + 1, True, "60"])
def test_a_rotation_grace_outside_thirty_days_is_refused(grace: object) -> None:
    assert refusal(Rotate.parse, {"grace_seconds": grace}) == (
        "invalid_grace",
        "'grace_seconds' must be a number from 0 to 2592000",
    )


def test_a_rotation_may_keep_the_old_credential_thirty_days() -> None:
    assert Rotate.parse({"grace_seconds": MAX_GRACE_SECONDS}).grace_seconds == MAX_GRACE_SECONDS
    assert Rotate.parse({}).to_json() == {"grace_seconds": 0}


def fileserver(shards: int = 1) -> dict[str, Any]:
    shard = {"name": "hq", "read": True, "write": False, "backend": None, "free_bytes": None}
    return {
        "id": "fs-1",
        "url": "http://127.0.0.1:8101",
        "cluster": "main",
        "live": True,
        "last_seen": 2.5,
        "registered_at": 1,
        "version": None,
        "shards": [shard] * shards,
        "load": {"active_transfers": 0, "bytes_per_s": 0.0, "free_bytes": None, "chunk_count": None},
    }


def test_a_registered_fileserver_round_trips_in_the_servers_field_order() -> None:
    body = fileserver()
    assert RegisteredFileserver.parse(body).to_json() == body
    assert list(RegisteredFileserver.parse(body).to_json()) == list(body)


def test_a_fileserver_lists_at_most_the_shards_it_may_announce() -> None:
    assert len(RegisteredFileserver.parse(fileserver(MAX_SHARDS)).shards) == MAX_SHARDS
    with pytest.raises(ProtocolError) as info:
        RegisteredFileserver.parse(fileserver(MAX_SHARDS + 1))
    assert info.value.code == "invalid_answer"


def test_the_fileserver_listing_holds_at_most_its_limit() -> None:
    body = fileserver()
    assert len(parse_fileservers([body] * MAX_LISTED_FILESERVERS)) == MAX_LISTED_FILESERVERS
    with pytest.raises(ProtocolError) as info:
        parse_fileservers([body] * (MAX_LISTED_FILESERVERS + 1))
    assert info.value.code == "invalid_answer"


def refused_answer(parse: Any, value: object) -> None:
    with pytest.raises(ProtocolError) as info:
        parse(value)
    assert info.value.code == "invalid_answer"


USER = {"id": "u-1", "name": "alice", "role": "admin", "created_at": 1.5}
LINK = {"name": "main", "read": True, "write": False}


def shard(clusters: int = 1) -> dict[str, Any]:
    return {
        "name": "hq",
        "description": "head office",
        "copies": 2,
        "clusters": [LINK] * clusters,
        "below_copies": 3,
        "unrepairable": 1,
    }


def cluster(shards: int = 1) -> dict[str, Any]:
    return {"id": "c-1", "name": "main", "generation": 2, "shards": [LINK | {"name": "hq"}] * shards}


def test_the_user_listing_holds_at_most_its_limit() -> None:
    assert [u.to_json() for u in parse_users([USER])] == [USER]
    assert len(parse_users([USER] * MAX_LISTED_USERS)) == MAX_LISTED_USERS
    refused_answer(parse_users, [USER] * (MAX_LISTED_USERS + 1))


def test_a_listed_shard_and_cluster_round_trip_in_the_servers_field_order() -> None:
    for parse, body in ((ListedShard.parse, shard()), (ListedCluster.parse, cluster())):
        assert list(parse(body).to_json().items()) == list(body.items())
    refused_answer(ListedShard.parse, shard() | {"clusters": [LINK | {"read": "yes"}]})
    refused_answer(ListedCluster.parse, cluster() | {"generation": True})


def test_a_shard_lists_at_most_the_clusters_a_listing_may_hold() -> None:
    assert len(ListedShard.parse(shard(MAX_LISTED_CLUSTERS)).clusters) == MAX_LISTED_CLUSTERS
    refused_answer(ListedShard.parse, shard(MAX_LISTED_CLUSTERS + 1))
    assert len(parse_clusters([cluster()] * MAX_LISTED_CLUSTERS)) == MAX_LISTED_CLUSTERS
    refused_answer(parse_clusters, [cluster()] * (MAX_LISTED_CLUSTERS + 1))


def test_a_cluster_lists_at_most_the_shards_a_listing_may_hold() -> None:
    assert len(ListedCluster.parse(cluster(MAX_LISTED_SHARDS)).shards) == MAX_LISTED_SHARDS
    refused_answer(ListedCluster.parse, cluster(MAX_LISTED_SHARDS + 1))
    assert len(parse_shards([shard()] * MAX_LISTED_SHARDS)) == MAX_LISTED_SHARDS
    refused_answer(parse_shards, [shard()] * (MAX_LISTED_SHARDS + 1))


def test_a_change_keeps_its_kinds_fields_flat_on_the_wire() -> None:
    body = {"action": "create", "kind": "link", "name": "main/hq", "cluster": "main", "shard": "hq", "read": True}
    change = ConfigChange.parse(body)
    assert change.detail == {"cluster": "main", "shard": "hq", "read": True}
    assert list(change.to_json().items()) == list(body.items())
    refused_answer(ConfigChange.parse, body | {"kind": None})


def test_the_apply_answer_holds_at_most_its_limit_of_changes() -> None:
    change = {"action": "remove", "kind": "cluster", "name": "old"}
    answer = {"changes": [change], "dry_run": True}
    assert Applied.parse(answer).to_json() == answer
    assert len(Applied.parse({"changes": [change] * MAX_CHANGES, "dry_run": False}).changes) == MAX_CHANGES
    refused_answer(Applied.parse, {"changes": [change] * (MAX_CHANGES + 1), "dry_run": False})
    refused_answer(Applied.parse, {"changes": [], "dry_run": "no"})


def test_a_cluster_config_keeps_its_table_as_a_mapping() -> None:
    body = {"config": {"server": {"url": "http://x"}, "cluster": {"name": "main"}, "shards": []}, "toml": "[server]\n"}
    assert ClusterConfig.parse(body).to_json() == body
    refused_answer(ClusterConfig.parse, {"config": [], "toml": ""})
    refused_answer(ClusterConfig.parse, {"config": {}})
