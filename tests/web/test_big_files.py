"""Big files through the page: 300 MB by the file input and by a drop, byte-identical, the JS heap bounded.

The page's JS heap (DevTools protocol) is sampled while a 300 MB file goes up and comes back
down through the Service Worker stream: its peak stays under 256 MiB, so memory is bounded by
the chunks in flight, not by the file. The same for 1 GB is measured by the bench's web part
(``python -m bench.run --parts web``), which takes too long for the suite.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from coffer.client.coffer import Coffer
from tests.integration.network import Network

from .app_session import PASSWORD, app_page, by_name, new_user
from .heap import HEAP_BOUND, MIB, HeapWatch, download, upload

pytestmark = pytest.mark.slow

SIZE = 300 * 1_000_000
BLOCK = MIB + 7
"""The dropped file repeats one random block of this size: built in the page, never sent through Playwright whole."""


@pytest.fixture
def signed_in(chromium: Any, web_network: Network) -> Iterator[tuple[Any, Any, str]]:
    name = new_user(web_network)
    context, page = app_page(chromium, web_network.url, name)
    try:
        yield context, page, name
    finally:
        context.close()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(MIB):
            digest.update(block)
    return digest.hexdigest()


def test_300_mb_through_the_file_input_comes_back_byte_identical_with_the_heap_bounded(
    signed_in: tuple[Any, Any, str], tmp_path: Path
) -> None:
    context, page, _ = signed_in
    source = tmp_path / "big-input.bin"
    with source.open("wb") as f:
        for _ in range(SIZE // MIB):
            f.write(os.urandom(MIB))
        f.write(os.urandom(SIZE % MIB))
    watch = HeapWatch(context, page)
    chooser = page.get_by_label("Choose files to upload")
    up = upload(watch, lambda: chooser.set_input_files(str(source)), source.name)
    down = download(watch, source.name, tmp_path / "copy.bin")
    assert _sha256(tmp_path / "copy.bin") == _sha256(source)
    assert page.locator("body").get_attribute("data-saver") == "stream"
    print(f"300 MB input: up {up}, down {down}")
    assert up.heap_peak < HEAP_BOUND, f"upload heap peak {up.heap_peak / MIB:.0f} MiB"
    assert down.heap_peak < HEAP_BOUND, f"download heap peak {down.heap_peak / MIB:.0f} MiB"


def test_300_mb_dropped_on_the_page_downloads_byte_identical_with_the_cli(
    signed_in: tuple[Any, Any, str], web_network: Network, tmp_path: Path
) -> None:
    context, page, name = signed_in
    block = os.urandom(BLOCK)
    count, tail = divmod(SIZE, BLOCK)
    transfer = page.evaluate_handle(
        """([b64, count, tail]) => {
            const block = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            const parts = Array(count).fill(block).concat([block.subarray(0, tail)]);
            const dt = new DataTransfer();
            dt.items.add(new File(parts, "big-drop.bin", { type: "application/octet-stream" }));
            return dt;
        }""",
        [base64.b64encode(block).decode(), count, tail],
    )
    zone = page.get_by_role("region", name="Drop files here to upload")
    watch = HeapWatch(context, page)
    up = upload(watch, lambda: zone.dispatch_event("drop", {"dataTransfer": transfer}), "big-drop.bin")
    print(f"300 MB drop: up {up}")
    assert up.heap_peak < HEAP_BOUND, f"upload heap peak {up.heap_peak / MIB:.0f} MiB"
    with Coffer.login(web_network.url, name, PASSWORD, config_dir=tmp_path / "config") as owner:
        copy = owner.download(by_name(owner)["big-drop.bin"].id, tmp_path / "copy.bin")
    expected = hashlib.sha256()
    for _ in range(count):
        expected.update(block)
    expected.update(block[:tail])
    assert _sha256(copy) == expected.hexdigest()
