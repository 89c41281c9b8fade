"""A download cut by a reload or a closed tab resumes, fetching only the chunks it lacks.

The page stages each fetched chunk (sealed, as the fileservers hold it) in the Origin Private File
System and records in IndexedDB how many, from the first, are kept. The same link opened again
offers "Resume download": the staged chunks are read back, opened and hashed again, only the rest
are fetched, and once the whole file checked out it is saved and the staged copy deleted. The
chunk GETs are counted as the browser sends them (Playwright's request events).
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any

from coffer.client.coffer import Coffer
from tests.integration.network import Network

from .app_session import CHUNK, PASSWORD, new_user, sign_in

CHUNKS = 24
STAGED = """async () => {
    const root = await navigator.storage.getDirectory();
    const names = [];
    try {
        const dir = await root.getDirectoryHandle("downloads");
        for await (const name of dir.keys()) names.push(name);
    } catch (error) {
        if (error.name !== "NotFoundError") throw error;
    }
    const db = await new Promise((resolve, reject) => {
        const req = indexedDB.open("coffer");
        req.onsuccess = () => resolve(req.result);
        req.onerror = () => reject(req.error);
    });
    const records = await new Promise((resolve, reject) => {
        const req = db.transaction("downloads").objectStore("downloads").getAll();
        req.onsuccess = () => resolve(req.result);
        req.onerror = () => reject(req.error);
    });
    db.close();
    return { files: names, records: records.map((r) => ({ staged: r.staged, chunks: r.chunks, fileId: r.fileId })) };
}"""


class ChunkGets:
    """Count the chunk GETs the browser sends, from every page of a context."""

    def __init__(self, context: Any) -> None:
        self.urls: list[str] = []
        context.on("request", self._seen)

    def _seen(self, request: Any) -> None:
        if request.method == "GET" and "/api/chunks/" in request.url:
            self.urls.append(request.url)


def _slowed(context: Any, page: Any) -> Any:
    """Throttle *page*'s downloads so a test can act while one runs; return the DevTools session."""
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": 256 * 1024, "uploadThroughput": -1},
    )
    return cdp


def _open_link(context: Any, url: str, ready: str) -> Any:
    page = context.new_page()
    page.goto(url, timeout=60_000, wait_until="commit")  # the status below says the page ran
    page.get_by_role("status").filter(has_text=ready).wait_for(timeout=60_000)
    return page


def _signed_in(context: Any, network: Network, name: str) -> Any:
    page = context.new_page()
    page.goto(f"{network.url}/?chunk-size={CHUNK}", timeout=60_000, wait_until="commit")
    sign_in(page, name)
    return page


def _reloaded(page: Any, cdp: Any, url: str) -> None:
    """Reload *page* at *url* (cutting what it was doing) and lift the throttle of *cdp*."""
    page.goto("about:blank")
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
    )
    page.goto(url, timeout=60_000, wait_until="commit")


def test_a_link_download_cut_by_a_reload_resumes_fetching_only_the_missing_chunks(
    owner: Coffer, context: Any, tmp_path: Path
) -> None:
    source = tmp_path / "big.bin"
    data = os.urandom(CHUNKS * CHUNK + 3)
    source.write_bytes(data)
    file_id = owner.upload(source, chunk_size=CHUNK).file_id
    url = owner.link(file_id).url
    gets = ChunkGets(context)

    page = _open_link(context, url, "Ready to download")
    cdp = _slowed(context, page)
    page.get_by_role("button", name="Download").click()
    _staged_at_least(page, 8)
    _reloaded(page, cdp, url)
    page.get_by_role("status").filter(has_text="Ready to resume").wait_for(timeout=60_000)
    before = page.evaluate(STAGED)
    assert len(before["files"]) == 1 and len(before["records"]) == 1, before
    staged = before["records"][0]["staged"]
    chunks = CHUNKS + 1
    assert 0 < staged < chunks
    said = re.search(r"(\d+) of (\d+) parts", page.get_by_role("status").inner_text())
    assert said is not None and (int(said[1]), int(said[2])) == (staged, chunks)
    fetched_before = len(gets.urls)

    with page.expect_download(timeout=60_000) as started:
        page.get_by_role("button", name="Resume download").click()
    saved = tmp_path / "saved.bin"
    started.value.save_as(saved)
    page.get_by_role("status").filter(has_text="Downloaded and checked").wait_for(timeout=60_000)
    assert saved.read_bytes() == data
    assert page.locator("body").get_attribute("data-saver") == "stream"
    resumed = gets.urls[fetched_before:]
    assert len(resumed) == chunks - staged, "only the chunks not staged were fetched after the reload"
    assert len(set(resumed)) == len(resumed)


