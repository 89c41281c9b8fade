"""Run the agent (heartbeats, purges, scrub, reconciliation, write-back flush) once per fileserver, beside the workers.

Why a process forked by the gunicorn master, and not a thread in the master:
the master forks workers again whenever one dies, and forking a process that
has other threads running copies whatever locks those threads hold at that
instant (a logging stream, an HTTP connection pool) into the new worker, locked
forever. The agent is therefore forked from the master's ``when_ready`` hook,
while the master is still single-threaded and already listening (so the server is
never told about an address that does not answer yet); its threads live in that
child, which never forks. The child closes the listening sockets it inherited,
stops on SIGTERM/SIGINT, and also stops by itself if the master disappears.

The master keeps the read end of a pipe whose write end only the child holds: the
pipe reads as closed exactly when the child is gone, which tells the master
whether the pid is still the agent's without racing gunicorn's own reaping.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from coffer.transfer.http import ChunkClient

from ..counters import SharedCounters
from ..identity import Identity
from ..maintenance.flusher import DRAIN_TIMEOUT, Flusher
from ..maintenance.purger import Purger
from ..maintenance.scrub import Scrubber
from ..reports import CorruptReports
from ..settings import Settings
from ..shards import Shards
from .copier import Copier
from .heartbeats import Agent, make_client
from .reconcile import Reconciler, server_asker

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)
MASTER_SIGNALS = (signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2, signal.SIGTTIN, signal.SIGTTOU, signal.SIGWINCH)


def agent_main(
    settings: Settings, identity: Identity, counters: SharedCounters, master_pid: int, stop: threading.Event
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
            copier=copier,
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
        log.info("agent started", extra={"kv": {"pid": os.getpid(), "fileserver": identity.fileserver_id}})
        while not stop.wait(1.0):
            if os.getppid() != master_pid:
                log.warning("the fileserver's master process is gone; the agent stops")
                stop.set()
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


class AgentProcess:
    """The master's handle on the agent child: start it once, stop it at exit.

    *main* runs in the child with an event that SIGTERM, SIGINT or SIGQUIT sets. The
    stop signals are blocked across the fork and unblocked only once the child's
    handlers are in place, so a stop that arrives at once is kept, not lost to the
    gunicorn handlers the child inherited.
    """

    def __init__(self, main: Callable[[threading.Event], int]):
        self._main = main
        self.pid: int | None = None
        self._sentinel: int | None = None

    def start(self, inherited: Iterable[Any] = ()) -> int:
        """Fork the agent; *inherited* are the master's listening sockets, which the child closes."""
        read_end, write_end = os.pipe()
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        pid = os.fork()
        if pid == 0:  # the agent
            os.close(read_end)
            code = 1
            try:
                for sock in inherited:
                    sock.close()
                code = self._main(_install_signal_handlers(mask))
            except BaseException:
                log.exception("the agent failed")
            finally:
                os._exit(code)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        os.close(write_end)
        self.pid, self._sentinel = pid, read_end
        return pid

    def alive(self) -> bool:
        if self._sentinel is None:
            return False
        readable, _, _ = select.select([self._sentinel], [], [], 0)
        return not readable

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the agent to stop (SIGTERM), and kill it if it has not within *timeout* seconds."""
        if self.pid is None or self._sentinel is None:
            return
        if self.alive():
            os.kill(self.pid, signal.SIGTERM)
            readable, _, _ = select.select([self._sentinel], [], [], timeout)
            if not readable:
                log.warning("the agent did not stop in time; killing it", extra={"kv": {"pid": self.pid}})
                os.kill(self.pid, signal.SIGKILL)
                select.select([self._sentinel], [], [], timeout)
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass  # gunicorn's reaper got there first
        os.close(self._sentinel)
        self.pid = self._sentinel = None


def _install_signal_handlers(mask: Iterable[int | signal.Signals]) -> threading.Event:
    """In the child: stop signals set the returned event; the master's own signals are ignored."""
    stop = threading.Event()
    for sig in STOP_SIGNALS:
        signal.signal(sig, lambda signum, frame: stop.set())
    for sig in MASTER_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)  # meant for the gunicorn master, which shares our process group
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    return stop
