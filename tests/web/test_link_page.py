"""The link page downloads a shared file in a browser with no account, and the link's key never leaves it.

A user uploads with the client library (small chunks, so a file is several) and makes a link;
a fresh browser context, which has never seen the server, opens it in Debian's chromium. Saving
goes through the browser's download (the context has no File System Access API), which the
page uses once the whole file checked out.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from coffer.client.coffer import Coffer
from coffer.client.link_download import download_link
from tests.integration.network import Network

from .app_session import PASSWORD, new_user

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
    coffer = Coffer.login(web_network.url, new_user(web_network), PASSWORD, config_dir=tmp_path_factory.mktemp("owner"))
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
    assert any("/assets/kdf-" in r["url"] for r in visit.requests), "Argon2id ran in the password worker"


def _revoked(network: Network, owner: Coffer, url: str, tmp_path: Path) -> str:
    owner.unlink(url)
    return url


def _expired(network: Network, owner: Coffer, url: str, tmp_path: Path) -> str:
    """A link's expiry is moved into the past in the database, as time would."""
    network.sql("UPDATE links SET expires_at = ? WHERE id = ?", (time.time() - 1, url.split("/s/")[1].split("#")[0]))
    return url


def _used_up(network: Network, owner: Coffer, url: str, tmp_path: Path) -> str:
    download_link(url, tmp_path / "first.bin", state_dir=tmp_path / "state")
    return url


def _key_changed(network: Network, owner: Coffer, url: str, tmp_path: Path) -> str:
    base, key = url.split("#")
    return f"{base}#{key[:10]}{'A' if key[10] != 'A' else 'B'}{key[11:]}"


def _key_cut(network: Network, owner: Coffer, url: str, tmp_path: Path) -> str:
    return url.split("#")[0]


@pytest.mark.parametrize(
    ("spoil", "code", "words"),
    [
        (_revoked, "link_revoked", "revoked by the person who shared it"),
        (_expired, "link_expired", "This link has expired"),
        (_used_up, "link_exhausted", "used for as many downloads as its owner allowed"),
        (_key_changed, "key_mismatch", "does not match this file"),
        (_key_cut, "link_key_missing", "no key after its '#'"),
    ],
)
def test_a_link_that_cannot_work_is_explained_in_words_and_offers_no_download(
    web_network: Network,
    owner: Coffer,
    visit: Visit,
    tmp_path: Path,
    spoil: Callable[[Network, Coffer, str, Path], str],
    code: str,
    words: str,
) -> None:
    file_id, _ = _upload(owner, tmp_path, 10)
    page = visit.open(spoil(web_network, owner, owner.link(file_id, max_downloads=1).url, tmp_path))
    page.get_by_role("alert").filter(has_text=words).wait_for(timeout=30_000)
    assert page.evaluate("document.body.dataset.error") == code
    assert page.get_by_role("button", name="Download").is_hidden()
    if code in ("key_mismatch", "link_key_missing"):
        assert owner.links(file_id)[0].downloads == 0, "a link that cannot decrypt uses up no download"
