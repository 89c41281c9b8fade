"""Where the time goes on the slowest path: py-spy on the client and on both fileservers at once.

The slowest path is the Coffer direction whose median at the largest size is
furthest below the ceiling (:func:`slowest`). It runs once more with the client
under ``py-spy record`` and py-spy attached to each fileserver (and its workers)
for the same span, then once again with the client sampled with ``--gil`` (only
the thread holding the GIL: what serialises the threads). py-spy counts a thread
that waits inside a system call as busy, so the shares read "of the threads doing
or waiting for something, this share was in ..."; parked threads (waiting on a
lock, a queue or a selector) are left out and counted apart.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from .coffer_net import CofferNet, coffer_command
from .datafiles import label, make_file
from .procs import Measured, run_measured
from .stats import mb_per_s

RATE = 97
PASSWORD = "profile-password-1"


def py_spy() -> str:
    """Return the py-spy beside this Python, or on PATH."""
    here = Path(sys.executable).parent / "py-spy"
    found = str(here) if here.exists() else shutil.which("py-spy")
    if not found:
        raise RuntimeError("py-spy is missing: install the bench extra (pip install -e '.[bench]')")
    return found


def slowest(transfers: dict[str, Any], engine: str) -> tuple[int, str]:
    """Return (size, direction) of the Coffer path furthest below the ceiling at the largest size."""
    size = max(transfers["sizes"])
    ratios = transfers["ratios"][f"coffer-{engine}"][label(size)]
    direction = min(("up", "down"), key=lambda d: ratios[d]["vs_ceiling"])
    return size, direction


IDLE = {
    "Condition.wait",
    "Event.wait",
    "EpollSelector.select",
    "PollSelector.select",
    "Arbiter.sleep",
    "Arbiter.wait_for_signals",
    "Thread.join",
    "Thread._wait_for_tstate_lock",
    "_worker",
}
"""Leaf functions that mean a thread is parked (py-spy sometimes counts these as on a CPU)."""


def _frame(frame: str) -> str:
    """Shorten ``func (path/to/module.py:12)`` to ``func (module.py)``."""
    name, _, where = frame.partition(" (")
    return f"{name} ({Path(where.split(':')[0]).name})" if where else name


def _split(stack: str) -> tuple[str, list[str]]:
    """Return (thread kind, code frames) of one collapsed stack, dropping py-spy's process frames."""
    frames = [f for f in stack.split(";") if not f.startswith("process ")]
    thread = "?"
    if frames and frames[0].startswith("thread ("):
        thread = frames.pop(0).partition("): ")[2] or "main"
        thread = re.sub(r"[_-]\d+$", "", thread)
    return thread, [_frame(f) for f in frames]


def summarize(raw: Path, title: str, top: int = 12, gil: bool = False) -> str:
    """Turn py-spy's raw (collapsed) stacks into a short text: top functions by own and by total samples."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    samples = idle = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        thread, names = _split(stack)
        if not names or names[-1].split(" (")[0] in IDLE:
            idle += count
            continue
        samples += count
        threads[thread] += count
        own[names[-1]] += count
        for name in set(names):
            total[name] += count
    if not samples:
        return f"## {title}\n\nno samples but of parked threads ({idle})\n"
    what = "of the thread holding the GIL" if gil else "of threads running or blocked in a call"
    lines = [f"## {title}", "", f"{samples} samples at {RATE} Hz {what} ({idle} of parked threads left out)"]
    lines += ["", "by thread:"]
    lines += [f"  {100 * c / samples:5.1f}%  {t}" for t, c in threads.most_common(6)]
    lines += ["", "own time (the function itself, C code it calls included):"]
    lines += [f"  {100 * c / samples:5.1f}%  {f}" for f, c in own.most_common(top)]
    lines += ["", "total time (the function and what it calls):"]
    lines += [f"  {100 * c / samples:5.1f}%  {f}" for f, c in total.most_common(top)]
    return "\n".join(lines) + "\n"


def _attach(pid: int, out: Path) -> subprocess.Popen[bytes]:
    args = [py_spy(), "record", "--pid", str(pid), "--subprocesses", "--threads"]
    args += ["--rate", str(RATE), "--format", "raw", "--output", str(out)]
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _detach(spy: subprocess.Popen[bytes], what: str) -> None:
    spy.send_signal(signal.SIGINT)
    try:
        _, err = spy.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        spy.kill()
        spy.wait()
        raise RuntimeError(f"py-spy on {what} did not stop") from None
    if spy.returncode not in (0, -signal.SIGINT):
        raise RuntimeError(f"py-spy on {what} failed: {err.decode(errors='replace')[-500:]}")


def _client(args: list[str], out: Path, env: dict[str, str], *, gil: bool) -> Measured:
    """Run the client command under py-spy, every thread or (*gil*) only the one holding the GIL."""
    spy = [py_spy(), "record", "--threads", "--rate", str(RATE), "--format", "raw", "--output", str(out)]
    return run_measured([*spy, *(["--gil"] if gil else []), "--", *args], env=env)


def run(root: Path, engine: str, size: int, direction: str) -> dict[str, Any]:
    """Profile one *direction* transfer of *size* bytes on a fresh network; return the report and its text."""
    root.mkdir(parents=True, exist_ok=True)
    source = root / "source"
    make_file(source, size)
    net = CofferNet.start(root / "net", engine)
    try:
        net.create_user("profile", PASSWORD)
        env = net.login_cli("profile", PASSWORD, root / "cli")
        file_id = ""
        if direction == "down":
            file_id = run_measured(coffer_command("upload", "--quiet", str(source)), env=env).stdout.split()[-1]
            args = coffer_command("download", "--quiet", file_id, "-o", str(root / "copy"))
        else:
            args = coffer_command("upload", "--quiet", str(source))
        spies = [
            (_attach(fs.proc.pid, root / f"fs{n}.txt"), f"fileserver {n}") for n, fs in enumerate(net.fileservers, 1)
        ]
        time.sleep(1.0)  # py-spy attaches before the first byte moves
        try:
            done = _client(args, root / "client.txt", env, gil=False)
        finally:
            for spy, what in spies:
                _detach(spy, what)
        (root / "copy").unlink(missing_ok=True)
        gil = _client(args, root / "client-gil.txt", env, gil=True)
    finally:
        net.stop()
        source.unlink(missing_ok=True)
        (root / "copy").unlink(missing_ok=True)
    what = f"coffer {'upload' if direction == 'up' else 'download'} of {label(size)} on {engine}"
    text = [
        f"# Profile: {what}",
        "",
        f"wall time {done.seconds:.2f} s ({mb_per_s(size, done.seconds):.0f} MB/s) under py-spy; "
        f"{gil.seconds:.2f} s when sampling the GIL",
        "",
        summarize(root / "client.txt", "client (coffer CLI), every thread"),
        summarize(root / "client-gil.txt", "client (coffer CLI), the thread holding the GIL", gil=True),
    ]
    text += [summarize(root / f"fs{n}.txt", f"fileserver {n}") for n in range(1, len(net.fileservers) + 1)]
    return {
        "path": what,
        "size": size,
        "direction": direction,
        "seconds": round(done.seconds, 2),
        "text": "\n".join(text),
    }
