"""Hand a ``coffer`` command to the agent, if one serves this config directory, and wait for its exit code.

Most of a 25 MB transfer's time as a plain command is the interpreter importing
the client. An agent (``coffer agent start``) has imported it once; the command
passes it the words typed, the directory, umask, environment and its own three
standard streams, and the agent runs the command in a fork of itself, writing
straight to this terminal or file. Signals typed here (Ctrl-C, Ctrl-Z) are
relayed to that process, and its exit code or signal becomes this process's.

This runs before anything else on every ``coffer`` command, so it imports only
what the interpreter has loaded already and two C modules: ``socket`` and
``signal`` cost 4–7 ms each of enum classes, a tenth of a 25 MB download's time
through the agent. With no agent (no socket, or a dead agent's), the command
runs here as before; ``COFFER_AGENT=off`` runs it here always.
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]
import _socket
import os
import sys

from coffer.protocol import __version__

from ..home import config_home
from .wire import Frames, RunRequest, WireError, command_word, number_frame, parse_number, run_frame

TYPE_CHECKING = False  # importing typing for its flag would cost milliseconds
if TYPE_CHECKING:
    from collections.abc import Iterator

AGENT_COMMANDS = frozenset({"upload", "download"})
"""What the agent runs: the transfers, where the interpreter's start is most of a small file's time."""
SOCKET_NAME = "agent.sock"
START_TIMEOUT = 10.0
"""Seconds to wait for the agent to start the command: it forks at once, so longer means it hangs."""
OFF = frozenset({"off", "0", "no", "false"})
RELAYED = (_signal.SIGHUP, _signal.SIGINT, _signal.SIGQUIT, _signal.SIGTERM)


def socket_path() -> str:
    """Return the agent's socket: ``COFFER_AGENT_SOCKET``, else ``agent.sock`` in the config directory."""
    return os.environ.get("COFFER_AGENT_SOCKET") or os.path.join(config_home(), SOCKET_NAME)


def handed_over(argv: list[str]) -> int | None:
    """Run *argv* in the agent and return its exit code; return None when it is to run in this process."""
    if os.environ.get("COFFER_AGENT", "").lower() in OFF:
        return None
    if command_word(argv) not in AGENT_COMMANDS:
        return None
    agent = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        # SECURITY: the socket is the user's own (mode 0600 in their config directory), and the agent
        # checks that the peer runs as its own user; a socket that refuses or is not there means no agent.
        agent.connect(socket_path())
    except OSError:
        agent.close()
        return None
    try:
        return _run_there(agent, argv)
    finally:
        agent.close()


def _run_there(agent: _socket.socket, argv: list[str]) -> int | None:
    relay = _Relay(agent)  # from before the request leaves: a Ctrl-C at any moment reaches the command
    try:
        if not _send_request(agent, argv):
            return None  # nothing reached the agent (a closed standard stream, a vanished directory): run here
        incoming = _frames(agent)
        agent.settimeout(START_TIMEOUT)
        try:
            first = next(incoming)
        except TimeoutError:
            message = f"the agent at {socket_path()} did not start the command in {START_TIMEOUT:.0f} s: {_ADVICE}"
            return _say(message, 3)
        agent.settimeout(None)
        if not first:
            return None  # closed before it started anything (another user's agent, one stopping): run here
        if first[:1] == [b"refused"]:
            reason = first[1].decode("utf-8", "replace") if len(first) > 1 else "no reason given"
            _say(f"the agent at {socket_path()} did not take the command ({reason}); running it here", 0)
            return None
        if first[:1] == [b"started"]:
            relay.arm()
            first = next(incoming)
        return _outcome(first)
    finally:
        relay.restore()


def _send_request(agent: _socket.socket, argv: list[str]) -> bool:
    """Send the run request with this process's standard streams; return False if the agent cannot have it whole."""
    try:
        umask = os.umask(0o022)
        os.umask(umask)
        request = run_frame(RunRequest(__version__, argv, os.getcwd(), umask, dict(os.environb)))
        sent = agent.sendmsg([request], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, _fds(0, 1, 2))])
        if sent < len(request):
            agent.sendall(request[sent:])
    except (OSError, WireError):
        return False  # the agent forks only on a whole request, so none ran
    # Once it is whole, the command may be running, or over already (a usage error is): never run it here too.
    return True


_ADVICE = "stop it with `coffer agent stop`, or set COFFER_AGENT=off to run commands without it"


def _fds(*fds: int) -> bytes:
    return b"".join(fd.to_bytes(4, sys.byteorder, signed=True) for fd in fds)


def _frames(agent: _socket.socket) -> Iterator[list[bytes]]:
    """Yield the agent's frames as they arrive, then empty lists once it has closed the connection."""
    frames = Frames()
    while True:
        try:
            data = agent.recv(4096)
        except ConnectionError:
            data = b""
        if not data:
            break
        yield from frames.feed(data)
    while True:
        yield []


def _outcome(fields: list[bytes]) -> int:
    try:
        if fields and fields[0] == b"killed":
            number = parse_number(fields, b"killed")
            _signal.signal(number, _signal.SIG_DFL)
            os.kill(os.getpid(), number)
            return 128 + number
        if fields:
            return parse_number(fields, b"exit")
    except WireError as exc:
        return _say(f"the agent answered what this coffer cannot read ({exc}): {_ADVICE}", 1)
    return _say(f"the agent at {socket_path()} ended before the command did: run it again, or {_ADVICE}", 1)


def _say(message: str, code: int) -> int:
    print(f"coffer: {message}", file=sys.stderr)
    return code


class _Relay:
    """Pass the signals this process is sent to the command's process, through the agent, while it runs.

    Signals that come before the agent has started the command wait for :meth:`arm`.
    Ctrl-Z stops the command too: this process asks the agent to stop it, stops
    itself, and asks it to go on once the shell continues this process.
    """

    def __init__(self, agent: _socket.socket) -> None:
        self._agent = agent
        self._early: list[int] | None = []
        self._before = {number: _signal.signal(number, self._relay) for number in RELAYED}
        self._before[_signal.SIGTSTP] = _signal.signal(_signal.SIGTSTP, self._pause)

    def arm(self) -> None:
        """The command runs: send on what came before, and from now on what comes."""
        early, self._early = self._early or [], None
        for number in early:
            self._send(number)

    def _relay(self, number: int, frame: object) -> None:
        if self._early is not None:
            self._early.append(number)
        else:
            self._send(number)

    def _pause(self, number: int, frame: object) -> None:
        running = self._early is None
        if running:
            self._send(_signal.SIGSTOP)
        _signal.signal(_signal.SIGTSTP, _signal.SIG_DFL)
        os.kill(os.getpid(), _signal.SIGTSTP)
        _signal.signal(_signal.SIGTSTP, self._pause)
        if running:
            self._send(_signal.SIGCONT)

    def _send(self, number: int) -> None:
        try:
            self._agent.sendall(number_frame(b"signal", number))
        except OSError:
            pass  # the agent has gone: the outcome (or its absence) is read next

    def restore(self) -> None:
        for number, handler in self._before.items():
            _signal.signal(number, handler)
