"""The server serves the built web page: its pages, hashed assets, and the headers that keep it safe."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from coffer.protocol.settings import SettingsError
from coffer.server.settings import ServerSettings

from .conftest import FakeFileserver, Harness

LINK_ID = "3f6c9a2e-8b1d-4c57-a0e4-7d2b5f9c1e38"


@pytest.fixture
def built(tmp_path: Path) -> Path:
    """A stand-in for `make web`'s output: two pages and one hashed bundle."""
    root = tmp_path / "dist"
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_text("<!doctype html><title>app</title>")
    (root / "link.html").write_text("<!doctype html><title>link</title>")
    (root / "assets" / "link-AB12CD34.js").write_text("export {};")
    (root / "sw.js").write_text("self.onfetch = null;")
    return root


@pytest.fixture
def web(tmp_path: Path, built: Path) -> Harness:
    return Harness(f"sqlite:///{tmp_path / 'coffer.db'}", web_dir=str(built), web_connect_origins="https://lb.example")


def test_the_app_and_link_pages_are_served_with_a_strict_policy_and_no_cache(web: Harness) -> None:
    for path, title in (("/", "app"), (f"/s/{LINK_ID}", "link"), (f"/s/{LINK_ID}/", "link")):
        answer = web.client.simulate_get(path)
        assert answer.status_code == 200, path
        assert f"<title>{title}</title>" in answer.text
        assert answer.headers["Content-Type"].startswith("text/html")
        assert answer.headers["Cache-Control"] == "no-cache"
        assert answer.headers["Referrer-Policy"] == "no-referrer"
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        policy = answer.headers["Content-Security-Policy"]
        assert "script-src 'self' 'wasm-unsafe-eval';" in policy
        assert "'unsafe-inline'" not in policy and "default-src 'none'" in policy
        assert "frame-ancestors 'none'" in policy


def test_hashed_assets_are_cached_for_good_and_other_names_are_not_served(web: Harness) -> None:
    answer = web.client.simulate_get("/assets/link-AB12CD34.js")
    assert answer.status_code == 200 and answer.text == "export {};"
    assert answer.headers["Content-Type"].startswith("text/javascript")
    assert answer.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    for name in ("missing-00000000.js", "..%2Findex.html", "link.html", "x.py"):
        assert web.client.simulate_get(f"/assets/{name}").status_code == 404, name


def test_the_service_worker_is_served_at_the_root_under_the_policy_and_revalidated(web: Harness) -> None:
    answer = web.client.simulate_get("/sw.js")
    assert answer.status_code == 200 and answer.text == "self.onfetch = null;"
    assert answer.headers["Content-Type"].startswith("text/javascript")
    assert answer.headers["Cache-Control"] == "no-cache"
    assert "worker-src 'self'" in answer.headers["Content-Security-Policy"]
    assert answer.headers["X-Content-Type-Options"] == "nosniff"


def test_without_a_built_service_worker_sw_js_is_not_found(tmp_path: Path) -> None:
    harness = Harness(f"sqlite:///{tmp_path / 'coffer.db'}", web_dir=str(tmp_path / "nowhere"))
    assert harness.client.simulate_get("/sw.js").status_code == 404


def test_connect_src_names_the_registered_fileservers_and_the_configured_origins(web: Harness) -> None:
    admin = web.make_user("root", "admin")
    assert web.apply(admin).status_code == 200
    fs: FakeFileserver = web.fileserver(admin)
    fs.url = "http://127.0.0.1:8101/"
    assert web.register(fs).status_code == 200
    policy = web.client.simulate_get("/").headers["Content-Security-Policy"]
    assert "connect-src 'self' https://lb.example http://127.0.0.1:8101;" in policy


def test_a_server_whose_page_was_not_built_says_how_to_build_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    harness = Harness(f"sqlite:///{tmp_path / 'coffer.db'}", web_dir=str(tmp_path / "nowhere"))
    with caplog.at_level(logging.WARNING):
        answer = harness.client.simulate_get(f"/s/{LINK_ID}")
    assert answer.status_code == 503
    assert "make web" in answer.text and answer.headers["Content-Type"].startswith("text/html")
    assert [r.getMessage() for r in caplog.records] == ["web_page_missing"]


def test_web_connect_origins_must_be_origins() -> None:
    with pytest.raises(SettingsError, match="web_connect_origins"):
        ServerSettings(web_connect_origins="https://lb.example/path")
