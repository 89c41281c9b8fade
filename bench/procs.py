"""Start and stop the processes a benchmark measures, and read their peak memory.

Everything here acts on processes this harness started, by PID: a service gets its
own process group, so stopping it signals that group and nothing else. Peak memory
is the kernel's own figure: ``VmHWM`` in ``/proc/<pid>/status`` for a process that is
still running (reset with ``clear_refs`` before a step, so each step has its own
peak), and the same polled every 10 ms for a command run to completion.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from coffer.devnet.procs import Service as Service  # re-exported: the bench modules start and wait on services
from coffer.devnet.procs import free_port as free_port
from coffer.devnet.procs import http_ok as http_ok
from coffer.devnet.procs import wait_until as wait_until

MIB = 1024 * 1024


def children(pid: int) -> list[int]:
    """Return the PIDs of *pid*'s descendants (every thread's children, recursively)."""
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return found
    for tid in tasks:
        try:
            text = Path(f"/proc/{pid}/task/{tid}/children").read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue
        for child in map(int, text.split()):
            found += [child, *children(child)]
    return found


def tree(pid: int) -> list[int]:
    return [pid, *children(pid)]


def _status_kib(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def peak_rss_mib(pid: int) -> float:
    """Return the peak resident set (VmHWM) of a running process, in MiB (0 if it is gone)."""
    return _status_kib(pid, "VmHWM") / 1024


def rss_mib(pid: int) -> float:
    return _status_kib(pid, "VmRSS") / 1024


def cpu_seconds(pids: Sequence[int]) -> float:
    """Return the user plus system CPU time the running processes *pids* have used so far."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def reaped_cpu_seconds(pid: int, timeout: float = 10.0) -> float:
    """Return the CPU time of the children *pid* has waited for (cutime plus cstime): an agent's forks, once ended.

    Waits first until *pid* has no child left: a fork of the agent sends its exit code
    before it is torn down, so the command that waited for it may end a little earlier.
    """
    children = Path(f"/proc/{pid}/task/{pid}/children")
    deadline = time.monotonic() + timeout
    while children.read_text().split() and time.monotonic() < deadline:
        time.sleep(0.001)
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")


def reset_peaks(pids: Sequence[int]) -> None:
    """Start each process's peak anew from its current size (``clear_refs`` 5; our own processes only)."""
    for pid in pids:
        try:
            Path(f"/proc/{pid}/clear_refs").write_text("5")
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            pass


def command_name(pid: int) -> str:
    """Return the process's command line with every path cut to its last part (no paths of this machine)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return "?"
    parts = [part.decode(errors="replace") for part in raw.split(b"\0") if part]
    return " ".join(Path(part).name if "/" in part else part for part in parts)[:120]


@dataclass
class Measured:
    """A command run to completion: its wall time, peak RSS and what it printed."""

    seconds: float
    peak_rss_mib: float
    stdout: str
    cpu_seconds: float = 0.0
    """User plus system CPU time of the command (wait4)."""
    stderr: str = ""


def _watch_peak(pid: int, done: threading.Event, peak: list[float], interval: float = 0.01) -> None:
    """Keep the highest VmHWM of *pid* seen after it exec'd (before, /proc shows the forked copy of us)."""
    ours = Path("/proc/self/cmdline").read_bytes()
    while not done.is_set():
        try:
            if Path(f"/proc/{pid}/cmdline").read_bytes() != ours:
                peak[0] = max(peak[0], peak_rss_mib(pid))
        except (FileNotFoundError, ProcessLookupError):
            return
        done.wait(interval)


def run_measured(args: Sequence[str], *, env: dict[str, str] | None = None, stdin: str | None = None) -> Measured:
    """Run *args* to completion; return its wall time and peak RSS.

    The peak is the child's VmHWM polled every 10 ms: ``ru_maxrss`` from wait4 would
    count the pages of this process that the child had between fork and exec. Raise
    RuntimeError with the end of its stderr if it exits non-zero.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(
            list(args),
            env=env,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=out,
            stderr=err,
        )
        done, peak = threading.Event(), [0.0]
        watcher = threading.Thread(target=_watch_peak, args=(proc.pid, done, peak), daemon=True)
        watcher.start()
        if proc.stdin is not None:
            proc.stdin.write((stdin or "").encode())
            proc.stdin.close()
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        done.set()
        watcher.join()
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"`{' '.join(args[:3])} …` exited with {proc.returncode}: {stderr.strip()[-800:]}")
    return Measured(seconds, peak[0], stdout, usage.ru_utime + usage.ru_stime, stderr)


@dataclass
class PeakSampler:
    """Poll the peak RSS of process trees in the background, keeping each PID's highest value.

    ``VmHWM`` is a process's lifetime peak, so a poll every *interval* seconds misses only
    processes that are born and die between two polls.
    """

    roots: dict[str, int]
    interval: float = 0.5
    peaks: dict[int, tuple[str, str, float]] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def sample(self) -> None:
        for role, root in list(self.roots.items()):
            for pid in tree(root):
                peak = peak_rss_mib(pid)
                if peak and peak >= self.peaks.get(pid, ("", "", 0.0))[2]:
                    self.peaks[pid] = (role, command_name(pid), peak)

    def __enter__(self) -> PeakSampler:
        self.sample()
        self._thread = threading.Thread(target=self._loop, name="peak-sampler", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.sample()

    def table(self) -> list[dict[str, object]]:
        return [
            {"role": role, "pid": pid, "command": cmd, "peak_rss_mib": round(peak, 1)}
            for pid, (role, cmd, peak) in sorted(self.peaks.items(), key=lambda kv: (kv[1][0], kv[0]))
        ]
