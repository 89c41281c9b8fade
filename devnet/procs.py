"""Start, wait for and stop the processes of a network: only the ones started here, by PID.

Each service gets its own process group (gunicorn's master and its workers), so
stopping it signals that group and nothing else on the machine.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def wait_until(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.1) -> None:
    """Poll *check* until it is true; raise TimeoutError naming *what* after *timeout* seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def http_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1.0).status_code == 200
    except httpx.TransportError:
        return False


def clean_env(**extra: str) -> dict[str, str]:
    """Return this environment without any ``COFFER_`` setting, plus *extra*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COFFER_")}
    return env | extra


def coffer_command(*args: str, installed: bool = False) -> list[str]:
    """Return the argv of a ``coffer`` command run by this Python.

    With *installed*, the console script beside this Python when there is one, so a
    benchmark measures the program as a user starts it.
    """
    script = Path(sys.executable).parent / "coffer"
    if installed and script.exists():
        return [str(script), *args]
    return [sys.executable, "-m", "coffer", *args]


@dataclass
class Service:
    """A long-running child (a server, a fileserver, nginx) in its own process group, logging to a file."""

    name: str
    args: list[str]
    log: Path
    env: dict[str, str] | None = None
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> Service:
        self.log.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Logs name users, files' ids and paths: as private as the rest of the state, whatever the umask.
        with os.fdopen(os.open(self.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab") as out:
            self.popen = subprocess.Popen(
                self.args, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None, f"{self.name} was not started"
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    @property
    def returncode(self) -> int | None:
        """How the last process ended (negative: the signal that killed it); None while it runs or before it starts."""
        return None if self.popen is None else self.popen.poll()

    def restart(self) -> Service:
        """Start again once the process has stopped, after SIGKILLing what is left of its group.

        A gunicorn master killed alone leaves workers that still hold the port for a moment.
        """
        if self.popen is not None:
            if self.popen.poll() is None:
                raise RuntimeError(f"{self.name} is still running")
            try:
                os.killpg(self.popen.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return self.start()

    def kill(self, sig: int = signal.SIGKILL, timeout: float = 15.0) -> None:
        """Send *sig* to our process group and reap the leader; SIGKILL the group if it outlives *timeout*."""
        if self.popen is None:
            return
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, sig)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait()

    def stop(self, timeout: float = 15.0) -> None:
        """Stop cleanly: SIGTERM, then SIGKILL after *timeout*."""
        self.kill(signal.SIGTERM, timeout)

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def wait_ready(self, check: Callable[[], bool], timeout: float = 30.0) -> None:
        """Wait for *check*; on a timeout or an early exit, raise with the end of the log."""

        def ready() -> bool:
            if not self.alive():
                raise RuntimeError(f"{self.name} exited early:\n{self.tail()}")
            return check()

        try:
            wait_until(ready, timeout, self.name)
        except TimeoutError as exc:
            raise RuntimeError(f"{exc}\n--- {self.log} ---\n{self.tail()}") from exc
