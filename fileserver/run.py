"""Start a fileserver: check the config, then run gunicorn (gthread workers) and the agent beside it.

Process tree of a running fileserver::

    gunicorn master          binds, forks and replaces workers, forwards signals
    ├── agent                registration, heartbeats, scrub (forked once, in when_ready)
    ├── worker 1 (gthread)   create_app() after fork; N threads serve chunks (coffer.serving.edges's worker)
    └── worker 2 …

Before gunicorn starts, the master creates the shared transfer counters (so every
child inherits the same memory), loads or creates the identity, clears temp
files left by a previous run (no worker is writing yet, so every one is stale)
and, with ``metrics_bind`` set, empties ``data_dir/metrics`` for the workers'
metric files, which the agent sums and serves.
SIGTERM or SIGINT stops the workers gracefully (5 s), then the agent, then exits.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from pathlib import Path
from typing import Any

from gunicorn import glogging
from gunicorn.app.base import BaseApplication

from coffer.protocol.errors import CofferError
from coffer.protocol.logs import KeyValueFormatter, RequestIdFilter, configure
from coffer.protocol.settings import PRIVATE_UMASK, SettingsError
from coffer.serving import metrics
from coffer.serving.edges import WORKER_CLASS

from .agent.process import AgentProcess, agent_main
from .beacon import Beacon
from .counters import SharedCounters, SlotCounters, private_counters
from .data.app import create_app
from .doorbell import Doorbell
from .identity import Identity, load_or_create
from .settings import Settings, load_settings
from .shards import Shards

log = logging.getLogger(__name__)

EXIT_CONFIG = 2
METRICS_DIR = "metrics"
"""Under ``data_dir``: the workers' metric files of this run, emptied at start (see coffer.serving.metrics)."""


