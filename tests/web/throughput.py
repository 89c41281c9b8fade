"""Measure the page's upload and download throughput beside the CLI's, one network, one file: a quick look.

    python -m tests.web.throughput WORK_DIR [MEGABYTES]

Starts a server and two fileservers on 127.0.0.1 under WORK_DIR, uploads and downloads a random
file of MEGABYTES (default 64) twice with the Python client and twice through the app page in
headless chromium (default chunk size), and prints MB/s of each run. The page's figures include
Playwright's own instrumentation of the page, so they are a lower bound of what a person gets.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

from coffer.client.coffer import Coffer
from tests.integration.network import start_network

from .app_session import PASSWORD, app_page, new_user, wait_uploaded
from .browser import CHROMIUM_ARGS, build, chromium_path

ROUNDS = 2


def _rate(size: int, started: float) -> float:
    return round(size / (time.perf_counter() - started) / 1e6, 1)


def main(root: Path, size: int) -> dict[str, list[float]]:
    dist = build(root / "dist")
    net = start_network(root / "net", 2, server_extra={"COFFER_WEB_DIR": str(dist)})
    rates: dict[str, list[float]] = {"cli up": [], "cli down": [], "page up": [], "page down": []}
    try:
        user = new_user(net)
        sources = [root / f"run{r}.bin" for r in range(ROUNDS)]
        data = os.urandom(size)
        for source in sources:
            source.write_bytes(data)
        with Coffer.login(net.url, user, PASSWORD, config_dir=root / "config") as owner:
            for r, source in enumerate(sources):
                started = time.perf_counter()
                uploaded = owner.upload(source, name=f"cli{r}.bin")
                rates["cli up"].append(_rate(size, started))
                started = time.perf_counter()
                owner.download(uploaded.file_id, root / f"cli-copy{r}.bin")
                rates["cli down"].append(_rate(size, started))
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
            _, page = app_page(browser, net.url, user)
            for source in sources:
                started = time.perf_counter()
                page.get_by_label("Choose files to upload").set_input_files(str(source))
                wait_uploaded(page, source.name, 600_000)
                rates["page up"].append(_rate(size, started))
            page.get_by_role("rowheader", name=sources[0].name).wait_for()
            for r in range(ROUNDS):
                started = time.perf_counter()
                with page.expect_download(timeout=600_000) as download:
                    page.get_by_role("button", name=f"Download {sources[0].name}").click()
                download.value.save_as(root / f"page-copy{r}.bin")
                rates["page down"].append(_rate(size, started))
            browser.close()
    finally:
        net.stop()
    return rates


if __name__ == "__main__":
    megabytes = int(sys.argv[2]) if len(sys.argv) > 2 else 64
    print(main(Path(sys.argv[1]), megabytes * 1_000_000))
