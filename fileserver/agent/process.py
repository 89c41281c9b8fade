"""Run the agent (heartbeats, purges, scrub, reconciliation, write-back flush) once per fileserver, beside the workers.

The agent is a :class:`~coffer.serving.sidecar.Sidecar` (why a forked process and
not a thread in the master is said there), forked from the master's ``when_ready``
hook once the master listens, so the server is never told about an address that
does not answer yet. It also stops by itself if the master disappears, and serves
the fileserver's metrics when ``metrics_bind`` is set.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from coffer.serving.metrics import serve as serve_metrics
from coffer.serving.sidecar import Sidecar
from coffer.transfer.http import ChunkClient

from ..beacon import Beacon
from ..counters import SharedCounters
from ..doorbell import Doorbell
from ..identity import Identity
from ..maintenance.flusher import DRAIN_TIMEOUT, Flusher
from ..maintenance.purger import Purger
from ..maintenance.scrub import Scrubber
from ..metrics import AgentCollector, AgentState
from ..reports import CorruptReports
from ..settings import Settings
from ..shards import Shards
from .copier import Copier
from .heartbeats import Agent, make_client
from .reconcile import Reconciler, server_asker

log = logging.getLogger(__name__)


def agent_main(
    settings: Settings,
    identity: Identity,
    counters: SharedCounters,
    master_pid: int,
    stop: threading.Event,
    metrics_dir: Path | None = None,
    beacon: Beacon | None = None,
    doorbell: Doorbell | None = None,
) -> int:
    """Run the agent's threads until *stop* is set, or until the master is gone.

    Each job has its own thread, so none waits on another: a purge of a slow bucket
    or a long reconciliation never delays a heartbeat. The reconciler has its own
    HTTP client too, so its requests never hold the heartbeat's connections.
    """
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per heartbeat is noise; failures are ours to log
    served = Shards.open(settings)
    shards = list(served)
    flusher = Flusher(served.cached())
    corrupt = CorruptReports()
    fs = settings.fileserver
    scrubber = Scrubber(
        shards,
        corrupt,
        rate=fs.scrub_bytes_per_second,
        interval=fs.scrub_interval,
        data_dir=settings.data_dir,
        first_delay=fs.scrub_delay,
    )
    purger = Purger(shards)
    with make_client(settings) as client, make_client(settings) as reconcile_client, ChunkClient() as peers:
        copier = Copier(shards, identity, peers)
        agent = Agent(
            settings,
            identity,
            shards,
            client=client,
            totals=counters.totals,
            corrupt=corrupt,
            purger=purger,
            beacon=beacon,
            copier=copier,
            doorbell=doorbell,
        )
        reconciler = Reconciler(
            shards,
            server_asker(reconcile_client, settings, identity, time.time),
            interval=fs.reconcile_interval,
            first_delay=fs.reconcile_delay,
        )
        threads = [
            threading.Thread(target=_guarded(agent.run, stop), name="heartbeat", daemon=True),
            threading.Thread(target=_guarded(purger.run, stop), name="purge", daemon=True),
            threading.Thread(target=_guarded(copier.run, stop), name="copy", daemon=True),
            threading.Thread(target=_guarded(scrubber.run, stop), name="scrub", daemon=True),
            threading.Thread(target=_guarded(reconciler.run, stop), name="reconcile", daemon=True),
        ]
        if flusher:  # write-back queues to upload: here, so there is one uploader per fileserver
            threads.append(threading.Thread(target=_guarded(flusher.run, stop), name="flush", daemon=True))
        for thread in threads:
            thread.start()
        listener = None
        if metrics_dir is not None:
            state = AgentState(lambda: agent.registered, counters.active, lambda: len(purger))
            try:
                listener = serve_metrics(fs.metrics_bind, metrics_dir, [AgentCollector(shards, state)])
            except OSError as exc:  # taken since the start's check: heartbeats matter more than metrics
                log.error("cannot serve metrics", extra={"kv": {"bind": fs.metrics_bind, "error": exc}})
        log.info("agent started", extra={"kv": {"pid": os.getpid(), "fileserver": identity.fileserver_id}})
        while not stop.wait(1.0):
            if os.getppid() != master_pid:
                log.warning("the fileserver's master process is gone; the agent stops")
                stop.set()
        if listener is not None:
            listener.shutdown()
        for thread in threads:
            thread.join(timeout=DRAIN_TIMEOUT + 0.5 if thread.name == "flush" else 3.0)
    log.info("agent stopped")
    return 0


def _guarded(target: Callable[[threading.Event], None], stop: threading.Event) -> Callable[[], None]:
    """Run *target*; a bug in it is logged and stops the agent rather than leaving it half alive."""

    def run() -> None:
        try:
            target(stop)
        except Exception:
            log.exception(
                "agent thread failed; the agent stops", extra={"kv": {"thread": threading.current_thread().name}}
            )
            stop.set()

    return run


AgentProcess = Sidecar
"""The master's handle on the agent: a :class:`~coffer.serving.sidecar.Sidecar`."""
