"""A fileserver answers CORS only when an administrator names the web page's origins (``web_origins``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import falcon.testing
import pytest

from coffer.fileserver.data.app import create_app
from coffer.fileserver.settings import Settings
from coffer.protocol import routes
from coffer.protocol.settings import SettingsError

CHUNK = routes.chunk("default", "3f6c9a2e-8b1d-4c57-a0e4-7d2b5f9c1e38", "ab" * 32)
PAGE = "https://coffer.example.com"


def _answer(settings: Settings, method: str, origin: str) -> Any:
    client = falcon.testing.TestClient(create_app(settings))
    headers = {"Origin": origin, "Access-Control-Request-Method": "PUT"} if method == "OPTIONS" else {"Origin": origin}
    return client.simulate_request(method, CHUNK, headers=headers)


def test_without_web_origins_no_answer_carries_cors_headers(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    assert settings.fileserver.cors_origins() == ()
    for method in ("OPTIONS", "GET"):
        answer = _answer(settings, method, PAGE)
        assert not [h for h in answer.headers if h.lower().startswith("access-control-")], method


def test_the_configured_origin_gets_cors_headers_in_its_normal_form(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(web_origins="HTTPS://Coffer.example.com:443/ , http://127.0.0.1:8000")
    assert settings.fileserver.cors_origins() == (PAGE, "http://127.0.0.1:8000")
    assert _answer(settings, "OPTIONS", PAGE).headers["Access-Control-Allow-Origin"] == PAGE
    assert "access-control-allow-origin" not in _answer(settings, "GET", "https://other.example").headers


@pytest.mark.parametrize("bad", ["https://coffer.example.com/app", "coffer.example.com", "ftp://x.example"])
def test_a_web_origin_that_is_not_an_origin_stops_the_fileserver_at_start(
    make_settings: Callable[..., Settings], bad: str
) -> None:
    with pytest.raises(SettingsError, match="web_origins"):
        make_settings(web_origins=bad)
