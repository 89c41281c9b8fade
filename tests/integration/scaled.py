"""The production layout on one machine: server instances behind nginx on PostgreSQL and Redis, fileservers.

Clients and fileservers know only nginx's addresses: the server's ``public_url``
is nginx, so the exported cluster config sends registration and heartbeats
through it, and each fileserver's ``public_url`` is its own nginx site. Every
process is started here and stopped by its own PID.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from coffer.devnet.procs import Service, clean_env, free_port, http_ok
from coffer.protocol import routes

from . import nginx
from .network import Fileserver, Network


@dataclass
class Planned:
    """Ports chosen for one fileserver before nginx starts: its own and its nginx site's."""

    port: int = field(default_factory=free_port)
    site: int = field(default_factory=free_port)

    @property
    def public_url(self) -> str:
        return f"http://127.0.0.1:{self.site}"


@dataclass
class ScaledNetwork(Network):
    """A :class:`Network` whose ``url`` is nginx, in front of ``len(instance_ports)`` server instances."""

    instance_ports: list[int] = field(default_factory=lambda: [free_port(), free_port()])
    planned: list[Planned] = field(default_factory=lambda: [Planned(), Planned()])
    instances: list[Service] = field(default_factory=list)
    proxy: Service | None = None

    def instance_url(self, index: int) -> str:
        return f"http://127.0.0.1:{self.instance_ports[index]}"

    def instance_env(self, index: int) -> dict[str, str]:
        own = {
            "COFFER_DATABASE_URL": self.database_url,
            "COFFER_BIND": f"127.0.0.1:{self.instance_ports[index]}",
            "COFFER_PUBLIC_URL": self.url,
            "COFFER_METRICS_DIR": str(self.root / f"metrics-{index}"),
        }
        return clean_env(**(own | self.server_extra))

    def server_env(self) -> dict[str, str]:
        return self.instance_env(0)

    def start_server(self, timeout: float = 60) -> None:
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        sites = {f"127.0.0.1:{p.port}": nginx.Site(p.site, f"coffer_fs_{n}") for n, p in enumerate(self.planned)}
        servers = [f"127.0.0.1:{port}" for port in self.instance_ports]
        for index in range(len(self.instance_ports)):
            log = self.root / f"server-{index}.log"
            service = Service(f"server-{index}", self.command("server"), log, self.instance_env(index))
            self.instances.append(service)
            self.start_instance(index, timeout)
        self.server = self.instances[0]
        # After the instances: nginx marks an upstream that refused a connection down for 10 s.
        self.proxy = nginx.start(self.root / "nginx", servers, self.port, sites)

    def start_instance(self, index: int, timeout: float = 60) -> None:
        """Start (or start again, after a kill) server instance *index*; wait until it answers directly."""
        service = self.instances[index]
        service.restart() if service.popen is not None else service.start()
        service.wait_ready(lambda: http_ok(self.instance_url(index) + routes.HEALTH), timeout)

    def _spawn_fileserver(self, port: int | None = None, **options: Any) -> Fileserver:
        """Start the next planned fileserver, published through its nginx site (one by one or several at once)."""
        plan = self.planned[len(self.fileservers)]
        env = {"COFFER_FS_PUBLIC_URL": plan.public_url} | (options.pop("env", None) or {})
        return super()._spawn_fileserver(plan.port, env=env, **options)

    def public_url(self, fs: Fileserver) -> str:
        return self.planned[self.fileservers.index(fs)].public_url

    def live(self, fs: Fileserver) -> bool:
        return any(s["url"] == self.public_url(fs) and s["live"] for s in self.listing())

    def stop(self) -> None:
        super().stop()
        for service in self.instances:
            service.stop()
        if self.proxy is not None:
            self.proxy.stop()


def launch(root: Path, database_url: str, server_extra: dict[str, str]) -> ScaledNetwork:
    """Start nginx, two server instances and two fileservers, bootstrapped; stop all on failure."""
    return ScaledNetwork.launch(root, 2, database_url=database_url, server_extra=server_extra)
