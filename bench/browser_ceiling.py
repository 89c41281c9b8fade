"""The browser's limit: the chromium the page runs in, moving the same bytes with no Coffer code and no crypto.

The page's ratio to the CLI mixes two costs: what the page adds (sealing, hashing, staging, its
workers and messages) and what the browser charges any page that moves a file through the APIs a
page has. This measures the second, so the first can be told apart. nginx (the one of
:mod:`bench.ceiling`) serves a small page of its own (``bench/ceiling_page/``) and the file, and
chromium runs it over its DevTools pipe with no network agent, as :mod:`bench.bare_browser` runs the
app page. The chunk size (8 MiB) and the chunks in flight (4) are the page's.

- **Up**: each chunk is read from the chosen file into memory, then PUT as a Blob body, as the page
  sends a sealed chunk it holds in memory.
- **Down**: a Service Worker fetches the file's chunks by range and hands them in order to the stream
  the browser saves to disk, as the page saves a file where the File System Access API is missing
  (a headless browser has no save picker). The time runs until the file is whole on disk.
- **Down, the network alone**: the chunks fetched into memory and dropped; no page can save faster.

The browser's CPU (its processes' user and system time, from /proc) is taken over each transfer.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .bare_browser import BareBrowser
from .ceiling import Nginx
from .procs import cpu_seconds, tree

PAGE = Path(__file__).parent / "ceiling_page"


@dataclass
class Moved:
    """One transfer of the ceiling: its wall time and the browser's CPU time over it."""

    seconds: float
    cpu_seconds: float


@dataclass
class BrowserCeiling:
    """nginx serving the ceiling page and one file, and one chromium with the page open."""

    nginx: Nginx
    browser: BareBrowser
    downloads: Path

    @classmethod
    def start(cls, work: Path, executable: str) -> BrowserCeiling:
        work.mkdir(parents=True, exist_ok=True)
        nginx = Nginx.start(work / "nginx")
        try:
            for name in ("index.html", "ceiling.js", "sw.js"):
                shutil.copy(PAGE / name, nginx.www / name)
            (nginx.www / "up").mkdir()
            downloads = work / "downloads"
            downloads.mkdir()
            browser = BareBrowser(executable, work / "profile", downloads)
        except BaseException:
            nginx.stop()
            raise
        ceiling = cls(nginx, browser, downloads)
        try:
            browser.call("Page.navigate", {"url": f"{nginx.url}/index.html"})
            browser.wait("window.ready !== undefined", 30)
            browser.evaluate("window.ready")
        except BaseException:
            ceiling.stop()
            raise
        return ceiling

    def stop(self) -> None:
        self.browser.close()
        self.nginx.stop()

    def _timed(self, run: Callable[[], object]) -> Moved:
        cpu, started = cpu_seconds(tree(self.browser.proc.pid)), time.perf_counter()
        run()
        return Moved(time.perf_counter() - started, cpu_seconds(tree(self.browser.proc.pid)) - cpu)

    def upload(self, source: Path) -> Moved:
        """Send *source* up in chunks, as the page sends sealed chunks; nginx writes each to disk."""
        node = self.browser.call("DOM.getDocument")["root"]["nodeId"]
        chooser = self.browser.call("DOM.querySelector", {"nodeId": node, "selector": "#file"})["nodeId"]
        self.browser.call("DOM.setFileInputFiles", {"nodeId": chooser, "files": [str(source)]})
        moved = self._timed(lambda: self.browser.evaluate("window.upload()"))
        sent = sum(p.stat().st_size for p in (self.nginx.www / "up").iterdir())
        shutil.rmtree(self.nginx.www / "up")
        (self.nginx.www / "up").mkdir()
        if sent != source.stat().st_size:
            raise RuntimeError(f"the browser's limit sent {sent} bytes of {source.stat().st_size}")
        return moved

    def fetch_only(self, source: Path) -> Moved:
        """Fetch *source*'s chunks into the page's memory and drop them."""
        self._serve(source)
        size = source.stat().st_size

        def fetch() -> None:
            if not isinstance(self.browser.evaluate(f"window.fetchOnly({source.name!r}, {size})"), (int, float)):
                raise RuntimeError(f"the browser's limit could not fetch {source.name}")

        return self._timed(fetch)

    def download(self, source: Path) -> Moved:
        """Save *source* through the Service Worker's stream; done when the file is whole under its name.

        A stream that failed leaves no file, so the wait is bounded: a minute, and a second for each 10 MB.
        """
        self._serve(source)
        size, saved = source.stat().st_size, self.downloads / source.name
        saved.unlink(missing_ok=True)
        timeout_s = 60 + size / 10e6

        def save() -> None:
            self.browser.evaluate(f"window.download({source.name!r}, {size})")
            deadline = time.monotonic() + timeout_s
            while not (saved.exists() and saved.stat().st_size == size):
                if saved.exists() and saved.stat().st_size > size:
                    raise RuntimeError(f"the browser saved {saved.stat().st_size} bytes of a {size}-byte file")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the browser did not save {saved.name} within {timeout_s:.0f} s")
                time.sleep(0.02)

        moved = self._timed(save)
        saved.unlink()
        return moved

    def _serve(self, source: Path) -> None:
        """Serve *source* as /files/{its name}: a name of its own, so no answer of an earlier file is reused."""
        served = self.nginx.www / "files" / source.name
        served.parent.mkdir(exist_ok=True)
        served.unlink(missing_ok=True)
        served.hardlink_to(source)
