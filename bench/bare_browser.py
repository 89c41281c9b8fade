"""Chromium driven over its DevTools pipe with no network agent: the browser's memory as a person's browser has it.

Playwright enables the DevTools network domain on every page, and that agent keeps each request's
body alive for its own records: chunk bodies sent as Blobs then pile up in the browser process,
counted against no buffer, for as long as the page lives. So the browser's memory under Playwright
says more about Playwright than about the page. This module starts Debian's chromium itself with
``--remote-debugging-pipe`` and speaks only the few commands it needs (Target, Page, Runtime, DOM,
Browser), never ``Network.enable``, to upload and download one file through the app page while it
samples the PSS of the browser's processes (found through the children of the browser's own
process). The page is driven by its ids, as a script would; the person-like tests live in tests/web.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.web.browser import CHROMIUM_ARGS
from tests.web.heap import SAMPLE_EVERY_MS, pss, tree

from .procs import cpu_seconds

NO_SAVE_PICKER = "delete window.showSaveFilePicker;"


class BareBrowser:
    """One headless chromium and one page, over the DevTools pipe (fd 3 in, fd 4 out)."""

    def __init__(self, executable: str, profile: Path, downloads: Path):
        commands_r, self._commands = os.pipe()
        self._replies, replies_w = os.pipe()

        def wire() -> None:  # in the child: fd 3 reads our commands, fd 4 writes its replies
            commands, replies = os.dup(commands_r), os.dup(replies_w)  # above 4, so neither overwrites the other
            os.dup2(commands, 3)
            os.dup2(replies, 4)

        self.proc = subprocess.Popen(
            [executable, "--headless", "--remote-debugging-pipe", f"--user-data-dir={profile}", *CHROMIUM_ARGS],
            pass_fds=(3, 4, commands_r, replies_w),  # 3 and 4 as wire() leaves them
            preexec_fn=wire,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(commands_r)
        os.close(replies_w)
        self._next = 0
        self._buffer = b""
        self.session = ""
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        self.call("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}, browser=True)
        self.call("Page.enable")
        self.call("Page.addScriptToEvaluateOnNewDocument", {"source": NO_SAVE_PICKER})

    def call(self, method: str, params: dict[str, Any] | None = None, *, browser: bool = False) -> dict[str, Any]:
        """Send one command and return its result, passing over the events that come meanwhile."""
        self._next += 1
        message: dict[str, Any] = {"id": self._next, "method": method, "params": params or {}}
        if self.session and not browser:
            message["sessionId"] = self.session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        while True:
            while b"\0" not in self._buffer:
                chunk = os.read(self._replies, 1 << 16)
                if not chunk:
                    raise RuntimeError("chromium closed its DevTools pipe")
                self._buffer += chunk
            raw, self._buffer = self._buffer.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self._next:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return dict(reply.get("result", {}))

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        return result.get("result", {}).get("value")

    def wait(self, expression: str, timeout_s: float, sample: Callable[[], None] = lambda: None) -> None:
        deadline = time.monotonic() + timeout_s
        while not self.evaluate(expression):
            if time.monotonic() > deadline:
                raise TimeoutError(f"waited {timeout_s:.0f} s for {expression}")
            sample()
            time.sleep(SAMPLE_EVERY_MS / 1000)

    def memory(self) -> int:
        """Return the summed PSS of the browser's processes, in bytes."""
        return sum(pss(pid) for pid in tree(self.proc.pid))

    def heap(self) -> int:
        """Return the page's JS heap in use (``Runtime.getHeapUsage``, as tests/web/heap.py reads it), in bytes."""
        return int(self.call("Runtime.getHeapUsage")["usedSize"])

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._commands)
        os.close(self._replies)


def transfer(
    executable: str, work: Path, url: str, user: str, password: str, source: Path, timeout_s: float = 1800
) -> dict[str, float]:
    """Sign in, upload *source* and download it back through the page; return seconds, CPU, heap peak and growth.

    The page's JS heap is sampled as the Playwright runs sample it (every quarter second, over the
    same DevTools pipe), so these runs give the heap figure as well as the throughput.
    """
    downloads = work / "bare-downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    browser = BareBrowser(executable, work / "bare-profile", downloads)
    try:
        browser.call("Page.navigate", {"url": f"{url}/"})
        browser.wait("document.body.dataset.state === 'signed-out'", 60)
        browser.evaluate(
            f"""(() => {{
                const set = (id, value) => {{ const el = document.getElementById(id); el.value = value;
                    el.dispatchEvent(new Event("input", {{ bubbles: true }})); }};
                set("username", {json.dumps(user)}); set("password", {json.dumps(password)});
                document.getElementById("signin").requestSubmit(); }})()"""
        )
        browser.wait("document.body.dataset.state === 'files'", 60)
        figures: dict[str, float] = {}
        for direction in ("up", "down"):
            before, peak, heap = browser.memory(), [0], [browser.heap()]

            def sample(peak: list[int] = peak, heap: list[int] = heap) -> None:
                peak[0] = max(peak[0], browser.memory())
                heap[0] = max(heap[0], browser.heap())

            cpu, started = cpu_seconds(tree(browser.proc.pid)), time.perf_counter()
            if direction == "up":
                node = browser.call("DOM.getDocument")["root"]["nodeId"]
                chooser = browser.call("DOM.querySelector", {"nodeId": node, "selector": "#file-input"})["nodeId"]
                browser.call("DOM.setFileInputFiles", {"nodeId": chooser, "files": [str(source)]})
                shown = f"[...document.querySelectorAll('[aria-label=\"Upload status of {source.name}\"]')]"
                browser.wait(f"{shown}.some((e) => /^uploaded/.test(e.textContent))", timeout_s, sample)
            else:
                button = f"document.querySelector('button[aria-label=\"Download {source.name}\"]')"
                browser.wait(f"{button} !== null", 60)
                browser.evaluate(f"{button}.click()")
                status = "document.getElementById('status').textContent"
                browser.wait(f"{status}.startsWith('Downloaded and checked')", timeout_s, sample)
                saved = downloads / source.name
                deadline = time.monotonic() + 120
                while not (saved.exists() and saved.stat().st_size == source.stat().st_size):
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"the browser did not finish saving {saved.name}")
                    time.sleep(0.1)
            figures[f"{direction}_s"] = time.perf_counter() - started
            figures[f"{direction}_cpu"] = cpu_seconds(tree(browser.proc.pid)) - cpu
            figures[f"{direction}_growth"] = peak[0] - before
            figures[f"{direction}_heap_peak"] = heap[0]
        return figures
    finally:
        browser.close()
