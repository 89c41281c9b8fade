"""The app page signs a user in and lists their files, names decrypted in the browser, sorted and filtered."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from coffer.client.coffer import Coffer
from tests.integration.network import Network

PASSWORD = "web-app-user-password"


def test_a_user_signs_in_and_sees_their_files_by_name_sorted_and_filtered(
    web_network: Network, chromium: Any, tmp_path: Path
) -> None:
    name = f"a{os.urandom(3).hex()}"
    web_network.create_user(name, PASSWORD)
    with Coffer.login(web_network.url, name, PASSWORD, config_dir=tmp_path / "config") as owner:
        for file_name, size in (("zebra notes.txt", 1500), ("Ärger.pdf", 20), ("apple.bin", 300_000)):
            source = tmp_path / file_name
            source.write_bytes(os.urandom(size))
            owner.upload(source)
    context = chromium.new_context()
    try:
        page = context.new_page()
        page.goto(web_network.url + "/")
        page.get_by_role("status").filter(has_text="Sign in to see your files").wait_for(timeout=30_000)
        page.get_by_label("User name", exact=True).fill(name)
        page.get_by_label("Password", exact=True).fill("not the password")
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("alert").filter(has_text="user name or password is wrong").wait_for(timeout=30_000)

        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("status").filter(has_text="3 files").wait_for(timeout=30_000)
        table = page.get_by_role("table", name="Your files, decrypted in this browser")
        names = table.get_by_role("rowheader")
        assert names.all_inner_texts() == ["apple.bin", "Ärger.pdf", "zebra notes.txt"], "sorted as people read names"
        assert table.get_by_role("row", name="apple.bin").get_by_role("cell").first.inner_text() == "300.0 kB"

        page.get_by_label("Sort by").select_option("size")
        assert names.all_inner_texts() == ["Ärger.pdf", "zebra notes.txt", "apple.bin"]
        page.get_by_label("Filter by name").fill("NOTES")
        assert names.all_inner_texts() == ["zebra notes.txt"]

        page.get_by_role("button", name="Sign out").click()
        page.get_by_role("status").filter(has_text="Signed out").wait_for(timeout=10_000)
        assert table.is_hidden()
    finally:
        context.close()
