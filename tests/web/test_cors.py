"""Fileservers answer CORS for the page's origin only, so its browsers fetch chunks straight from them."""

from __future__ import annotations

import httpx

from coffer.protocol import routes
from tests.integration.network import Network

CHUNK = routes.chunk("default", "3f6c9a2e-8b1d-4c57-a0e4-7d2b5f9c1e38", "ab" * 32)


def test_a_fileserver_answers_the_pages_preflight_and_requests_and_no_other_origins(web_network: Network) -> None:
    url = web_network.fileservers[0].url + CHUNK
    preflight = {
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization,content-type,range",
    }
    with httpx.Client(timeout=10) as http:
        allowed = http.options(url, headers={"Origin": web_network.url, **preflight})
        assert allowed.status_code == 200
        assert allowed.headers["Access-Control-Allow-Origin"] == web_network.url
        assert {"GET", "PUT", "HEAD"} <= {m.strip() for m in allowed.headers["Access-Control-Allow-Methods"].split(",")}
        assert allowed.headers["Access-Control-Allow-Headers"].lower() == "authorization,content-type,range"
        assert "Access-Control-Allow-Credentials" not in allowed.headers

        # An answer the page reads, here a refusal (no ticket), carries the headers too, so the page can read why.
        refused = http.get(url, headers={"Origin": web_network.url})
        assert refused.status_code == 401
        assert refused.headers["Access-Control-Allow-Origin"] == web_network.url
        assert "retry-after" in refused.headers["Access-Control-Expose-Headers"].lower()

        for answer in (
            http.options(url, headers={"Origin": "http://elsewhere.example", **preflight}),
            http.get(url, headers={"Origin": "http://elsewhere.example"}),
        ):
            assert not [h for h in answer.headers if h.lower().startswith("access-control-")]
