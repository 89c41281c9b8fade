"""Downloads stream to disk through the page's Service Worker where the File System Access API is missing.

The context has no `showSaveFilePicker` (as in Firefox, Safari, or headless chromium): the page
hands each checked chunk to its Service Worker, which answers a download address with a stream,
so the browser writes the file as it arrives and the page never holds it whole. The download
address never reaches the server. On a failed check the stream is errored: the browser's
download fails, no file is saved under its name, and the page says why.

By default the page stages a download first (test_download_resume.py) and opens the stream only
once the whole file checked out; in a browser without the Origin Private File System (or a
download that does not fit the browser's quota) each chunk streams as it arrives.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from coffer.client.coffer import Coffer
from tests.integration.network import Network, chunk_files

from .app_session import CHUNK
from .test_download_resume import STAGED


def _link(owner: Coffer, tmp_path: Path, size: int) -> tuple[str, str, bytes]:
    """Upload *size* random bytes in small chunks; return the file's id, a link to it, and the bytes."""
    source = tmp_path / f"stream-{os.urandom(2).hex()}.bin"
    data = os.urandom(size)
    source.write_bytes(data)
    file_id = owner.upload(source, chunk_size=CHUNK).file_id
    return file_id, owner.link(file_id).url, data


def _ready(context: Any, url: str) -> Any:
    """Open the link page at *url* and wait until it offers the download."""
    page = context.new_page()
    page.goto(url)
    page.get_by_role("status").filter(has_text="Ready to download").wait_for(timeout=30_000)
    return page


def _server_paths(network: Network) -> list[str]:
    log = network.root / "server.log"
    return [part for line in log.read_text(errors="replace").splitlines() for part in line.split() if "route=" in part]


def test_a_download_streams_through_the_service_worker_and_arrives_byte_identical(
    web_network: Network, owner: Coffer, context: Any, tmp_path: Path
) -> None:
    _, url, data = _link(owner, tmp_path, 5 * CHUNK + 77)
    page = _ready(context, url)
    with page.expect_download(timeout=30_000) as started:
        page.get_by_role("button", name="Download").click()
    saved = tmp_path / "saved.bin"
    started.value.save_as(saved)
    page.get_by_role("status").filter(has_text="Downloaded and checked").wait_for(timeout=30_000)
    assert saved.read_bytes() == data
    assert page.locator("body").get_attribute("data-saver") == "stream"
    assert started.value.url.split("/")[3] == "dl"
    assert not [p for p in _server_paths(web_network) if "/dl/" in p], "the Service Worker answered the download"


NO_OPFS = "delete StorageManager.prototype.getDirectory;"


def _alter_every_copy(network: Network, file_id: str) -> None:
    for fs in network.fileservers:
        for path in chunk_files(fs, file_id):
            body = bytearray(path.read_bytes())
            body[len(body) // 2] ^= 0x01
            path.write_bytes(bytes(body))


def test_a_chunk_that_fails_its_check_fails_the_browsers_download_and_the_page_says_so(
    web_network: Network, owner: Coffer, context: Any, tmp_path: Path
) -> None:
    file_id, url, _ = _link(owner, tmp_path, 4 * CHUNK + 5)
    _alter_every_copy(web_network, file_id)
    context.add_init_script(NO_OPFS)
    page = _ready(context, url)
    with page.expect_download(timeout=30_000) as started:
        page.get_by_role("button", name="Download").click()
    page.get_by_role("alert").wait_for(timeout=60_000)
    assert page.locator("body").get_attribute("data-saver") == "stream"
    assert started.value.failure() is not None, "the browser's download failed: nothing under the file's name"
    with pytest.raises(Exception, match="canceled|failed|interrupted"):
        started.value.save_as(tmp_path / "never.bin")
    assert not (tmp_path / "never.bin").exists()
    assert "cannot be downloaded" in page.get_by_role("status").inner_text()


def test_a_staged_download_that_fails_its_check_never_starts_the_browsers_download(
    web_network: Network, owner: Coffer, context: Any, tmp_path: Path
) -> None:
    file_id, url, _ = _link(owner, tmp_path, 4 * CHUNK + 5)
    _alter_every_copy(web_network, file_id)
    downloads: list[Any] = []
    context.on("download", lambda download: downloads.append(download))
    page = _ready(context, url)
    page.get_by_role("button", name="Download").click()
    page.get_by_role("alert").wait_for(timeout=60_000)
    assert "cannot be downloaded" in page.get_by_role("status").inner_text()
    assert downloads == [], "nothing was handed to the browser's download"
    assert page.evaluate(STAGED) == {"files": [], "records": []}, "the staged copy was deleted"


def test_a_download_cut_by_a_lost_network_waits_and_completes_when_it_returns(
    web_network: Network, owner: Coffer, context: Any, tmp_path: Path
) -> None:
    _, url, data = _link(owner, tmp_path, 24 * CHUNK + 3)
    page = _ready(context, url)
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    slow = {"offline": False, "latency": 0, "downloadThroughput": 256 * 1024, "uploadThroughput": -1}
    cdp.send("Network.emulateNetworkConditions", slow)
    # A staged download hands the file to the browser's download only once it checked out.
    with page.expect_download(timeout=120_000) as started:
        page.get_by_role("button", name="Download").click()
        bar = page.get_by_label("Download progress").element_handle()
        page.wait_for_function("(bar) => bar.value > 0.2", arg=bar, timeout=60_000)
        context.set_offline(True)
        page.wait_for_timeout(3_000)  # proving a negative: nothing finishes, nothing fails, while offline
        assert page.locator("body").get_attribute("data-state") == "downloading"
        assert page.evaluate("(bar) => bar.value", bar) < 1
        context.set_offline(False)
        cdp.send("Network.emulateNetworkConditions", {**slow, "downloadThroughput": -1})
    saved = tmp_path / "saved.bin"
    started.value.save_as(saved)
    page.get_by_role("status").filter(has_text="Downloaded and checked").wait_for(timeout=60_000)
    assert saved.read_bytes() == data
