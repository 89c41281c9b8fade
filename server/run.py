"""Run the server under gunicorn: migrate once in the master, build the app in each worker.

With ``metrics_bind`` set, the master also forks a metrics process once it listens
(a :class:`~coffer.serving.sidecar.Sidecar`): it sums the workers' metric files
and reads the network's figures from the database at each scrape.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from gunicorn.app.base import BaseApplication

from coffer.protocol import logs
from coffer.protocol.settings import PRIVATE_UMASK
from coffer.serving import metrics
from coffer.serving.edges import WORKER_CLASS
from coffer.serving.limits import EdgeLimits
from coffer.serving.sidecar import Sidecar

from .api.app import create_app
from .api.base import Context
from .domain import keys, sync_status
from .jobs.housekeeper import Housekeeper
from .jobs.nudger import Nudger
from .metrics import DatabaseCollector
from .settings import ServerSettings
from .store import migrations
from .store.db import Database

log = logging.getLogger(__name__)


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(
        self,
        factory: Callable[[], Any],
        options: dict[str, Any],
        edge_limits: EdgeLimits,
        sidecar: Sidecar | None = None,
        metrics_dir: Path | None = None,
    ):
        self._factory = factory
        self._options = options
        self.edge_limits = edge_limits  # read by coffer.serving.edges's worker
        self._sidecar = sidecar
        self._metrics_dir = metrics_dir
        super().__init__()

    def load_config(self) -> None:
        for name, value in self._options.items():
            self.cfg.set(name, value)
        self.cfg.set("when_ready", self._when_ready)
        self.cfg.set("child_exit", self._child_exit)
        self.cfg.set("on_exit", self._on_exit)

    def _when_ready(self, server: Any) -> None:
        if self._sidecar is not None:
            self._sidecar.start(inherited=server.LISTENERS)

    def _child_exit(self, server: Any, worker: Any) -> None:
        metrics.worker_exited(worker.pid)

    def _on_exit(self, server: Any) -> None:
        if self._sidecar is not None:
            self._sidecar.stop()
        metrics.finish(self._metrics_dir)

    def load(self) -> Any:
        return self._factory()


def gunicorn_options(bind: str, workers: int, threads: int, name: str) -> dict[str, Any]:
    """The gunicorn settings every Coffer program runs with."""
    return {
        "bind": bind,
        "workers": workers,
        "threads": threads,
        "worker_class": WORKER_CLASS,  # gthread, answering gunicorn's own refusals as JSON
        "keepalive": 2,
        "timeout": 60,
        "graceful_timeout": 5,
        "limit_request_field_size": 65536,
        "limit_request_line": 8190,
        "control_socket_disable": True,
        "umask": PRIVATE_UMASK,  # gunicorn's own files (worker heartbeat files, unix sockets); ours inherit serve()'s
        "proc_name": name,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "warning",
    }


def prepare(settings: ServerSettings) -> Database:
    """Create the schema and the server keys before any worker starts."""
    db = Database(settings.database_url, pool_size=settings.pool_size)
    migrations.migrate(db)
    keys.load_or_create(db)
    return db


def make_app(settings: ServerSettings) -> Any:
    """Build one worker's app, with its lifecycle scheduler (one sweep at a time runs: see jobs.housekeeper)."""
    db = Database(settings.database_url, pool_size=settings.pool_size, outbox=bool(settings.events_url))
    server_keys = keys.load_or_create(db)
    nudger = Nudger(db, server_keys.signing, settings, time.time) if settings.nudges else None
    ctx = Context(settings=settings, db=db, keys=server_keys, nudger=nudger)
    Housekeeper(db, settings, ctx.clock).start()
    if settings.events_url:
        from .jobs.events import Publisher  # nats-py is imported only where events are on

        Publisher(db, settings, ctx.clock).start()
    return create_app(ctx)


def serve(settings: ServerSettings) -> None:
    os.umask(PRIVATE_UMASK)  # SECURITY: before the database (it holds the ticket-signing seed) or a worker exists
    logs.configure(settings.log_level)
    prepare(settings).close()
    log.info("server starting", extra={"kv": {"bind": settings.bind, "database": settings.database_url.split(":")[0]}})
    options = gunicorn_options(settings.bind, settings.workers, settings.threads, "coffer-server")
    sidecar = directory = None
    if settings.metrics_bind:
        metrics.probe(settings.metrics_bind)
        directory = metrics.prepare(Path(settings.metrics_dir).absolute())
        sidecar = Sidecar(partial(metrics_main, settings, directory, os.getpid()), name="metrics")
    _Gunicorn(lambda: make_app(settings), options, settings.edge_limits(), sidecar, directory).run()


def metrics_main(settings: ServerSettings, directory: Path, master_pid: int, stop: threading.Event) -> int:
    """Serve the metrics until *stop* is set or the master is gone: the workers' sums and the database's figures."""
    db = Database(settings.database_url, pool_size=1)
    listener = metrics.serve(
        settings.metrics_bind,
        directory,
        [
            DatabaseCollector(
                db, settings.lease_seconds, sites=partial(sync_status.status, db, grace=settings.repair_grace)
            )
        ],
    )
    try:
        while not stop.wait(1.0):
            if os.getppid() != master_pid:
                break
    finally:
        listener.shutdown()
        db.close()
    return 0
