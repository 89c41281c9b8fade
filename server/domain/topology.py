"""Shards, clusters and the links between them, as the database holds them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from coffer.protocol.api.admin import ConfigChange, ListedCluster, ListedShard, ShardLink
from coffer.protocol.ids import check_name, new_id

from ..errors import Conflict, NotFound
from ..store.db import Database, Tx
from . import backlog, copies
from .keys import ServerKeys
from .topology_plan import Change, Link, Topology, parse, plan


def read_topology(tx: Tx) -> Topology:
    current = Topology()
    for row in tx.all("SELECT name, description, copies FROM shards"):
        current.shards[row["name"]] = row["description"]
        current.copies[row["name"]] = int(row["copies"])
    for row in tx.all("SELECT name FROM clusters"):
        current.clusters[row["name"]] = {}
    for row in tx.all(
        "SELECT c.name AS cluster, s.name AS shard, l.can_read, l.can_write, l.bandwidth FROM cluster_shards l "
        "JOIN clusters c ON c.id = l.cluster_id JOIN shards s ON s.id = l.shard_id"
    ):
        link = Link(bool(row["can_read"]), bool(row["can_write"]), int(row["bandwidth"]))
        current.clusters[row["cluster"]][row["shard"]] = link
    return current


def _id_of(tx: Tx, table: str, name: str) -> str:
    row = tx.one(f"SELECT id FROM {table} WHERE name = ?", (name,))
    if row is None:
        raise NotFound(f"no {table[:-1]} named {name!r}", code=f"{table[:-1]}_not_found")
    return str(row["id"])


def _add_credential(tx: Tx, keys: ServerKeys, cluster_id: str, generation: int) -> None:
    public = keys.cluster_credential(cluster_id, generation).public_text
    tx.execute(
        "INSERT INTO cluster_credentials (cluster_id, generation, public_key, not_after) VALUES (?, ?, ?, NULL)",
        (cluster_id, generation, public),
    )


def _apply_one(tx: Tx, keys: ServerKeys, change: Change, now: float) -> None:
    d = change.detail
    match (change.action, change.kind):
        case ("create", "shard"):
            tx.execute(
                "INSERT INTO shards (id, name, description, copies, created_at) VALUES (?, ?, ?, ?, ?)",
                (new_id(), change.name, d["description"], d["copies"], now),
            )
        case ("update", "shard"):
            tx.execute(
                "UPDATE shards SET description = ?, copies = ? WHERE name = ?",
                (d["description"], d["copies"], change.name),
            )
        case ("remove", "shard"):
            shard_id = _id_of(tx, "shards", change.name)
            if tx.one("SELECT 1 AS x FROM files WHERE shard_id = ? LIMIT 1", (shard_id,)):
                raise Conflict(f"shard {change.name} still holds files; it cannot be removed", code="shard_in_use")
            tx.execute("DELETE FROM fileserver_shards WHERE shard_id = ?", (shard_id,))
            tx.execute("DELETE FROM chunk_locations WHERE shard_id = ?", (shard_id,))
            tx.execute("DELETE FROM shards WHERE id = ?", (shard_id,))
        case ("create", "cluster"):
            cluster_id = new_id()
            tx.execute(
                "INSERT INTO clusters (id, name, generation, created_at) VALUES (?, ?, 1, ?)",
                (cluster_id, change.name, now),
            )
            _add_credential(tx, keys, cluster_id, 1)
        case ("remove", "cluster"):
            tx.execute("DELETE FROM clusters WHERE name = ?", (change.name,))
        case ("create" | "update", "link"):
            cluster_id, shard_id = _id_of(tx, "clusters", d["cluster"]), _id_of(tx, "shards", d["shard"])
            tx.execute(
                "INSERT INTO cluster_shards (cluster_id, shard_id, can_read, can_write, bandwidth) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (cluster_id, shard_id) DO UPDATE SET can_read = excluded.can_read, "
                "can_write = excluded.can_write, bandwidth = excluded.bandwidth",
                (cluster_id, shard_id, d["read"], d["write"], d.get("bandwidth", 0)),
            )
        case ("remove", "link"):
            cluster_id, shard_id = _id_of(tx, "clusters", d["cluster"]), _id_of(tx, "shards", d["shard"])
            tx.execute("DELETE FROM cluster_shards WHERE cluster_id = ? AND shard_id = ?", (cluster_id, shard_id))
        case _:
            raise AssertionError(change)


def apply(
    db: Database, keys: ServerKeys, config: object, *, prune: bool, dry_run: bool, now: float
) -> list[ConfigChange]:
    """Bring shards and clusters to *config* in one transaction; return the changes made (or planned)."""
    with db.transaction() as tx:
        current = read_topology(tx)
        wanted = parse(config, set() if prune else set(current.shards))
        changes = plan(current, wanted, prune=prune)
        if not dry_run:
            for change in changes:
                _apply_one(tx, keys, change, now)
            if changes:
                backlog.stale(tx)  # links and copy counts decide what is unsettled: rebuild at the next beat
    return [ConfigChange(c.action, c.kind, c.name, c.detail) for c in changes]


def list_shards(db: Database, now: float, grace: float) -> list[ListedShard]:
    """List the shards with their links, copy count and the chunks below it (see :mod:`.copies`)."""
    with db.transaction(readonly=True) as tx:
        topology = read_topology(tx)
        ids = {r["name"]: r["id"] for r in tx.all("SELECT id, name FROM shards")}
        figures = copies.health(tx, now, grace, backlog.chunks_read(tx, now - grace))
    listed = []
    for name, description in sorted(topology.shards.items()):
        shard_health = figures.get(ids[name], copies.Health())
        served = tuple(
            ShardLink(cluster, grants[name].read, grants[name].write)
            for cluster, grants in sorted(topology.clusters.items())
            if name in grants
        )
        listed.append(
            ListedShard(
                name,
                description,
                served,
                topology.copies_of(name),
                shard_health.below_copies,
                shard_health.unrepairable,
            )
        )
    return listed


def list_clusters(db: Database) -> list[ListedCluster]:
    with db.transaction(readonly=True) as tx:
        rows = tx.all("SELECT id, name, generation FROM clusters ORDER BY name")
        topology = read_topology(tx)
    return [
        ListedCluster(
            row["id"],
            row["name"],
            row["generation"],
            tuple(ShardLink(s, link.read, link.write) for s, link in sorted(topology.clusters[row["name"]].items())),
        )
        for row in rows
    ]


def cluster_config(db: Database, keys: ServerKeys, name: str, server_url: str) -> dict[str, Any]:
    """Return the config a fileserver of cluster *name* boots from. SECURITY: holds the credential."""
    check_name(name, "cluster")
    with db.transaction(readonly=True) as tx:
        row = tx.one("SELECT id, generation FROM clusters WHERE name = ?", (name,))
        if row is None:
            raise NotFound(f"no cluster named {name!r}", code="cluster_not_found")
        links = read_topology(tx).clusters[name]
    credential = keys.cluster_credential(row["id"], row["generation"])
    return {
        "server": {"url": server_url, "public_key": keys.signing.public_text},
        "cluster": {
            "id": row["id"],
            "name": name,
            "generation": row["generation"],
            "credential": credential.to_text(),
        },
        "shards": [
            {"name": shard, "read": link.read, "write": link.write, "backend": "local"}
            for shard, link in sorted(links.items())
        ],
    }


def rotate(db: Database, keys: ServerKeys, name: str, grace_seconds: float, now: float) -> None:
    """Issue a new credential for cluster *name*; the old ones stop working after *grace_seconds*."""
    with db.transaction() as tx:
        cluster_id = _id_of(tx, "clusters", check_name(name, "cluster"))
        generation = tx.one("SELECT generation FROM clusters WHERE id = ?", (cluster_id,))["generation"]  # type: ignore[index]
        tx.execute(
            "UPDATE cluster_credentials SET not_after = ? "
            "WHERE cluster_id = ? AND (not_after IS NULL OR not_after > ?)",
            (now + grace_seconds, cluster_id, now + grace_seconds),
        )
        tx.execute("UPDATE clusters SET generation = ? WHERE id = ?", (generation + 1, cluster_id))
        _add_credential(tx, keys, cluster_id, generation + 1)


def render_toml(config: Mapping[str, Any], fileserver_defaults: Mapping[str, Any]) -> str:
    """Write a cluster config as the TOML file ``coffer fileserver --config`` reads."""

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        return json.dumps(str(v))

    server, cluster = config["server"], config["cluster"]
    lines = [
        f"# Coffer fileserver config for cluster {cluster['name']!r}, exported by the server.",
        "# SECURITY: [cluster].credential is this cluster's secret: keep this file private (chmod 600).",
        "",
        "[server]",
        *(f"{k} = {value(v)}" for k, v in server.items()),
        "",
        "[cluster]",
        *(f"{k} = {value(v)}" for k, v in cluster.items()),
    ]
    for shard in config["shards"]:
        lines += ["", "[[shards]]", *(f"{k} = {value(v)}" for k, v in shard.items())]
    lines += [
        "",
        "# Settings of this fileserver; COFFER_FS_<NAME> environment variables override them.",
        "[fileserver]",
        *(f"{k} = {value(v)}" for k, v in fileserver_defaults.items()),
    ]
    return "\n".join(lines) + "\n"
