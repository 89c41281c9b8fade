"""Run a helper process beside gunicorn's workers, forked once by the master, stopped at its exit.

Why a process forked by the gunicorn master, and not a thread in the master:
the master forks workers again whenever one dies, and forking a process that
has other threads running copies whatever locks those threads hold at that
instant (a logging stream, an HTTP connection pool) into the new worker, locked
forever. A sidecar is therefore forked from the master's ``when_ready`` hook,
while the master is still single-threaded and already listening; its threads live
in that child, which never forks. The child closes the listening sockets it
inherited and stops on SIGTERM/SIGINT. The fileserver's agent is one; the server's
metrics listener is another.

The master keeps the read end of a pipe whose write end only the child holds: the
pipe reads as closed exactly when the child is gone, which tells the master
whether the pid is still the child's without racing gunicorn's own reaping.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import threading
from collections.abc import Callable, Iterable
from typing import Any

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)
MASTER_SIGNALS = (signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2, signal.SIGTTIN, signal.SIGTTOU, signal.SIGWINCH)


class Sidecar:
    """The master's handle on a child process: start it once, stop it at exit.

    *main* runs in the child with an event that SIGTERM, SIGINT or SIGQUIT sets. The
    stop signals are blocked across the fork and unblocked only once the child's
    handlers are in place, so a stop that arrives at once is kept, not lost to the
    gunicorn handlers the child inherited.
    """

    def __init__(self, main: Callable[[threading.Event], int], name: str = "agent"):
        self._main = main
        self.name = name
        self.pid: int | None = None
        self._sentinel: int | None = None

    def start(self, inherited: Iterable[Any] = ()) -> int:
        """Fork the child; *inherited* are the master's listening sockets, which the child closes."""
        read_end, write_end = os.pipe()
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        pid = os.fork()
        if pid == 0:  # the child
            os.close(read_end)
            code = 1
            try:
                for sock in inherited:
                    sock.close()
                code = self._main(_install_signal_handlers(mask))
            except BaseException:
                log.exception("a sidecar process failed", extra={"kv": {"process": self.name}})
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
        """Ask the child to stop (SIGTERM), and kill it if it has not within *timeout* seconds."""
        if self.pid is None or self._sentinel is None:
            return
        if self.alive():
            os.kill(self.pid, signal.SIGTERM)
            readable, _, _ = select.select([self._sentinel], [], [], timeout)
            if not readable:
                log.warning(
                    "a sidecar process did not stop in time; killing it",
                    extra={"kv": {"process": self.name, "pid": self.pid}},
                )
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
