"""The page's format module passes every vector of spec/vectors/format-v1.json, run in Chromium."""

from __future__ import annotations

import functools
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .browser import REPO

VECTORS = REPO / "spec" / "vectors" / "format-v1.json"


def expected_names() -> list[str]:
    """Name every vector of the file the way the page's runner does: section/index, or the section alone."""
    data = json.loads(VECTORS.read_text())
    names: list[str] = []
    for section in ("kdf", "chunks", "chunk_rejections", "metadata", "key_commitment", "fingerprint"):
        names += [f"{section}/{i}" for i in range(len(data[section]))]
    names += ["user_keys", "sealed_file_key", "file", "share_key", "links.plain", "links.password"]
    names += [f"share_key.rejections/{i}" for i in range(len(data["share_key"]["rejections"]))]
    for part in ("rejections", "urls", "malformed_urls"):
        names += [f"links.{part}/{i}" for i in range(len(data["links"][part]))]
    return names


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def static_site(web_build: Path) -> Iterator[str]:
    """Serve the built directory (with its test pages) on 127.0.0.1, a secure context for WebCrypto."""
    handler = functools.partial(_Quiet, directory=str(web_build))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def test_every_format_vector_passes_in_chromium(chromium: Any, static_site: str) -> None:
    """Every vector runs, by name, and passes: a vector the runner skipped or added fails here."""
    page = chromium.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto(f"{static_site}/vectors.html")
        page.wait_for_function("window.cofferVectors !== undefined", timeout=60_000)
        results = page.evaluate("window.cofferVectors")
        status = page.get_by_role("status").inner_text()
    finally:
        page.close()
    assert not errors
    names = [r["name"] for r in results]
    assert sorted(names) == sorted(expected_names())
    assert len(names) == len(set(names)) > 50
    failed = [f"{r['name']}: {r['detail']}" for r in results if not r["ok"]]
    assert failed == []
    assert status == f"{len(names)} of {len(names)} vectors pass"
