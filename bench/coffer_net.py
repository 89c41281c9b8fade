"""A Coffer network to measure: the server and two fileservers on local disk, on SQLite or PostgreSQL.

It is the one dev network (:mod:`coffer.devnet`), started the way an admin
starts one, with the installed ``coffer`` program as a user runs it. Production
defaults throughout (workers, threads, heartbeats, leases), except
that the server's rate limits and the fileservers' cap on concurrent transfers
are lifted: a load test from one address must measure the servers, not their
throttles. On PostgreSQL a fresh database is created for the run and dropped
at the end.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from coffer.devnet.network import Network
from coffer.devnet.procs import clean_env as clean_env
from coffer.devnet.procs import coffer_command as _coffer_command
from coffer.devnet.procs import free_port
from coffer.fileserver.settings import FileserverSettings
from coffer.server.settings import ServerSettings

from .procs import run_measured

POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
TOPOLOGY = {
    "shards": [{"name": "default"}],
    "clusters": [{"name": "bench", "shards": [{"name": "default", "read": True, "write": True}]}],
}
UNTHROTTLED = {
    "COFFER_RATE_LIMIT_PER_ADDRESS": "0",
    "COFFER_RATE_LIMIT_PER_USER": "0",
    "COFFER_RATE_LIMIT_FILESERVERS": "0",
    "COFFER_LOGIN_ADDRESS_FAILURES": "0",
}
UNCAPPED = {"COFFER_FS_MAX_TRANSFERS": "0"}


def postgres_admin_url() -> str:
    """The database to connect to for CREATE/DROP DATABASE (``COFFER_BENCH_POSTGRES`` overrides it)."""
    return os.environ.get("COFFER_BENCH_POSTGRES", POSTGRES)


def coffer_command(*args: str) -> list[str]:
    """Return the argv of the ``coffer`` command installed beside this Python (or its module)."""
    return _coffer_command(*args, installed=True)


def _known(settings: type[Any], prefix: str, env: dict[str, str]) -> dict[str, str]:
    """Keep only the variables naming a setting that exists (the limits are still being added)."""
    names = {prefix + f.name.upper() for f in dataclasses.fields(settings)}
    return {k: v for k, v in env.items() if k in names}


@dataclass
class CofferNet(Network):
    """The dev network on an *engine*, unthrottled, with a fresh PostgreSQL database when asked for one."""

    engine: str = "sqlite"
    drop_database: str | None = None
    metrics_urls: list[str] = dataclasses.field(default_factory=list)
    """Each program's Prometheus endpoint, the server's first, when started with *metrics*."""

    @classmethod
    def start(
        cls,
        root: Path,
        engine: str,
        fileservers: int = 2,
        *,
        throttled: bool = False,
        metrics: bool = False,
        web_dir: Path | None = None,
        fileserver_env: dict[str, str] | None = None,
    ) -> CofferNet:
        """Start a network on *engine* (``sqlite`` or ``postgresql``) under *root*; stop it all on failure.

        *throttled* keeps the server's production rate limits (for what a bulk client meets);
        *metrics* gives every program a metrics listener of its own (``metrics_bind``);
        *web_dir* is the built web page the server serves.
        *fileserver_env* adds to the fileservers' settings (``COFFER_FS_THREADS``, for one).
        """
        root.mkdir(parents=True, exist_ok=True)
        drop = None
        if engine == "sqlite":
            url = f"sqlite:///{root / 'coffer.db'}"
        elif engine == "postgresql":
            drop = f"coffer_bench_{secrets.token_hex(6)}"
            with psycopg.connect(postgres_admin_url(), autocommit=True) as conn:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(drop)))
            url = postgres_admin_url().rsplit("/", 1)[0] + "/" + drop
        else:
            raise ValueError(f"engine must be sqlite or postgresql, not {engine!r}")
        server_extra = {} if throttled else _known(ServerSettings, "COFFER_", UNTHROTTLED)
        if web_dir is not None:
            server_extra["COFFER_WEB_DIR"] = str(web_dir)
        binds = [f"127.0.0.1:{free_port()}" for _ in range(fileservers + 1)] if metrics else []
        if metrics:
            server_extra |= {"COFFER_METRICS_BIND": binds[0], "COFFER_METRICS_DIR": str(root / "metrics")}
        net = cls.launch(
            root,
            0 if metrics else fileservers,
            engine=engine,
            database_url=url,
            drop_database=drop,
            topology=TOPOLOGY,
            server_extra=server_extra,
            fileserver_extra=_known(FileserverSettings, "COFFER_FS_", UNCAPPED) | (fileserver_env or {}),
            installed_cli=True,
            metrics_urls=[f"http://{bind}/metrics" for bind in binds],
        )
        try:
            for bind in binds[1:]:
                net.add_fileserver(env={"COFFER_FS_METRICS_BIND": bind})
        except BaseException:
            net.stop()
            raise
        return net

    def login_cli(self, name: str, password: str, config_dir: Path) -> dict[str, str]:
        """Log *name* in with ``coffer login`` (the session is kept in *config_dir*); return the CLI env."""
        env = self.cli_env(config_dir)
        run_measured(coffer_command("login", name, "--password-stdin"), env=env, stdin=password + "\n")
        return env

    def roots(self) -> dict[str, int]:
        return {f"{name}-{self.engine}": pid for name, pid in super().roots().items()}

    def stop(self) -> None:
        """Stop the fileservers, then the server; drop the run's PostgreSQL database."""
        super().stop()
        if self.drop_database is not None:
            with psycopg.connect(postgres_admin_url(), autocommit=True) as conn:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.drop_database))
                )
            self.drop_database = None
