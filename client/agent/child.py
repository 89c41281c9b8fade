"""One command, in a fork of the agent: become the caller's process, run the command, exit with its code.

The fork has every module the agent imported, and nothing else of it: it
closes the agent's sockets, takes the caller's standard streams, directory,
umask and environment, leaves the agent's session (so a signal meant for the
agent does not reach it), and restores the default signal handlers. It then
runs the very function the ``coffer`` command runs, and ends with
:func:`os._exit`, so it never returns into the agent's loop, whose ``finally``
blocks belong to the agent.

It tells the caller its exit code itself, once its output is flushed and its
hold on the caller's streams let go: tearing down a process takes some 10 ms
(a tenth of a 25 MB download), and nothing the command did is left to happen
in it. A fork that dies of a signal cannot: the agent reports that once it has
reaped it.
"""

from __future__ import annotations

import fcntl
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable, Iterable
from typing import NoReturn

from ...transfer import connections
from .wire import RunRequest, number_frame

RELAYED = {signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGTERM}
"""What the agent passes on from the caller, or sends when the caller leaves."""
CERTIFICATE_SETTINGS = ("SSL_CERT_FILE", "SSL_CERT_DIR")
"""What the TLS context the agent made depends on: a command setting them otherwise makes its own."""


def run(
    request: RunRequest,
    streams: list[int],
    close: list[int],
    caller: int,
    main: Callable[[list[str]], int],
    mask: Iterable[int],
) -> NoReturn:
    """Run *request* with *streams* as its stdin, stdout and stderr, and send its exit code to *caller*.

    The agent's other descriptors, *close*, are closed first. The agent forked with its
    signals held; once this process has its own handlers, its signal *mask* is set back,
    and what was sent meanwhile reaches the command.
    """
    code = 1
    try:
        signal.set_wakeup_fd(-1)  # before its descriptor closes, so no signal is written to a closed one
        for fd in close:
            os.close(fd)
        os.setsid()
        for number in (signal.SIGCHLD, signal.SIGHUP, signal.SIGTERM, signal.SIGQUIT):
            signal.signal(number, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        _take_streams(streams)
        _take_place(request)
        code = _run(main, request.argv)
    finally:
        try:
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except (OSError, ValueError):
                    pass  # a reader that went away (`| head`) or a stream the command closed: nothing left to say
            _report(caller, code)
        finally:
            os._exit(code)


def _report(caller: int, code: int) -> None:
    """Let go of the caller's streams, so that what reads them sees their end, and send *code* to the caller."""
    signal.pthread_sigmask(signal.SIG_BLOCK, RELAYED)  # the caller may leave at once: its command is over
    quiet = os.open(os.devnull, os.O_RDWR)
    for target in (0, 1, 2):
        os.dup2(quiet, target)
    try:
        os.write(caller, number_frame(b"exit", code))
    except OSError:
        pass  # the caller has gone; the agent logs the code once it has reaped this process


def _take_streams(streams: list[int]) -> None:
    """Make *streams* descriptors 0, 1 and 2; first above 2, so that none is overwritten before it is placed."""
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3) for fd in streams]
    for fd in streams:
        os.close(fd)
    for target, fd in enumerate(high):
        os.dup2(fd, target)
        os.close(fd)
    sys.stdin = open(0, closefd=False)  # noqa: SIM115 - the process's own stream, open until it exits
    sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, errors="backslashreplace", closefd=False)  # noqa: SIM115


def _take_place(request: RunRequest) -> None:
    before = {name: os.environ.get(name) for name in CERTIFICATE_SETTINGS}
    os.chdir(request.cwd)
    os.umask(request.umask)
    os.environb.clear()
    os.environb.update(request.env)
    time.tzset()
    sys.argv = ["coffer", *request.argv]
    if any(os.environ.get(name) != value for name, value in before.items()):
        connections.tls_context.cache_clear()


def _run(main: Callable[[list[str]], int], argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:  # argparse's usage errors and --help
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else _say(exc.code))
    except BaseException:  # noqa: BLE001 - what the interpreter would print for an uncaught exception, then exit 1
        traceback.print_exc()
        return 1


def _say(message: object) -> int:
    print(message, file=sys.stderr)
    return 1
