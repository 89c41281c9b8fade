"""The page resends a file's create whose answer was lost, with the same create id: one file, uploaded whole."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from coffer.client.coffer import Coffer
from tests.integration.network import Network

from .app_session import CHUNK, PASSWORD, by_name, downloaded, new_user, signed_in_page, wait_uploaded


def test_a_create_answered_502_after_the_server_made_the_file_is_resent_and_makes_one_file(
    web_network: Network, chromium: Any, tmp_path: Path
) -> None:
    """The first create reaches the server, which makes the file; the page is then told 502, as nginx says
    when the instance died before answering. The resend carries the same create id and gets that file back."""
    context = chromium.new_context()
    try:
        _upload_with_the_first_answer_lost(context, web_network, tmp_path)
    finally:
        context.close()


def _upload_with_the_first_answer_lost(context: Any, web_network: Network, tmp_path: Path) -> None:
    name = new_user(web_network)
    page = signed_in_page(context, web_network, name)
    creates: list[dict[str, Any]] = []
    warnings: list[str] = []
    page.on("console", lambda m: warnings.append(m.text) if m.type == "warning" else None)

    def lose_first_answer(route: Any) -> None:
        if route.request.method != "POST":
            route.continue_()
            return
        creates.append(json.loads(route.request.post_data))
        if len(creates) == 1:
            route.fetch()  # the server makes the file; its answer is dropped here
            route.fulfill(status=502, content_type="text/html", body="<html>502 Bad Gateway</html>")
        else:
            route.continue_()

    page.route("**/api/files", lose_first_answer)
    data = os.urandom(3 * CHUNK + 7)
    (tmp_path / "resent.bin").write_bytes(data)
    page.get_by_label("Choose files to upload").set_input_files(str(tmp_path / "resent.bin"))
    wait_uploaded(page, "resent.bin")

    assert len(creates) == 2 and len(creates[0]["create_id"]) == 32
    assert creates[0] == creates[1], "the resend is the very same create, create id included"
    assert any("file create resent" in w for w in warnings), "the resend is logged, not silent"
    with Coffer.login(web_network.url, name, PASSWORD, config_dir=tmp_path / "config") as owner:
        assert len(owner.list()) == 1, "exactly one file, though the server was asked twice"
        assert downloaded(owner, by_name(owner)["resent.bin"].id, tmp_path) == data