class _KeyValueLogger(glogging.Logger):  # type: ignore[misc]
    """gunicorn's own log lines, in the same key=value format as ours."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for logger in (self.error_log, self.access_log):
            for handler in logger.handlers:
                handler.setFormatter(KeyValueFormatter())
                handler.addFilter(RequestIdFilter())


def gunicorn_options(settings: Settings) -> dict[str, Any]:
    """Return the gunicorn settings a fileserver runs with."""
    fs = settings.fileserver
    return {
        "bind": [fs.bind],
        "workers": fs.workers,
        "worker_class": WORKER_CLASS,  # gthread, answering gunicorn's own refusals as JSON
        "threads": fs.threads,
        "keepalive": 2,
        "timeout": 30,
        "graceful_timeout": 5,
        # Ours answers 431 at 8 KiB with a JSON reason; gunicorn's limit only stops the absurd.
        "limit_request_field_size": 65536,
        # gunicorn 27 otherwise opens ~/.gunicorn/gunicorn.ctl, one path shared by every instance.
        "control_socket_disable": True,
        "umask": PRIVATE_UMASK,  # gunicorn's own files (worker heartbeat files, unix sockets); ours inherit serve()'s
        "accesslog": None,
        "errorlog": "-",
        "loglevel": fs.log_level,
        "logger_class": _KeyValueLogger,
        "proc_name": "coffer-fileserver",
        "preload_app": False,
    }


class FileserverApplication(BaseApplication):  # type: ignore[misc]
    """gunicorn, configured from :class:`Settings` instead of a command line, with our hooks."""

    def __init__(self, settings: Settings, identity: Identity, counters: SharedCounters):
        self._settings = settings
        self._identity = identity
        self._counters = counters
        self._worker_counters: SlotCounters | None = None
        self._master_pid = os.getpid()
        wanted = bool(settings.fileserver.metrics_bind)
        self._metrics_dir = metrics.prepare(settings.data_dir / METRICS_DIR) if wanted else None
        self._beacon = Beacon()  # before any fork: the agent marks it, the workers read it
        self._doorbell = Doorbell()  # likewise: the workers ring it on a nudge, the agent answers with a beat
        self.agent = AgentProcess(self._agent_main)
        self.edge_limits = settings.fileserver.edge_limits()  # read by coffer.serving.edges's worker
        super().__init__()

    def load_config(self) -> None:
        for name, value in gunicorn_options(self._settings).items():
            self.cfg.set(name, value)
        self.cfg.set("when_ready", self._when_ready)
        self.cfg.set("on_exit", self._on_exit)
        self.cfg.set("pre_fork", self._pre_fork)
        self.cfg.set("post_fork", self._post_fork)
        self.cfg.set("child_exit", self._child_exit)

    def load(self) -> Any:
        """Build the app in a worker, after fork, with that worker's counter slot."""
        return create_app(
            self._settings,
            identity=self._identity,
            counters=self._worker_counters or private_counters(self._settings.fileserver.transfer_cap),
            beacon=self._beacon,
            doorbell=self._doorbell,
        )

    # -- hooks; all but post_fork run in the master --------------------------------------------

    def _agent_main(self, stop: threading.Event) -> int:
        return agent_main(
            self._settings,
            self._identity,
            self._counters,
            self._master_pid,
            stop,
            self._metrics_dir,
            self._beacon,
            self._doorbell,
        )

    def _when_ready(self, server: Any) -> None:
        self._master_pid = os.getpid()
        pid = self.agent.start(inherited=server.LISTENERS)
        log.info(
            "fileserver listening",
            extra={
                "kv": {"url": self._settings.public_url, "fileserver": self._identity.fileserver_id, "agent_pid": pid}
            },
        )

    def _on_exit(self, server: Any) -> None:
        self.agent.stop()
        metrics.finish(self._metrics_dir)

    def _pre_fork(self, server: Any, worker: Any) -> None:
        worker.coffer_slot = self._counters.assign(worker)

    def _post_fork(self, server: Any, worker: Any) -> None:
        slot = getattr(worker, "coffer_slot", None)
        if slot is None:
            log.warning("no free counter slot: this worker's transfers are not counted in heartbeats")
            return
        self._worker_counters = self._counters.slot(slot)
        self._worker_counters.claim(os.getpid())

    def _child_exit(self, server: Any, worker: Any) -> None:
        self._counters.release(getattr(worker, "coffer_slot", None))
        metrics.worker_exited(worker.pid)


def serve(settings: Settings) -> int:
    """Run the fileserver in this process until SIGTERM or SIGINT; return its exit status.

    This blocks: integration tests run it in a subprocess (``python -m coffer.fileserver``).
    """
    os.umask(PRIVATE_UMASK)  # SECURITY: before the identity, the chunks and the workers exist
    configure(settings.fileserver.log_level)
    identity = load_or_create(settings.data_dir)
    for shard in Shards.open(settings):
        shard.backend.cleanup(older_than=0)
    if settings.fileserver.metrics_bind:
        metrics.probe(settings.fileserver.metrics_bind)
    application = FileserverApplication(settings, identity, SharedCounters(max_active=settings.fileserver.transfer_cap))
    try:
        application.run()
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0


def run(config_path: Path, *, check_only: bool = False) -> int:
    """Load and check *config_path*, then serve (or, with *check_only*, report and return)."""
    try:
        settings = load_settings(config_path)
    except SettingsError as exc:
        print(f"coffer fileserver: bad configuration: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if check_only:
        shards = ", ".join(f"{s.name} ({_flags(s.read, s.write)}, {s.backend})" for s in settings.shards)
        print(
            f"{config_path}: OK: cluster {settings.cluster.name!r}, shards {shards}; "
            f"serves {settings.public_url} from {settings.fileserver.bind}, data in {settings.data_dir}"
        )
        return 0
    try:
        return serve(settings)
    except (CofferError, OSError) as exc:
        message = exc.message if isinstance(exc, CofferError) else str(exc)
        print(f"coffer fileserver: cannot start: {message}", file=sys.stderr)
        return 1


def _flags(read: bool, write: bool) -> str:
    return ("r" if read else "") + ("w" if write else "")
