"""The agent: a long-lived process that has imported the client once and runs each transfer in a fork of itself.

A plain ``coffer upload`` of 25 MB spends about twice as long starting the
interpreter and importing the client as moving the file. The agent pays that
once: it imports what a transfer uses, then waits on a Unix socket in the
user's config directory. For each command the door (:mod:`.door`) hands it, it
forks; the fork becomes the caller's process (:mod:`.child`) and runs the same
code the command would have run. This process only forks, relays signals,
reaps and answers with the exit code, in one thread, so forking is safe.

SECURITY: the agent never reads the session, a key or a file: each fork reads
the stored session as a plain command does, and exits. The socket is mode
0600, in a directory no other user may write, and a caller running as another
user is refused by its credentials, whatever the socket's mode.
"""

from __future__ import annotations

import gc
import logging
import os
import selectors
import signal
import socket
import stat
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from coffer.protocol import __version__

from ..errors import UsageError
from . import child
from .wire import Frames, WireError, command_word, frame, number_frame, parse_number, parse_run

log = logging.getLogger("coffer.agent")

RELAYABLE = frozenset({signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGTERM, signal.SIGSTOP, signal.SIGCONT})
"""The signals a caller may have sent on to its command: those that stop, pause or continue it."""
STOPPING = frozenset({signal.SIGTERM, signal.SIGINT, signal.SIGHUP})
HELD_OVER_FORK = frozenset({signal.SIGCHLD, signal.SIGQUIT, *STOPPING})
CREDENTIALS = struct.Struct("3i")
BACKLOG = 64
READ_SIZE = 65536


@dataclass
class Job:
    """A command running in a fork, and the connection of the ``coffer`` process waiting for it (None once gone)."""

    pid: int
    command: str
    conn: socket.socket | None
    started: float = field(default_factory=time.monotonic)


@dataclass
class Caller:
    """A connection from a ``coffer`` command: its request as it arrives, then the job it started."""

    frames: Frames = field(default_factory=Frames)
    streams: list[int] = field(default_factory=list)
    job: Job | None = None


