"""Sign a user in on the app page, and what the page tests of uploads and file actions share."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

from coffer.client.coffer import Coffer, FileInfo
from tests.integration.network import Network

PASSWORD = "web-upload-user-password"
CHUNK = 64 * 1024
"""Plaintext bytes per chunk the page uses in these tests (``?chunk-size=``), so a small file is several."""
NO_SAVE_PICKER = "delete window.showSaveFilePicker;"


def new_user(network: Network) -> str:
    name = f"u{os.urandom(3).hex()}"
    network.create_user(name, PASSWORD)
    return name


def saving_context(browser: Any) -> Any:
    """Return a new context of *browser* that saves downloads and, like Firefox or Safari, has no save dialog."""
    context = browser.new_context(accept_downloads=True)
    context.add_init_script(NO_SAVE_PICKER)
    return context


def app_page(browser: Any, url: str, name: str) -> tuple[Any, Any]:
    """Open the app page at *url* in a new saving context of *browser*, signed in as *name*; return both."""
    context = saving_context(browser)
    page = context.new_page()
    page.goto(f"{url}/")
    sign_in(page, name)
    return context, page


def signed_in_page(context: Any, network: Network, name: str, query: str = f"?chunk-size={CHUNK}") -> Any:
    """Open the app page in *context* and sign in as *name*; return the page showing the file list."""
    page = context.new_page()
    page.goto(f"{network.url}/{query}")
    sign_in(page, name)
    return page


def sign_in(page: Any, name: str) -> None:
    """Sign in as *name* on the app page open in *page*, and wait for the file list."""
    page.get_by_role("status").filter(has_text="Sign in to see your files").wait_for(timeout=30_000)
    page.get_by_label("User name", exact=True).fill(name)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Your files").wait_for(timeout=30_000)
    page.locator("body[data-state=files]").wait_for(timeout=30_000)


def drop(page: Any, name: str, data: bytes) -> None:
    """Drop a file of *data* named *name* on the page's drop zone, as a person dragging it would."""
    transfer = page.evaluate_handle(
        """([name, b64]) => {
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            const dt = new DataTransfer();
            dt.items.add(new File([bytes], name, { type: "application/octet-stream" }));
            return dt;
        }""",
        [name, base64.b64encode(data).decode()],
    )
    page.get_by_role("region", name="Drop files here to upload").dispatch_event("drop", {"dataTransfer": transfer})


def wait_uploaded(page: Any, name: str, timeout: float = 60_000) -> None:
    page.get_by_role("status", name=f"Upload status of {name}").filter(has_text="uploaded").wait_for(timeout=timeout)


def by_name(owner: Coffer) -> dict[str, FileInfo]:
    return {f.name: f for f in owner.list() if f.state == "complete"}


def downloaded(owner: Coffer, file_id: str, where: Path) -> bytes:
    """Download *file_id* with the Python client library and return its bytes."""
    return owner.download(file_id, where / f"{file_id}.bin").read_bytes()


def chunk_puts(network: Network, file_id: str) -> int:
    """Count the chunk PUTs of *file_id* that the fileservers stored, from their own transfer log lines."""
    count = 0
    for fs in network.fileservers:
        log = network.root / f"{fs.name}.log"
        for line in log.read_text(errors="replace").splitlines() if log.exists() else []:
            fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
            put = fields.get("event") == "transfer" and fields.get("method") == "PUT"
            if put and fields.get("file") == file_id and fields.get("status", "").startswith("20"):
                count += 1
    return count
