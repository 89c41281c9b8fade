"""A client loads the CA bundle only for an https URL, and then verifies the server's certificate with it."""

from __future__ import annotations

import http.server
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from coffer.transfer import connections
from coffer.transfer.connections import ClientTransport


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "5")
        self.end_headers()
        self.wfile.write(b"hello")

    def log_message(self, *args: object) -> None:
        pass


def _serve(tls: ssl.SSLContext | None) -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def certificate(tmp_path: Path) -> Path:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    return cert


@pytest.fixture
def plain_url() -> Iterator[str]:
    yield from _serve(None)


@pytest.fixture
def tls_url(certificate: Path) -> Iterator[str]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate, certificate.parent / "key.pem")
    yield from _serve(context)


@pytest.fixture(autouse=True)
def fresh_tls_context() -> Iterator[None]:
    connections.tls_context.cache_clear()
    yield
    connections.tls_context.cache_clear()


def test_plain_http_requests_never_load_the_ca_bundle(plain_url: str) -> None:
    with httpx.Client(transport=ClientTransport(httpx.Limits())) as client:
        assert client.get(plain_url).content == b"hello"
    assert connections.tls_context.cache_info().currsize == 0


def test_an_https_request_refuses_a_certificate_no_trusted_authority_signed(tls_url: str) -> None:
    with httpx.Client(transport=ClientTransport(httpx.Limits())) as client, pytest.raises(httpx.ConnectError):
        client.get(tls_url)
    assert connections.tls_context.cache_info().currsize == 1


def test_an_https_request_goes_over_tls_verified_with_the_shared_context(
    tls_url: str, certificate: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate))
    with httpx.Client(transport=ClientTransport(httpx.Limits())) as client:
        assert client.get(tls_url).content == b"hello"
