"""Take the screenshots of docs/images/: each page of the web app at 1280 and 360 pixels wide.

Run from the checkout with the page's tools installed (``make web``) and Debian's chromium:

    python -m tests.web.screenshots docs/images

It starts a network of its own (a server and two fileservers on 127.0.0.1), signs a user in,
and shows the sign-in page, the file list, an upload in progress (uploads slowed down through
the DevTools protocol so one can be caught moving) and a link page. Every process it starts is
stopped by its own PID at the end.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from playwright.sync_api import sync_playwright

from coffer.client.coffer import Coffer
from tests.integration.network import start_network

from .app_session import CHUNK, PASSWORD, new_user, sign_in
from .browser import CHROMIUM_ARGS, build, chromium_path
from .test_upload_page import throttle, wait_progress

WIDTHS = {"wide": 1280, "narrow": 360}
FILES = {"Quarterly report.pdf": 2_400_000, "Team photo.jpg": 850_000, "notes.txt": 4_200}


def _shots(browser: Any, url: str, user: str, link: str, big: Path, out: Path, label: str, width: int) -> None:
    context = browser.new_context(viewport={"width": width, "height": 900 if width > 400 else 780})
    try:
        page = context.new_page()
        page.goto(f"{url}/?chunk-size={CHUNK}")
        page.get_by_role("status").filter(has_text="Sign in to see your files").wait_for(timeout=30_000)
        page.screenshot(path=out / f"login-{label}.png")
        sign_in(page, user)
        page.screenshot(path=out / f"files-{label}.png", full_page=True)
        throttle(context, page, 400_000)
        page.get_by_label("Choose files to upload").set_input_files(str(big))
        wait_progress(page, big.name, 0.3)
        page.get_by_role("list", name="Uploads").scroll_into_view_if_needed()
        page.screenshot(path=out / f"upload-{label}.png")
        page.get_by_role("button", name=f"Cancel upload of {big.name}").click()
        link_page = context.new_page()
        link_page.goto(link)
        link_page.get_by_role("status").filter(has_text="Ready to download").wait_for(timeout=30_000)
        link_page.screenshot(path=out / f"link-{label}.png")
    finally:
        context.close()


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="coffer-shots-") as tmp:
        root = Path(tmp)
        dist = build(root / "dist")
        net = start_network(root / "net", 2, server_extra={"COFFER_WEB_DIR": str(dist)})
        try:
            user = new_user(net)
            with Coffer.login(net.url, user, PASSWORD, config_dir=root / "config") as owner:
                for name, size in FILES.items():
                    (root / name).write_bytes(os.urandom(size))
                    uploaded = owner.upload(root / name, chunk_size=CHUNK)
                link = owner.link(uploaded.file_id, expires_in=7 * 86400).url
            big = root / "Holiday video.mp4"
            big.write_bytes(os.urandom(6_000_000))
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
                try:
                    for label, width in WIDTHS.items():
                        _shots(browser, net.url, user, link, big, out, label, width)
                finally:
                    browser.close()
        finally:
            net.stop()


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/images"))
