"""The app page uploads files encrypted in the browser; the Python client downloads them byte-identical.

Chunks are 64 KiB here (``?chunk-size=``), so a file of a few hundred kilobytes is several chunks
spread over the two fileservers; the sizes cover the edges of the format (0 B, 1 B, one chunk and
one byte more).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from coffer.client.coffer import Coffer
from tests.integration.network import Network

from .app_session import (
    CHUNK,
    NO_SAVE_PICKER,
    PASSWORD,
    by_name,
    chunk_puts,
    downloaded,
    drop,
    new_user,
    sign_in,
    signed_in_page,
    wait_uploaded,
)


@pytest.fixture
def context(chromium: Any) -> Iterator[Any]:
    context = chromium.new_context(accept_downloads=True)
    context.add_init_script(NO_SAVE_PICKER)
    try:
        yield context
    finally:
        context.close()


def test_files_chosen_and_dropped_upload_and_download_byte_identical_with_the_python_client(
    web_network: Network, context: Any, tmp_path: Path
) -> None:
    name = new_user(web_network)
    page = signed_in_page(context, web_network, name)
    contents = {
        "empty.bin": b"",
        "one byte.txt": b"x",
        "chunk and one.bin": os.urandom(CHUNK + 1),
        "several chunks.bin": os.urandom(2 * 1024 * 1024 + 12345),
    }
    for file_name, data in contents.items():
        (tmp_path / file_name).write_bytes(data)
    page.get_by_label("Choose files to upload").set_input_files([str(tmp_path / n) for n in contents])
    dropped = os.urandom(1_500_000)
    drop(page, "dropped.bin", dropped)
    for file_name in [*contents, "dropped.bin"]:
        wait_uploaded(page, file_name)
    page.get_by_role("status", name="Total upload status").filter(has_text="All uploads ended").wait_for(timeout=10_000)
    assert page.get_by_label("Total upload progress").evaluate("p => p.value") == 1
    table = page.get_by_role("table", name="Your files, decrypted in this browser")
    table.get_by_role("rowheader", name="dropped.bin").wait_for(timeout=10_000)

    with Coffer.login(web_network.url, name, PASSWORD, config_dir=tmp_path / "config") as owner:
        stored = by_name(owner)
        assert sorted(stored) == sorted([*contents, "dropped.bin"])
        for file_name, data in [*contents.items(), ("dropped.bin", dropped)]:
            assert downloaded(owner, stored[file_name].id, tmp_path) == data, file_name
        assert stored["several chunks.bin"].chunk_count == 33


def test_a_file_the_cli_uploaded_downloads_from_the_app_page_for_its_owner(
    web_network: Network, context: Any, tmp_path: Path
) -> None:
    name = new_user(web_network)
    data = os.urandom(300_000)
    source = tmp_path / "from the cli.bin"
    source.write_bytes(data)
    with Coffer.login(web_network.url, name, PASSWORD, config_dir=tmp_path / "config") as owner:
        owner.upload(source, chunk_size=CHUNK)
    page = signed_in_page(context, web_network, name)
    with page.expect_download(timeout=30_000) as started:
        page.get_by_role("button", name="Download from the cli.bin").click()
    saved = tmp_path / "saved.bin"
    started.value.save_as(saved)
    assert saved.read_bytes() == data
    page.get_by_role("status").filter(has_text="Downloaded and checked from the cli.bin").wait_for(timeout=10_000)


def throttle(context: Any, page: Any, upload_bytes_per_s: int) -> Any:
    """Slow the page's uploads down (Chrome DevTools Protocol), so a test can act while one runs; -1 lifts it."""
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    conditions = {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": upload_bytes_per_s}
    cdp.send("Network.emulateNetworkConditions", conditions)
    return cdp


def wait_progress(page: Any, name: str, above: float) -> None:
    bar = page.get_by_label(f"Upload progress of {name}").element_handle()
    page.wait_for_function("([bar, above]) => bar.value > above", arg=[bar, above], timeout=30_000)


def test_an_upload_pauses_resumes_and_after_a_reload_sends_only_the_missing_chunks(
    web_network: Network, context: Any, tmp_path: Path
) -> None:
    name = new_user(web_network)
    data = os.urandom(48 * CHUNK)
    source = tmp_path / "long.bin"
    source.write_bytes(data)
    page = signed_in_page(context, web_network, name)
    throttle(context, page, 1_000_000)
    page.get_by_label("Choose files to upload").set_input_files(str(source))
    wait_progress(page, "long.bin", 0.15)
    with Coffer.login(web_network.url, name, PASSWORD, config_dir=tmp_path / "config") as owner:
        (pending,) = owner.list()
        page.get_by_role("button", name="Pause upload of long.bin").click()
        page.get_by_role("status", name="Upload status of long.bin").filter(has_text="paused at").wait_for()
        page.wait_for_timeout(300)
        paused = chunk_puts(web_network, pending.id)
        page.wait_for_timeout(700)
        assert chunk_puts(web_network, pending.id) == paused, "a paused upload sends nothing"
        page.get_by_role("button", name="Resume upload of long.bin").click()
        wait_progress(page, "long.bin", 0.5)

        page.reload()
        sign_in(page, name)
        throttle(context, page, -1)
        unfinished = page.get_by_role("region", name="Unfinished uploads")
        stored_words = unfinished.get_by_role("listitem").filter(has_text="long.bin").inner_text()
        stored = int(stored_words.split(" of 48 chunks stored")[0].rsplit("·", 1)[-1])
        assert 0 < stored < 48, stored_words

        other = tmp_path / "other" / "long.bin"
        other.parent.mkdir()
        other.write_bytes(os.urandom(len(data)))
        page.get_by_label("Choose long.bin again to resume").set_input_files(str(other))
        page.get_by_role("alert").filter(has_text="not the file that upload was sending").wait_for(timeout=10_000)

        before = chunk_puts(web_network, pending.id)
        page.get_by_label("Choose long.bin again to resume").set_input_files(str(source))
        wait_uploaded(page, "long.bin")
        assert chunk_puts(web_network, pending.id) - before == 48 - stored, "only the missing chunks were sent"
        assert unfinished.is_hidden()
        assert downloaded(owner, pending.id, tmp_path) == data


def test_copies_asked_in_the_address_store_each_chunk_on_that_many_fileservers(
    web_network: Network, context: Any, tmp_path: Path
) -> None:
    name = new_user(web_network)
    page = signed_in_page(context, web_network, name, f"?chunk-size={CHUNK}&copies=2")
    data = os.urandom(3 * CHUNK)
    drop(page, "twice.bin", data)
    wait_uploaded(page, "twice.bin")
    with Coffer.login(web_network.url, name, PASSWORD, config_dir=tmp_path / "config") as owner:
        uploaded = by_name(owner)["twice.bin"]
        record = owner.api.request("GET", f"/api/files/{uploaded.id}")
        assert [len(set(c["fileservers"])) for c in record["chunks"]] == [2, 2, 2]
        assert downloaded(owner, uploaded.id, tmp_path) == data
