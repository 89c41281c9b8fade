"""A server and its fileservers on 127.0.0.1, started and bootstrapped the way an administrator does it.

Production defaults throughout; a caller changes what it must through the
``COFFER_…`` environment of each program (the tests shorten heartbeats and
leases, the benchmarks lift rate limits).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from coffer.client import invitations
from coffer.client.api import ServerClient
from coffer.protocol import routes
from coffer.protocol.api.auth import Account
from coffer.protocol.api.invitations import Invite, Join

from .procs import Service, clean_env, coffer_command, free_port, http_ok

ONE_SHARD = {
    "shards": [{"name": "default"}],
    "clusters": [{"name": "local", "shards": [{"name": "default", "read": True, "write": True}]}],
}


@dataclass
class Fileserver:
    name: str
    port: int
    data_dir: Path
    proc: Service
    host: str = "127.0.0.1"
    """The address it listens on and is published at (an office's own address, in :mod:`.offices`)."""

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def chunk_files(self, file_id: str) -> list[Path]:
        """Return the chunk files of *file_id* in the data directory, whatever the layout below it.

        The fileserver may remove a directory while this walks (a purge of another file):
        ``os.walk`` passes over what vanished instead of failing, as ``Path.rglob`` does.
        """
        return [
            Path(top, name)
            for top, _dirs, names in os.walk(self.data_dir)
            if Path(top).name == file_id
            for name in names
        ]


@dataclass
class Network:
    """A server, its admin session, the exported cluster config, and the fileservers started so far."""

    root: Path
    database_url: str
    port: int = field(default_factory=free_port)
    host: str = "127.0.0.1"
    """The address the server listens on and is published at."""
    topology: dict[str, Any] = field(default_factory=lambda: ONE_SHARD)
    admin_password: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    admin_name: str = "admin"
    """The administrator this launcher creates and signs in as to apply the topology and watch the registry."""
    server_extra: dict[str, str] = field(default_factory=dict)
    """Environment added to the server's (``COFFER_…`` settings), over the defaults."""
    fileserver_extra: dict[str, str] = field(default_factory=dict)
    fileserver_label: str = "fs"
    """Fileserver *n* is ``{label}{n}``: its chunks in ``root/{label}{n}``, its log ``root/{label}{n}.log``."""
    installed_cli: bool = False
    """Start programs with the installed ``coffer`` script (as a user would) rather than ``python -m coffer``."""
    server: Service | None = None
    admin: ServerClient | None = None
    cluster_config: Path | None = None
    fileservers: list[Fileserver] = field(default_factory=list)

    @classmethod
    def launch(cls, root: Path, fileservers: int = 2, **fields: Any) -> Self:
        """Start a server and *fileservers*, bootstrapped; stop all on failure.

        *fields* are the network's own (the database is SQLite under *root* unless
        ``database_url`` is given).
        """
        fields.setdefault("database_url", f"sqlite:///{root / 'coffer.db'}")
        net = cls(root=root, **fields)
        try:
            net.start_server()
            net.bootstrap()
            net.add_fileservers(fileservers)
        except BaseException:
            net.stop()
            raise
        return net

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def cluster(self) -> str:
        return str(self.topology["clusters"][0]["name"])

    def command(self, *args: str) -> list[str]:
        return coffer_command(*args, installed=self.installed_cli)

    def server_env(self) -> dict[str, str]:
        defaults = {"COFFER_DATABASE_URL": self.database_url, "COFFER_BIND": f"{self.host}:{self.port}"}
        return clean_env(**(defaults | {"COFFER_PUBLIC_URL": self.url} | self.server_extra))

    def start_server(self, timeout: float = 60) -> None:
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.server = Service("server", self.command("server"), self.root / "server.log", self.server_env())
        self.server.start().wait_ready(lambda: http_ok(self.url + routes.HEALTH), timeout)

    def bootstrap(self) -> None:
        """Create the admin (unless there is one), apply the topology and export the cluster config."""
        self.create_admin(self.admin_name, self.admin_password)
        self.admin = ServerClient(self.url)
        self.admin.login(self.admin_name, self.admin_password)
        self.admin.apply(self.topology, prune=False, dry_run=False)
        self.cluster_config = self.root / f"cluster-{self.cluster}.toml"
        fd = os.open(self.cluster_config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self.admin.cluster_config(self.cluster).toml)

    def create_admin(self, name: str, password: str) -> None:
        """Invite administrator *name* on the server's host, as an operator does, and join as them with *password*.

        Joining runs here, in the person's own client (this process), which makes the key pair;
        an administrator that exists already is kept as it is.
        """
        done = subprocess.run(
            self.command("server", "create-admin", name, "--if-missing", "--json"),
            env=self.server_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        if done.returncode != 0:
            raise RuntimeError(f"coffer server create-admin failed: {done.stderr.strip()}")
        answer = json.loads(done.stdout)
        if not answer.get("exists"):
            self.join(answer["code"], password)

    def join(self, code: str, password: str) -> Account:
        """Accept an invitation as the invited user's client does: password keys and key pair made here."""
        return self.add_user(invitations.join_body(code, password))

    def add_fileserver(
        self,
        port: int | None = None,
        *,
        config: Path | None = None,
        data_dir: Path | None = None,
        env: dict[str, str] | None = None,
        live: bool = True,
    ) -> Fileserver:
        """Start one more fileserver, from the exported cluster config or from *config*, and wait until it is live.

        *env* is added to its environment alone; with *live* false, wait only until it answers (the server
        may refuse it, which is what a test of that wants to see).
        """
        fs = self._spawn_fileserver(port, config=config, data_dir=data_dir, env=env)
        self.wait_fileserver(fs, live=live)
        return fs

    def add_fileservers(self, count: int) -> list[Fileserver]:
        """Start *count* fileservers from the exported cluster config at once, then wait until each is live.

        Their start-ups (a Python interpreter and gunicorn's workers each) overlap instead of queueing.
        """
        started = [self._spawn_fileserver() for _ in range(count)]
        for fs in started:
            self.wait_fileserver(fs)
        return started

    def _spawn_fileserver(
        self,
        port: int | None = None,
        *,
        config: Path | None = None,
        data_dir: Path | None = None,
        env: dict[str, str] | None = None,
        host: str = "127.0.0.1",
        within: tuple[str, ...] = (),
    ) -> Fileserver:
        """Start one more fileserver process without waiting for it.

        It listens on *host*; *within* goes before its command (``ip netns exec NAME``, to run it in a
        network namespace of its own).
        """
        name = f"{self.fileserver_label}{len(self.fileservers) + 1}"
        port = port or free_port()
        data_dir = data_dir or self.root / name
        defaults = {
            "COFFER_FS_BIND": f"{host}:{port}",
            "COFFER_FS_PUBLIC_URL": f"http://{host}:{port}",
            "COFFER_FS_DATA_DIR": str(data_dir),
            # The web page the server serves sends and fetches chunks here from its own origin (CORS).
            "COFFER_FS_WEB_ORIGINS": self.url,
        }
        config = config or self.cluster_config
        assert config is not None, "bootstrap() exports the cluster config"
        args = [*within, *self.command("fileserver", "--config", str(config))]
        environment = clean_env(**(defaults | self.fileserver_extra | (env or {})))
        proc = Service(name, args, self.root / f"{name}.log", environment)
        fs = Fileserver(name, port, data_dir, proc, host)
        self.fileservers.append(fs)
        fs.proc.start()
        return fs

    def start_fileserver(self, fs: Fileserver, timeout: float = 60, *, live: bool = True) -> None:
        """Start (or restart) *fs*; wait until it answers and (with *live*) the server lists it as live."""
        fs.proc.start()
        self.wait_fileserver(fs, timeout, live=live)

    def wait_fileserver(self, fs: Fileserver, timeout: float = 60, *, live: bool = True) -> None:
        """Wait until *fs* answers and (with *live*) the server lists it as live."""
        # A restarted fileserver may still look live from its last beat: wait for it to answer too.
        fs.proc.wait_ready(lambda: http_ok(fs.url + routes.HEALTH), timeout)
        if live:
            fs.proc.wait_ready(lambda: self.live(fs), timeout)

    def listing(self) -> list[dict[str, Any]]:
        """Return the registry listing as the server sent it, for tests that read it as JSON."""
        assert self.admin is not None
        return [s.to_json() for s in self.admin.fileservers()]

    def live(self, fs: Fileserver) -> bool:
        return any(s["url"] == fs.url and s["live"] for s in self.listing())

    def fileserver_id(self, fs: Fileserver) -> str:
        """Return the id the fileserver persisted on its own disk."""
        return str(json.loads((fs.data_dir / "identity.json").read_text())["id"])

    def add_user(self, join: dict[str, Any]) -> Account:
        """Send a join request that :func:`coffer.client.invitations.join_body` made (perhaps in another process)."""
        with ServerClient(self.url) as client:
            return client.join(Join.parse(join))

    def invite(self, name: str, role: str = "user") -> str:
        """Invite *name* as the network's administrator; return the one-time code."""
        assert self.admin is not None
        return self.admin.invite(Invite(name, role)).code

    def create_user(self, name: str, password: str, role: str = "user") -> None:
        """Invite *name* and join as them, as ``coffer admin user invite`` and ``coffer join`` do (Argon2id here)."""
        self.join(self.invite(name, role), password)

    def cli_env(self, config_dir: Path, **extra: str) -> dict[str, str]:
        """Return the environment for ``coffer`` commands of the user whose session lives in *config_dir*."""
        return clean_env(COFFER_CONFIG_DIR=str(config_dir), COFFER_SERVER=self.url, **extra)

    def roots(self) -> dict[str, int]:
        """Return name → PID of the top process of each running service (for memory and CPU sampling)."""
        services = ([self.server] if self.server else []) + [fs.proc for fs in self.fileservers]
        return {s.name: s.pid for s in services if s.alive()}

    def stop(self) -> None:
        """Stop the fileservers, then the server."""
        for fs in self.fileservers:
            fs.proc.stop()
        if self.server is not None:
            self.server.stop()
        if self.admin is not None:
            self.admin.close()
            self.admin = None
