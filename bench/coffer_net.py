"""A Coffer network to measure: the server and two fileservers on local disk, on SQLite or PostgreSQL.

It is started the way an admin starts one: ``coffer server`` under gunicorn,
``coffer server create-admin``, a topology applied through the admin API, the
cluster config exported, and ``coffer fileserver --config`` for each fileserver.
Production defaults throughout (workers, threads, heartbeats, leases), except
that the server's rate limits and the fileservers' cap on concurrent transfers
are lifted: a load test from one address must measure the servers, not their
throttles. On PostgreSQL a fresh database is created for the run and dropped
at the end.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from coffer.client.api import ServerClient, new_user_body
from coffer.fileserver.settings import FileserverSettings
from coffer.protocol import routes
from coffer.protocol.api.admin import NewUser
from coffer.server.settings import ServerSettings

from .procs import Service, free_port, http_ok, run_measured, wait_until

POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
ADMIN = "admin"
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
    script = Path(sys.executable).parent / "coffer"
    return [str(script), *args] if script.exists() else [sys.executable, "-m", "coffer.client.cli.main", *args]


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COFFER_")}
    return env | extra


def _known(settings: type[Any], prefix: str, env: dict[str, str]) -> dict[str, str]:
    """Keep only the variables naming a setting that exists (the limits are still being added)."""
    names = {prefix + f.name.upper() for f in dataclasses.fields(settings)}
    return {k: v for k, v in env.items() if k in names}


@dataclass
class CofferNet:
    """A running server and its fileservers, and the admin session that set them up."""

    root: Path
    engine: str
    database_url: str
    admin_password: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    port: int = field(default_factory=free_port)
    server: Service | None = None
    fileservers: list[Service] = field(default_factory=list)
    fileserver_urls: list[str] = field(default_factory=list)
    admin: ServerClient | None = None
    _drop_database: str | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    def start(cls, root: Path, engine: str, fileservers: int = 2) -> CofferNet:
        """Start a network on *engine* (``sqlite`` or ``postgresql``) under *root*; stop it all on failure."""
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
        net = cls(root=root, engine=engine, database_url=url, _drop_database=drop)
        try:
            net._start_server()
            net._bootstrap()
            for _ in range(fileservers):
                net._add_fileserver()
        except BaseException:
            net.stop()
            raise
        return net

    def _server_env(self) -> dict[str, str]:
        return clean_env(
            COFFER_DATABASE_URL=self.database_url,
            COFFER_BIND=f"127.0.0.1:{self.port}",
            COFFER_PUBLIC_URL=self.url,
            **_known(ServerSettings, "COFFER_", UNTHROTTLED),
        )

    def _start_server(self) -> None:
        self.server = Service(f"server-{self.engine}", coffer_command("server"), self.root / "server.log")
        self.server.env = self._server_env()
        self.server.start().wait_ready(lambda: http_ok(self.url + routes.HEALTH), 60)

    def _bootstrap(self) -> None:
        run_measured(
            coffer_command("server", "create-admin", ADMIN), env=self._server_env(), stdin=self.admin_password + "\n"
        )
        self.admin = ServerClient(self.url)
        self.admin.login(ADMIN, self.admin_password)
        self.admin.apply(TOPOLOGY, prune=False, dry_run=False)
        config = self.root / "cluster-bench.toml"
        fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self.admin.cluster_config("bench")["toml"])

    def _add_fileserver(self) -> None:
        n = len(self.fileservers) + 1
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = clean_env(
            COFFER_FS_BIND=f"127.0.0.1:{port}",
            COFFER_FS_PUBLIC_URL=url,
            COFFER_FS_DATA_DIR=str(self.root / f"fs{n}"),
            **_known(FileserverSettings, "COFFER_FS_", UNCAPPED),
        )
        args = coffer_command("fileserver", "--config", str(self.root / "cluster-bench.toml"))
        service = Service(f"fileserver{n}-{self.engine}", args, self.root / f"fs{n}.log", env)
        self.fileservers.append(service)
        self.fileserver_urls.append(url)
        service.start().wait_ready(lambda: http_ok(url + routes.HEALTH), 60)
        wait_until(lambda: self._live(url), 30, f"{service.name} to register")

    def _live(self, url: str) -> bool:
        assert self.admin is not None
        return any(s["url"] == url and s["live"] for s in self.admin.fileservers())

    def create_user(self, name: str, password: str) -> None:
        """Create an account as ``coffer admin user create`` does (the Argon2id step runs here)."""
        self.add_user(new_user_body(name, password, "user"))

    def add_user(self, body: dict[str, str]) -> None:
        """Create an account from a body :func:`client.api.new_user_body` made (perhaps in another process)."""
        assert self.admin is not None
        self.admin.create_user(NewUser.parse(body))

    def cli_env(self, config_dir: Path) -> dict[str, str]:
        """Return the environment for ``coffer`` commands of the user whose session lives in *config_dir*."""
        return clean_env(COFFER_CONFIG_DIR=str(config_dir), COFFER_SERVER=self.url)

    def login_cli(self, name: str, password: str, config_dir: Path) -> dict[str, str]:
        """Log *name* in with ``coffer login`` (the session is kept in *config_dir*); return the CLI env."""
        env = self.cli_env(config_dir)
        run_measured(coffer_command("login", name, "--password-stdin"), env=env, stdin=password + "\n")
        return env

    def roots(self) -> dict[str, int]:
        """Return role → PID of the top process of each of our services (for memory sampling)."""
        services = ([self.server] if self.server else []) + self.fileservers
        return {s.name: s.pid for s in services if s.alive()}

    def stop(self) -> None:
        """Stop the fileservers, then the server; drop the run's PostgreSQL database."""
        for service in self.fileservers:
            service.stop()
        if self.server is not None:
            self.server.stop()
        if self.admin is not None:
            self.admin.close()
        if self._drop_database is not None:
            with psycopg.connect(postgres_admin_url(), autocommit=True) as conn:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self._drop_database))
                )
            self._drop_database = None
