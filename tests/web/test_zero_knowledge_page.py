"""Zero knowledge in the browser: after a page upload and a link made in the page, no marker, file key or
link fragment is anywhere on the servers' side (the database, the fileservers' storage, the logs).

The search is the CLI's (tests/integration/test_zero_knowledge.py): each secret in the encodings a
careless program would write it in.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from coffer.client.coffer import Coffer
from coffer.format.keys import open_file_key
from coffer.protocol.encoding import b64decode
from tests.integration.network import Network
from tests.integration.test_zero_knowledge import _forms, _server_side_bytes

from .app_session import PASSWORD, by_name, new_user, signed_in_page, wait_uploaded


def test_no_marker_file_key_or_link_fragment_of_a_page_upload_reaches_the_servers(
    web_network: Network, chromium: Any, tmp_path: Path
) -> None:
    marker = f"COFFER-WEB-MARKER-{os.urandom(8).hex()}"
    name = new_user(web_network)
    source = tmp_path / f"{marker}.txt"
    source.write_bytes((marker + "\n").encode() * 5000)
    context = chromium.new_context()
    try:
        page = signed_in_page(context, web_network, name)
        page.get_by_label("Choose files to upload").set_input_files(str(source))
        wait_uploaded(page, source.name)
        page.get_by_role("button", name=f"Make a link to {source.name}").click()
        dialog = page.get_by_role("dialog", name="Make a link")
        dialog.get_by_role("button", name="Make link").click()
        url = dialog.get_by_label("Link", exact=True)
        url.wait_for(timeout=30_000)
        fragment = url.input_value().split("#", 1)[1]
    finally:
        context.close()
    with Coffer.login(web_network.url, name, PASSWORD, config_dir=tmp_path / "config") as owner:
        uploaded = by_name(owner)[source.name]
        record = owner.api.request("GET", f"/api/files/{uploaded.id}")
        file_key = open_file_key(owner.keys, b64decode(record["sealed_key"]))
    needles = {"marker": [marker.encode()], "link fragment": [fragment.encode()], "file key": _forms(file_key)}
    searched = 0
    for where, data in _server_side_bytes(web_network):
        searched += 1
        for what, forms in needles.items():
            assert not any(form in data for form in forms), f"the {what} appears in {where}"
    assert searched > 10, "the search must have covered the database, the chunks and the logs"