def test_the_staged_copy_is_deleted_once_the_file_is_saved(owner: Coffer, context: Any, tmp_path: Path) -> None:
    source = tmp_path / "small.bin"
    data = os.urandom(5 * CHUNK + 9)
    source.write_bytes(data)
    url = owner.link(owner.upload(source, chunk_size=CHUNK).file_id).url
    page = _open_link(context, url, "Ready to download")
    with page.expect_download(timeout=30_000) as started:
        page.get_by_role("button", name="Download").click()
    saved = tmp_path / "saved.bin"
    started.value.save_as(saved)
    page.get_by_role("status").filter(has_text="Downloaded and checked").wait_for(timeout=30_000)
    assert saved.read_bytes() == data
    assert page.evaluate(STAGED) == {"files": [], "records": []}


def _staged_at_least(page: Any, count: int, within_s: float = 60) -> dict[str, Any]:
    """Poll the page's IndexedDB until one staged download holds *count* chunks; return what is staged."""
    deadline = time.monotonic() + within_s
    while True:
        seen = page.evaluate(STAGED)
        if seen["records"] and seen["records"][0]["staged"] >= count:
            return dict(seen)
        assert time.monotonic() < deadline, f"no download staged {count} chunks: {seen}"
        page.wait_for_timeout(200)


def test_an_own_download_cut_by_a_reload_resumes_after_signing_in_again(
    web_network: Network, context: Any, tmp_path: Path
) -> None:
    name = new_user(web_network)
    data = os.urandom(CHUNKS * CHUNK + 11)
    source = tmp_path / "mine.bin"
    source.write_bytes(data)
    with Coffer.login(web_network.url, name, PASSWORD, config_dir=tmp_path / "config") as owner:
        owner.upload(source, chunk_size=CHUNK)
    gets = ChunkGets(context)
    page = _signed_in(context, web_network, name)
    cdp = _slowed(context, page)
    page.get_by_role("button", name="Download mine.bin").click()
    _staged_at_least(page, 8)
    _reloaded(page, cdp, f"{web_network.url}/?chunk-size={CHUNK}")
    sign_in(page, name)
    staged = page.evaluate(STAGED)["records"][0]["staged"]
    fetched_before = len(gets.urls)
    with page.expect_download(timeout=60_000) as started:
        page.get_by_role("button", name="Resume the download of mine.bin").click()
    saved = tmp_path / "saved.bin"
    started.value.save_as(saved)
    page.get_by_role("status").filter(has_text="Downloaded and checked mine.bin").wait_for(timeout=60_000)
    assert saved.read_bytes() == data
    assert len(gets.urls[fetched_before:]) == CHUNKS + 1 - staged, "only the chunks not staged were fetched"
    assert page.evaluate(STAGED) == {"files": [], "records": []}
    page.get_by_role("button", name="Download mine.bin").wait_for(timeout=10_000)


