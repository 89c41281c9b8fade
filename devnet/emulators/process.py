"""A storage emulator on 127.0.0.1 for tests and benchmarks: own process group, a log file, restartable on one port.

Each emulator (moto, gcp-storage-emulator, Azurite) says only how it is started
and what to ask it to see that it is up; starting, waiting, stopping (an outage
the backend tests rely on) and cleaning up are the same for all of them.
"""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from coffer.fileserver.storage import Backend

from ..procs import free_port


class EmulatorMissing(RuntimeError):
    """The emulator's program is not installed here; the message says how to install it."""


@dataclass
class Store:
    """A backend on an emulator, and a probe for what a put must never leave behind."""

    backend: Backend
    leftovers: Callable[[], list[str]]
    """Objects that are not chunks (temp files, partial uploads): must be empty after any put."""


class EmulatorProcess:
    """Start with :meth:`start`, stop with :meth:`stop` (again and again, same port), remove with :meth:`close`."""

    name = "emulator"
    probe = "/"
    """A GET path; any HTTP answer means the service is up."""
    grace = 5.0
    """Seconds between SIGTERM and SIGKILL when stopping."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.dir = Path(tempfile.mkdtemp(prefix=f"coffer-{self.name}-"))
        self.log = self.dir / f"{self.name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = 20.0) -> None:
        """Start the service (if it is not running) and return once it answers HTTP."""
        if self.running:
            return
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                self.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                cwd=self.dir,
            )
        deadline = time.monotonic() + timeout
        while not self.answers():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                tail = self.log.read_text(errors="replace")[-2000:]
                self.stop()
                raise RuntimeError(f"{self.name} did not come up on port {self.port}:\n{tail}")
            time.sleep(0.05)

    def answers(self) -> bool:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
        try:
            conn.request("GET", self.probe)
            conn.getresponse()
            return True
        except (OSError, http.client.HTTPException):
            return False
        finally:
            conn.close()

    def stop(self) -> None:
        """Stop the service's process group (SIGTERM, SIGKILL after the grace); its port refuses connections."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(self.grace)
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        try:  # a child left in the group (node spawns some) must not keep the port
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
