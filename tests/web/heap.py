"""Drive one transfer through the app page while sampling its JS heap through the DevTools protocol.

The figure is the page's ``Runtime.getHeapUsage`` used size (its main thread's V8 heap, as Chrome's
``JSHeapUsedSize``), sampled every quarter second while the transfer runs: the peak is what
the issue's 256 MiB bound is about. That heap leaves out ArrayBuffer contents (the chunks
themselves) and the workers, so the browser's whole memory is sampled too: the proportional set
size (PSS) of every process of the browser this program started, found through the children of
this process (``/proc/PID/task/*/children``), never by scanning the machine. Its growth over the
transfer shows whether a file's bytes pile up anywhere in the browser.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .app_session import wait_uploaded

MIB = 1024 * 1024
HEAP_BOUND = 256 * MIB
SAMPLE_EVERY_MS = 250


@dataclass
class Measured:
    """One transfer through the page: how long it took, the JS heap's peak, and the browser's memory growth."""

    seconds: float
    heap_peak: int
    browser_growth: int
    cpu_seconds: float = 0.0
    """The browser's CPU time over the transfer, where it was taken (the runs without Playwright)."""


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def tree(root: int) -> list[int]:
    """Return *root* and every process below it."""
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += _children(pid)
    return found


def browser_pids() -> list[int]:
    """Return the browser's processes: those below this one whose program is chromium's."""
    found = []
    for pid in tree(os.getpid())[1:]:
        try:
            if "chrom" in os.readlink(f"/proc/{pid}/exe").rsplit("/", 1)[-1]:
                found.append(pid)
        except OSError:
            continue
    return found


def pss(pid: int) -> int:
    """Return *pid*'s proportional set size in bytes (0 once it is gone)."""
    try:
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0
    return next((int(line.split()[1]) * 1024 for line in rollup.splitlines() if line.startswith("Pss:")), 0)


def browser_pss() -> int:
    """Return the summed PSS in bytes of the browser's processes."""
    return sum(pss(pid) for pid in browser_pids())


class HeapWatch:
    """The page's heap, read through a DevTools session of its own."""

    def __init__(self, context: Any, page: Any):
        self.page = page
        self.cdp = context.new_cdp_session(page)
        self.cdp.send("Runtime.enable")

    def used(self) -> int:
        return int(self.cdp.send("Runtime.getHeapUsage")["usedSize"])

    def until(self, done: Callable[[], bool], timeout_s: float) -> tuple[int, int]:
        """Sample until *done()* holds; return the heap's peak and the browser's peak PSS. Fail after *timeout_s*."""
        peak, pss = self.used(), browser_pss()
        deadline = time.monotonic() + timeout_s
        while not done():
            if time.monotonic() > deadline:
                raise TimeoutError(f"the transfer did not end within {timeout_s:.0f} s")
            self.page.wait_for_timeout(SAMPLE_EVERY_MS)
            peak, pss = max(peak, self.used()), max(pss, browser_pss())
        return peak, pss


def _shown(page: Any, role: str, name: str | None, text: str) -> Callable[[], bool]:
    located = page.get_by_role(role, name=name) if name else page.get_by_role(role)
    return lambda: located.filter(has_text=text).count() > 0


def upload(watch: HeapWatch, start: Callable[[], None], name: str, timeout_s: float = 900) -> Measured:
    """Upload through the page (*start* chooses or drops the file called *name*), sampling the heap."""
    before = browser_pss()
    started = time.perf_counter()
    start()
    peak, pss = watch.until(_shown(watch.page, "status", f"Upload status of {name}", "uploaded"), timeout_s)
    wait_uploaded(watch.page, name)
    return Measured(time.perf_counter() - started, peak, pss - before)


def download(watch: HeapWatch, name: str, saved: Path, timeout_s: float = 900) -> Measured:
    """Download *name* from the app page's list to *saved*, sampling the heap until it checked out."""
    page = watch.page
    page.get_by_role("rowheader", name=name, exact=True).wait_for(timeout=60_000)
    before = browser_pss()
    started = time.perf_counter()
    with page.expect_download(timeout=60_000) as begun:
        page.get_by_role("button", name=f"Download {name}", exact=True).click()
    peak, pss = watch.until(_shown(page, "status", None, f"Downloaded and checked {name}"), timeout_s)
    begun.value.path()  # the browser finished writing it
    seconds = time.perf_counter() - started
    begun.value.save_as(saved)
    return Measured(seconds, peak, pss - before)
