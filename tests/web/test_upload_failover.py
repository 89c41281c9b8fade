"""A fileserver SIGKILLed half-way through a browser upload: the page moves its chunks to the other.

The test has a network of its own (two fileservers), since it kills one of them. The chunks the
dead fileserver took before it died are on its disk: once it is back, the file reads whole.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from coffer.client.coffer import Coffer
from tests.integration.network import Network, start_network

from .app_session import CHUNK, NO_SAVE_PICKER, PASSWORD, downloaded, new_user, signed_in_page, wait_uploaded
from .test_upload_page import throttle, wait_progress


@pytest.fixture
def doomed_network(tmp_path_factory: pytest.TempPathFactory, web_build: Path) -> Iterator[Network]:
    net = start_network(tmp_path_factory.mktemp("net-web-kill"), 2, server_extra={"COFFER_WEB_DIR": str(web_build)})
    try:
        yield net
    finally:
        net.stop()


def _stored_on(network: Network, fs_name: str, file_id: str) -> int:
    log = network.root / f"{fs_name}.log"
    lines = log.read_text(errors="replace").splitlines()
    return sum(1 for line in lines if "method=PUT" in line and f"file={file_id}" in line and " status=20" in line)


def test_a_fileserver_killed_mid_upload_leaves_the_browser_upload_whole(
    doomed_network: Network, chromium: Any, tmp_path: Path
) -> None:
    name = new_user(doomed_network)
    data = os.urandom(40 * CHUNK)
    source = tmp_path / "survivor.bin"
    source.write_bytes(data)
    context = chromium.new_context()
    context.add_init_script(NO_SAVE_PICKER)
    try:
        page = signed_in_page(context, doomed_network, name)
        throttle(context, page, 800_000)
        page.get_by_label("Choose files to upload").set_input_files(str(source))
        wait_progress(page, "survivor.bin", 0.3)
        victim = doomed_network.fileservers[1]
        victim.proc.kill(signal.SIGKILL)
        wait_uploaded(page, "survivor.bin")
    finally:
        context.close()
    with Coffer.login(doomed_network.url, name, PASSWORD, config_dir=tmp_path / "config") as owner:
        (uploaded,) = owner.list()
        assert uploaded.state == "complete"
        assert _stored_on(doomed_network, victim.name, uploaded.id) > 0, "the chunks were spread over both at first"
        doomed_network.start_fileserver(victim)
        assert downloaded(owner, uploaded.id, tmp_path) == data
