"""The link page downloads a shared file in a browser with no account, and the link's key never leaves it.

A user uploads with the client library (small chunks, so a file is several) and makes a link;
a fresh browser context, which has never seen the server, opens it in Debian's chromium. Saving
goes through the browser's download (the context has no File System Access API), which the
page uses once the whole file checked out.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from coffer.client.coffer import Coffer
from tests.integration.network import Network

PASSWORD = "web-link-user-password"
CHUNK = 64 * 1024
NO_SAVE_PICKER = "delete window.showSaveFilePicker;"


@dataclass
class Visit:
    """A browser context with no account, and every request it made."""

    context: Any
    requests: list[dict[str, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def open(self, url: str) -> Any:
        page = self.context.new_page()
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.goto(url)
        return page


@pytest.fixture(scope="module")
def owner(web_network: Network, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Coffer]:
    name = f"w{os.urandom(3).hex()}"
    web_network.create_user(name, PASSWORD)
    coffer = Coffer.login(web_network.url, name, PASSWORD, config_dir=tmp_path_factory.mktemp("owner"))
    try:
        yield coffer
    finally:
        coffer.close()


@pytest.fixture
def visit(chromium: Any) -> Iterator[Visit]:
    context = chromium.new_context(accept_downloads=True)
    context.add_init_script(NO_SAVE_PICKER)
    seen = Visit(context)
    context.on("request", lambda r: seen.requests.append({"url": r.url, **r.all_headers()}))
    try:
        yield seen
    finally:
        context.close()


def _upload(owner: Coffer, tmp_path: Path, size: int) -> tuple[str, bytes]:
    source = tmp_path / f"plans-{os.urandom(2).hex()}.bin"
    data = os.urandom(size)
    source.write_bytes(data)
    return owner.upload(source, chunk_size=CHUNK).file_id, data


def _download(page: Any, tmp_path: Path) -> bytes:
    page.get_by_role("status").filter(has_text="Ready to download").wait_for(timeout=30_000)
    with page.expect_download(timeout=30_000) as started:
        page.get_by_role("button", name="Download").click()
    saved = tmp_path / "saved.bin"
    started.value.save_as(saved)
    page.get_by_role("status").filter(has_text="Downloaded and checked").wait_for(timeout=10_000)
    return saved.read_bytes()


def test_a_link_downloads_byte_identical_with_no_account_and_its_key_reaches_no_server(
    web_network: Network, owner: Coffer, visit: Visit, tmp_path: Path
) -> None:
    file_id, data = _upload(owner, tmp_path, 3 * CHUNK + 1001)
    url = owner.link(file_id).url
    key = url.split("#", 1)[1]
    page = visit.open(url)
    assert page.get_by_role("heading", name="A file shared with you").is_visible()
    assert _download(page, tmp_path) == data
    assert page.locator("#file-name").inner_text().startswith("plans-")
    assert visit.errors == []

    chunk_gets = [r for r in visit.requests if "/api/chunks/" in r["url"]]
    assert len(chunk_gets) >= 4, "the browser fetched every chunk from the fileservers itself"
    assert any("/assets/chunks-" in r["url"] for r in visit.requests), "chunks were opened in the worker"
    for request in visit.requests:
        assert key not in request["url"] and "#" not in request["url"], request["url"]
        assert "referer" not in request, request["url"]
    for log in web_network.root.glob("*.log"):
        assert key not in log.read_text(errors="replace"), log.name


def test_a_locked_link_explains_a_wrong_password_then_opens_with_the_right_one(
    owner: Coffer, visit: Visit, tmp_path: Path
) -> None:
    file_id, data = _upload(owner, tmp_path, CHUNK + 1)
    page = visit.open(owner.link(file_id, password="Zoë's link ☂").url)
    password = page.get_by_label("Password for this link")
    password.fill("Zoe's link ☂")
    page.get_by_role("button", name="Unlock").click()
    page.get_by_role("alert").filter(has_text="The password is wrong").wait_for(timeout=30_000)
    password.fill("Zoë's link ☂")
    page.get_by_role("button", name="Unlock").click()
    assert _download(page, tmp_path) == data


def test_a_revoked_link_says_so_in_words(owner: Coffer, visit: Visit, tmp_path: Path) -> None:
    file_id, _ = _upload(owner, tmp_path, 10)
    url = owner.link(file_id).url
    owner.unlink(url)
    page = visit.open(url)
    alert = page.get_by_role("alert")
    alert.filter(has_text="revoked by the person who shared it").wait_for(timeout=30_000)
    assert page.get_by_role("button", name="Download").is_hidden()