def test_signing_out_deletes_the_users_staged_downloads(web_network: Network, context: Any, tmp_path: Path) -> None:
    name = new_user(web_network)
    source = tmp_path / "mine.bin"
    source.write_bytes(os.urandom(CHUNKS * CHUNK))
    with Coffer.login(web_network.url, name, PASSWORD, config_dir=tmp_path / "config") as owner:
        owner.upload(source, chunk_size=CHUNK)
    page = _signed_in(context, web_network, name)
    cdp = _slowed(context, page)
    page.get_by_role("button", name="Download mine.bin").click()
    _staged_at_least(page, 2)
    _reloaded(page, cdp, f"{web_network.url}/?chunk-size={CHUNK}")
    sign_in(page, name)
    assert len(page.evaluate(STAGED)["files"]) == 1
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("status").filter(has_text="Signed out").wait_for(timeout=10_000)
    deadline = time.monotonic() + 30
    while page.evaluate(STAGED) != {"files": [], "records": []}:
        assert time.monotonic() < deadline, page.evaluate(STAGED)
        page.wait_for_timeout(200)


def test_a_download_the_browsers_quota_cannot_hold_streams_unstaged_and_leaves_nothing_staged(
    owner: Coffer, context: Any, tmp_path: Path
) -> None:
    source = tmp_path / "small.bin"
    data = os.urandom(5 * CHUNK + 9)
    source.write_bytes(data)
    url = owner.link(owner.upload(source, chunk_size=CHUNK).file_id).url
    context.add_init_script("StorageManager.prototype.estimate = async () => ({ quota: 1 << 20, usage: 0 });")
    page = context.new_page()
    page.goto(url, timeout=60_000, wait_until="commit")
    page.get_by_role("status").filter(has_text="Ready to download").wait_for(timeout=60_000)
    with page.expect_download(timeout=30_000) as started:
        page.get_by_role("button", name="Download").click()
    saved = tmp_path / "saved.bin"
    started.value.save_as(saved)
    page.get_by_role("status").filter(has_text="Downloaded and checked").wait_for(timeout=30_000)
    assert saved.read_bytes() == data
    assert page.locator("body").get_attribute("data-staged") == "no-room"
    assert page.evaluate(STAGED) == {"files": [], "records": []}


ALTER_STAGED = """async () => {
    const root = await navigator.storage.getDirectory();
    const dir = await root.getDirectoryHandle("downloads");
    for await (const handle of dir.values()) {
        const first = new Uint8Array(await (await handle.getFile()).slice(100, 101).arrayBuffer());
        const writable = await handle.createWritable({ keepExistingData: true });
        await writable.write({ type: "write", position: 100, data: new Uint8Array([first[0] ^ 1]) });
        await writable.close();
    }
}"""


def test_a_staged_chunk_altered_on_disk_is_fetched_again_and_the_file_still_checks_out(
    owner: Coffer, context: Any, tmp_path: Path
) -> None:
    source = tmp_path / "big.bin"
    data = os.urandom(CHUNKS * CHUNK + 3)
    source.write_bytes(data)
    url = owner.link(owner.upload(source, chunk_size=CHUNK).file_id).url
    gets = ChunkGets(context)
    page = _open_link(context, url, "Ready to download")
    cdp = _slowed(context, page)
    page.get_by_role("button", name="Download").click()
    _staged_at_least(page, 4)
    _reloaded(page, cdp, url)
    page.get_by_role("status").filter(has_text="Ready to resume").wait_for(timeout=60_000)
    staged = page.evaluate(STAGED)["records"][0]["staged"]
    page.evaluate(ALTER_STAGED)  # one byte of chunk 0, as the stage holds it
    fetched_before = len(gets.urls)
    with page.expect_download(timeout=60_000) as started:
        page.get_by_role("button", name="Resume download").click()
    saved = tmp_path / "saved.bin"
    started.value.save_as(saved)
    page.get_by_role("status").filter(has_text="Downloaded and checked").wait_for(timeout=60_000)
    assert saved.read_bytes() == data
    assert len(gets.urls[fetched_before:]) == CHUNKS + 1 - staged + 1, "the altered chunk, and those not staged"
