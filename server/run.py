"""Run the server under gunicorn: migrate once in the master, build the app in each worker."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

from gunicorn.app.base import BaseApplication

from coffer.protocol import logs
from coffer.protocol.settings import PRIVATE_UMASK
from coffer.serving.edges import WORKER_CLASS
from coffer.serving.limits import EdgeLimits

from .api.app import create_app
from .api.base import Context
from .domain import keys
from .jobs.housekeeper import Housekeeper
from .settings import ServerSettings
from .store import migrations
from .store.db import Database

log = logging.getLogger(__name__)


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, factory: Callable[[], Any], options: dict[str, Any], edge_limits: EdgeLimits):
        self._factory = factory
        self._options = options
        self.edge_limits = edge_limits  # read by coffer.serving.edges's worker
        super().__init__()

    def load_config(self) -> None:
        for name, value in self._options.items():
            self.cfg.set(name, value)

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
    db = Database(settings.database_url, pool_size=settings.pool_size)
    ctx = Context(settings=settings, db=db, keys=keys.load_or_create(db))
    Housekeeper(db, settings, ctx.clock).start()
    return create_app(ctx)


def serve(settings: ServerSettings) -> None:
    os.umask(PRIVATE_UMASK)  # SECURITY: before the database (it holds the ticket-signing seed) or a worker exists
    logs.configure(settings.log_level)
    prepare(settings).close()
    log.info("server starting", extra={"kv": {"bind": settings.bind, "database": settings.database_url.split(":")[0]}})
    options = gunicorn_options(settings.bind, settings.workers, settings.threads, "coffer-server")
    _Gunicorn(lambda: make_app(settings), options, settings.edge_limits()).run()
