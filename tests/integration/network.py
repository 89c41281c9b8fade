"""The test flavour of the one dev network (:mod:`coffer.devnet`): fast heartbeats, two shards, an intruder's SQL.

Every process is started by the launcher and stopped by its own PID; nothing
else on the machine is touched. Short heartbeat intervals and leases keep the
liveness tests quick while exercising the same code paths as production.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from coffer.devnet import network as devnet
from coffer.devnet.network import Fileserver as Fileserver
from coffer.devnet.procs import clean_env as clean_env
from coffer.devnet.procs import coffer_command as coffer
from coffer.devnet.procs import free_port as free_port
from coffer.server.domain.topology import render_toml

HEARTBEAT = 0.5
LEASE = 3.0
ADMIN_PASSWORD = "integration-admin-pw"
TOPOLOGY = {
    "shards": [{"name": "default"}, {"name": "archive"}],
    "clusters": [
        {
            "name": "local",
            "shards": [{"name": "default", "read": True, "write": True}, {"name": "archive", "read": True}],
        }
    ],
}
FAST_SERVER = {
    "COFFER_LEASE_SECONDS": str(LEASE),
    "COFFER_HEARTBEAT_INTERVAL": str(HEARTBEAT),
    "COFFER_WORKERS": "2",
    "COFFER_THREADS": "8",
}
FAST_FILESERVER = {
    "COFFER_FS_HEARTBEAT_INTERVAL": str(HEARTBEAT),
    "COFFER_FS_WORKERS": "2",
    "COFFER_FS_THREADS": "8",
}

__all__ = ["ADMIN_PASSWORD", "LEASE", "Fileserver", "Network", "clean_env", "coffer", "free_port", "start_network"]


@dataclass
class Network(devnet.Network):
    """The launcher's network with the tests' defaults, and what only a test does to it."""

    topology: dict[str, Any] = field(default_factory=lambda: TOPOLOGY)
    admin_password: str = ADMIN_PASSWORD

    def __post_init__(self) -> None:
        self.server_extra = FAST_SERVER | self.server_extra
        self.fileserver_extra = FAST_FILESERVER | self.fileserver_extra

    def export_config(self, cluster: str, shard_paths: dict[str, str] | None = None) -> Path:
        """Write the config of *cluster* as exported, with a storage path set per shard if asked."""
        assert self.admin is not None
        paths = shard_paths or {}
        config = self.admin.cluster_config(cluster).config
        for shard in config["shards"]:
            if shard["name"] in paths:
                shard["path"] = paths[shard["name"]]
        path = self.root / f"cluster-{cluster}-{len(list(self.root.glob('cluster-*.toml')))}.toml"
        path.write_text(render_toml(config, {}))
        return path

    def sql(self, statement: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        """Run one statement straight on the server's database (``?`` placeholders), as an intruder would."""
        if self.database_url.startswith("sqlite:///"):
            with sqlite3.connect(self.database_url.removeprefix("sqlite:///")) as db:
                db.row_factory = sqlite3.Row
                return [dict(r) for r in db.execute(statement, params).fetchall()]
        with psycopg.connect(self.database_url, row_factory=dict_row) as pg:
            cursor = pg.execute(statement.replace("?", "%s"), params)
            return list(cursor.fetchall()) if cursor.description else []


def start_network(
    root: Path,
    fileservers: int = 2,
    *,
    server_extra: dict[str, str] | None = None,
    fileserver_extra: dict[str, str] | None = None,
) -> Network:
    """Start a server on SQLite under *root*, bootstrap it and add *fileservers*; stop it all on failure."""
    extra = {"server_extra": server_extra or {}, "fileserver_extra": fileserver_extra or {}}
    return Network.launch(root, fileservers, **extra)


def chunk_files(fs: Fileserver, file_id: str) -> list[Path]:
    """Return the chunk files of *file_id* in *fs*'s data directory (:meth:`Fileserver.chunk_files`)."""
    return fs.chunk_files(file_id)