class Agent:
    """Serve commands on *path* until :meth:`stop` (``coffer agent stop``, SIGTERM or SIGINT), then drain."""

    def __init__(self, path: str, main: Callable[[list[str]], int]) -> None:
        self.path = path
        self._main = main
        self._selector = selectors.DefaultSelector()
        self._listener: socket.socket | None = None
        self._callers: dict[socket.socket, Caller] = {}
        self._jobs: dict[int, Job] = {}
        self._wake_r, self._wake_w = os.pipe()
        self._served = 0
        self._since = time.time()
        self._identity: os.stat_result | None = None

    def serve(self) -> None:
        """Listen, then serve until stopped and every running command has ended."""
        self._listener = listen(self.path)
        self._identity = os.stat(self.path)
        try:
            self._selector.register(self._listener, selectors.EVENT_READ, self._accept)
            os.set_blocking(self._wake_w, False)
            signal.set_wakeup_fd(self._wake_w)
            for number in (signal.SIGCHLD, *STOPPING):
                signal.signal(number, _noted)
            self._selector.register(self._wake_r, selectors.EVENT_READ, self._woken)
            gc.freeze()  # the forks then share these pages instead of copying them as the collector touches them
            log.info("agent ready", extra={"kv": {"pid": os.getpid(), "version": __version__}})
            while self._listener is not None or self._running():
                for key, _ in self._selector.select():
                    key.data(key.fileobj)
        finally:
            self._close_listener()
            signal.set_wakeup_fd(-1)
            log.info("agent stopped", extra={"kv": {"served": self._served}})

    def stop(self) -> None:
        if self._listener is not None:
            log.info("agent stopping", extra={"kv": {"running": self._running()}})
            self._close_listener()

    def _running(self) -> int:
        return len(self._jobs)

    def _close_listener(self) -> None:
        """Stop listening, and remove the socket unless another agent's has taken its place since."""
        if self._listener is None:
            return
        self._selector.unregister(self._listener)
        self._listener.close()
        self._listener = None
        try:
            now, ours = os.stat(self.path), self._identity
            if ours is not None and (now.st_dev, now.st_ino) == (ours.st_dev, ours.st_ino):
                os.unlink(self.path)
        except FileNotFoundError:
            pass  # removed already: nothing of ours is left there

    def _accept(self, listener: socket.socket) -> None:
        try:
            conn, _ = listener.accept()
        except BlockingIOError:
            return
        pid, uid, _gid = CREDENTIALS.unpack(conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, CREDENTIALS.size))
        if uid != os.geteuid():  # SECURITY: only the agent's own user may run commands as that user
            log.warning("agent refused", extra={"kv": {"reason": "another user", "peer_pid": pid}})
            with conn:
                _tell(conn, frame(b"refused", b"this agent serves another user"))
            return
        conn.setblocking(False)
        self._callers[conn] = Caller()
        self._selector.register(conn, selectors.EVENT_READ, self._read)

    def _read(self, conn: socket.socket) -> None:
        caller = self._callers[conn]
        try:
            data, fds, flags, _ = socket.recv_fds(conn, READ_SIZE, 3)
        except BlockingIOError:
            return
        except OSError:
            data, fds, flags = b"", [], 0
        if caller.job or caller.streams:
            _close_all(fds)  # SECURITY: descriptors count only with the request's first bytes
        else:
            caller.streams = fds
        if not data:
            self._gone(conn, caller)
            return
        try:
            if flags & socket.MSG_CTRUNC:
                raise WireError("more descriptors than the three standard streams")
            for fields in caller.frames.feed(data):
                self._answer(conn, caller, fields)
        except WireError as exc:
            self._refuse(conn, caller, str(exc))

    def _answer(self, conn: socket.socket, caller: Caller, fields: list[bytes]) -> None:
        kind = fields[0]
        if kind == b"signal" and caller.job:
            number = parse_number(fields, b"signal")
            if number in RELAYABLE:
                os.kill(caller.job.pid, number)  # not reaped yet, so the id is still this command's
        elif kind == b"run" and not caller.job:
            self._start(conn, caller, fields)
        elif kind == b"status":
            self._reply_and_close(conn, frame(b"status", *self.status()))
        elif kind == b"stop":
            self.stop()
            self._reply_and_close(conn, frame(b"stopping", b"running=%d" % self._running()))
        else:
            raise WireError(f"unexpected {kind[:16]!r}")

    def status(self) -> list[bytes]:
        """Return ``name=value`` fields: pid, version, seconds up, commands served and running."""
        facts = {
            "pid": os.getpid(),
            "version": __version__,
            "up_seconds": int(time.time() - self._since),
            "served": self._served,
            "running": self._running(),
        }
        return [f"{k}={v}".encode() for k, v in facts.items()]

    def _start(self, conn: socket.socket, caller: Caller, fields: list[bytes]) -> None:
        request = parse_run(fields)
        if self._listener is None:
            raise WireError("the agent is stopping")
        if request.version != __version__:
            raise WireError(f"the agent runs coffer {__version__} and the command is {request.version}: restart it")
        if len(caller.streams) != 3:
            raise WireError("a run request without its three standard streams")
        others = [self._wake_r, self._wake_w, self._selector.fileno()]
        others += [self._listener.fileno()] + [c.fileno() for c in self._callers if c is not conn]
        # Signals wait until the fork has its own handlers: the agent's would note them in the agent's wake-up
        # pipe, which the fork shares until then, and a SIGTERM meant for the fork would stop the agent.
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, HELD_OVER_FORK)
        pid = os.fork()
        if pid == 0:
            child.run(request, caller.streams, others, conn.fileno(), self._main, mask)  # never returns
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        _close_all(caller.streams)
        caller.job = self._jobs[pid] = Job(pid, command_word(request.argv), conn)
        self._served += 1
        _tell(conn, number_frame(b"started", pid))  # a caller gone already is read as gone next, and its job ended

    def _gone(self, conn: socket.socket, caller: Caller) -> None:
        """The caller went away: end its command as a killed ``coffer`` would have ended, and forget the caller."""
        self._orphan(caller)
        self._drop(conn)

    def _refuse(self, conn: socket.socket, caller: Caller, reason: str) -> None:
        log.warning("agent refused", extra={"kv": {"reason": reason}})
        self._orphan(caller)
        self._reply_and_close(conn, frame(b"refused", reason.encode()))

    def _orphan(self, caller: Caller) -> None:
        if caller.job is not None:
            os.kill(caller.job.pid, signal.SIGTERM)
            caller.job.conn, caller.job = None, None

    def _reply_and_close(self, conn: socket.socket, reply: bytes) -> None:
        _tell(conn, reply)
        self._drop(conn)

    def _drop(self, conn: socket.socket) -> None:
        _close_all(self._callers.pop(conn).streams)
        self._selector.unregister(conn)
        conn.close()

    def _woken(self, wake: int) -> None:
        for number in os.read(wake, 512):
            if number in STOPPING:
                self.stop()
        self._reap()

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            job = self._jobs.pop(pid, None)
            if job is not None:
                self._ended(job, status)

    def _ended(self, job: Job, status: int) -> None:
        number = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
        code = os.waitstatus_to_exitcode(status)
        outcome = {"exit": code} if number is None else {"signal": number}
        facts = {"pid": job.pid, "command": job.command, **outcome, "seconds": round(time.monotonic() - job.started, 3)}
        log.info("agent command", extra={"kv": facts})
        if job.conn is not None:
            self._callers[job.conn].job = None
            reply = number_frame(b"exit", code) if number is None else number_frame(b"killed", number)
            self._reply_and_close(job.conn, reply)


def _tell(conn: socket.socket, message: bytes) -> None:
    """Send *message* whole to a caller; one that has left first has no use for it, and the agent serves on."""
    try:
        conn.setblocking(True)
        conn.sendall(message)
    except OSError:
        pass
    finally:
        conn.setblocking(False)


def _noted(number: int, frame: object) -> None:
    """Leave the signal to the wake-up pipe, which the loop reads."""


def _close_all(fds: list[int]) -> None:
    for fd in fds:
        os.close(fd)
    fds.clear()


def listen(path: str) -> socket.socket:
    """Return a listening socket at *path*, mode 0600 in a directory only this user may write.

    A socket left by an agent that died is replaced; one that answers is another agent's, and refused.
    """
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, mode=0o700, exist_ok=True)
    info = os.stat(directory)
    # SECURITY: another user able to write the directory could swap the socket for one of their own.
    if info.st_uid != os.geteuid() or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise UsageError(f"{directory} may be written by other users: make it yours alone (chmod 700) first")
    if os.path.exists(path):
        if _answers(path):
            raise UsageError(f"an agent already runs at {path}: `coffer agent status` shows it")
        os.unlink(path)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    mask = os.umask(0o177)
    try:
        listener.bind(path)
    finally:
        os.umask(mask)
    listener.listen(BACKLOG)
    listener.setblocking(False)
    return listener


def _answers(path: str) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(path)
        except OSError:
            return False
    return True
