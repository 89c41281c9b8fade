"""The app page's file actions, each through the page: delete, link and copy, share with a user, change password.

The recipient of a share sees the file in their list, shared by its owner, and downloads it in the page.

Files are uploaded with the Python client (it is quicker), and each action's result is checked
with the Python client too: the link downloads, the recipient opens the share, the new password logs in.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from coffer.client import errors
from coffer.client.coffer import Coffer
from coffer.client.link_download import download_link
from coffer.format.errors import LinkPasswordWrong
from tests.integration.network import Network

from .app_session import CHUNK, NO_SAVE_PICKER, PASSWORD, downloaded, new_user, signed_in_page


@pytest.fixture
def context(chromium: Any) -> Iterator[Any]:
    context = chromium.new_context()
    context.add_init_script(NO_SAVE_PICKER)
    try:
        yield context
    finally:
        context.close()


def _owner_with_file(network: Network, tmp_path: Path, file_name: str) -> tuple[str, str, bytes]:
    """Make a user with one uploaded file; return their name, the file's id and its bytes."""
    name = new_user(network)
    data = os.urandom(150_000)
    source = tmp_path / file_name
    source.write_bytes(data)
    with Coffer.login(network.url, name, PASSWORD, config_dir=tmp_path / f"config-{name}") as owner:
        file_id = owner.upload(source, chunk_size=CHUNK).file_id
    return name, file_id, data


def test_delete_removes_the_file_from_the_list_and_the_server(
    web_network: Network, context: Any, tmp_path: Path
) -> None:
    name, file_id, _ = _owner_with_file(web_network, tmp_path, "old draft.txt")
    page = signed_in_page(context, web_network, name)
    table = page.get_by_role("table", name="Your files, decrypted in this browser")
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_role("button", name="Delete old draft.txt").click()
    assert table.get_by_role("rowheader", name="old draft.txt").is_visible(), "dismissing the question keeps it"
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete old draft.txt").click()
    page.get_by_role("status").filter(has_text="Deleted old draft.txt").wait_for(timeout=10_000)
    table.get_by_role("rowheader", name="old draft.txt").wait_for(state="detached", timeout=10_000)
    with Coffer.login(web_network.url, name, PASSWORD, config_dir=tmp_path / "check") as owner:
        assert file_id not in {f.id for f in owner.list()}


def test_a_link_made_with_expiry_limit_and_password_is_copied_and_downloads(
    web_network: Network, chromium: Any, tmp_path: Path
) -> None:
    name, file_id, data = _owner_with_file(web_network, tmp_path, "report.pdf")
    context = chromium.new_context(permissions=["clipboard-read", "clipboard-write"])
    try:
        page = signed_in_page(context, web_network, name)
        page.get_by_role("button", name="Make a link to report.pdf").click()
        dialog = page.get_by_role("dialog", name="Make a link")
        dialog.get_by_label("Expires in (days)").fill("2")
        dialog.get_by_label("Maximum downloads").fill("1")
        dialog.get_by_label("Password (optional)").fill("link secret")
        dialog.get_by_role("button", name="Make link").click()
        url = dialog.get_by_label("Link", exact=True)
        url.wait_for(timeout=30_000)
        dialog.get_by_role("button", name="Copy link").click()
        dialog.get_by_role("status").filter(has_text="Copied").wait_for(timeout=5_000)
        copied = page.evaluate("navigator.clipboard.readText()")
        assert copied == url.input_value() and f"{web_network.url}/s/" in copied and "#v1.p." in copied
    finally:
        context.close()
    with Coffer.login(web_network.url, name, PASSWORD, config_dir=tmp_path / "check") as owner:
        (link,) = owner.links(file_id)
        assert link.protected and link.max_downloads == 1
        assert 2 * 86400 - 120 < link.expires_at - link.created_at <= 2 * 86400
    with pytest.raises(LinkPasswordWrong):
        download_link(copied, tmp_path / "wrong.bin", password="not it")
    assert download_link(copied, tmp_path / "got.bin", password="link secret").path.read_bytes() == data


def test_sharing_shows_the_recipients_fingerprint_pins_it_and_the_recipient_opens_the_file(
    web_network: Network, context: Any, chromium: Any, tmp_path: Path
) -> None:
    name, file_id, data = _owner_with_file(web_network, tmp_path, "plans.odt")
    friend = new_user(web_network)
    with Coffer.login(web_network.url, friend, PASSWORD, config_dir=tmp_path / "friend") as recipient:
        expected = recipient.fingerprint
        page = signed_in_page(context, web_network, name)
        page.get_by_role("button", name="Share plans.odt").click()
        dialog = page.get_by_role("dialog", name="Share with a user")
        dialog.get_by_label("Recipient").fill(friend)
        dialog.get_by_role("button", name="Look up their key").click()
        shown = dialog.get_by_label("Their key's fingerprint")
        dialog.get_by_role("status").filter(has_text="You have not shared with them before").wait_for(timeout=10_000)
        assert shown.inner_text() == expected
        dialog.get_by_role("button", name="Share", exact=True).click()
        page.get_by_role("status").filter(has_text=f"Shared plans.odt with {friend}").wait_for(timeout=10_000)

        (shared,) = recipient.list(shared=True)
        assert shared.id == file_id and shared.owner == name
        assert downloaded(recipient, file_id, tmp_path) == data

        page.get_by_role("button", name="Share plans.odt").click()
        dialog.get_by_label("Recipient").fill(friend)
        dialog.get_by_role("button", name="Look up their key").click()
        dialog.get_by_role("status").filter(has_text="The same key as when you last shared").wait_for(timeout=10_000)

    theirs = chromium.new_context(accept_downloads=True)
    theirs.add_init_script(NO_SAVE_PICKER)
    try:
        page = signed_in_page(theirs, web_network, friend)
        row = page.get_by_role("row", name="plans.odt")
        assert row.get_by_role("cell", name=f"shared by {name}").is_visible()
        assert row.get_by_role("button", name="Delete plans.odt").count() == 0, "only its owner can delete it"
        with page.expect_download(timeout=30_000) as started:
            row.get_by_role("button", name="Download plans.odt").click()
        started.value.save_as(tmp_path / "from the page.odt")
        assert (tmp_path / "from the page.odt").read_bytes() == data
    finally:
        theirs.close()


def test_changing_the_password_in_the_page_lets_the_new_one_log_in_and_not_the_old(
    web_network: Network, context: Any, tmp_path: Path
) -> None:
    name, file_id, data = _owner_with_file(web_network, tmp_path, "keep.bin")
    page = signed_in_page(context, web_network, name)
    page.locator("summary").filter(has_text="Change password").click()
    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_label("New password", exact=True).fill("a brand new password")
    page.get_by_label("New password again").fill("a brand new password")
    page.get_by_role("button", name="Change password").click()
    page.get_by_role("status").filter(has_text="Your password was changed").wait_for(timeout=30_000)
    with pytest.raises(errors.ClientError):
        Coffer.login(web_network.url, name, PASSWORD, config_dir=tmp_path / "old")
    with Coffer.login(web_network.url, name, "a brand new password", config_dir=tmp_path / "new") as owner:
        assert downloaded(owner, file_id, tmp_path) == data
