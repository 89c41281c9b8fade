"""Fuzz every operation of docs/openapi.yaml against a real server and a real fileserver.

schemathesis draws requests from the document, valid ones and ones that break it,
and sends them to gunicorn processes on 127.0.0.1: with an administrator's session
on the server's routes, and on the fileserver's chunk routes once with real tickets
(the ticket's shard and file in the path, so requests get past the ticket check) and
once with whatever it draws. The figure held: no answer is a 5xx, every status and
body is one the document lists, every error answer is ``{"error", "message"}`` JSON.
A fixed seed and a few examples per operation keep the run near a minute; a failure
prints the request, as curl, and the answer.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from coffer.client.api import ServerClient
from coffer.client.coffer import Coffer
from coffer.protocol.api.files import CreateFile
from coffer.protocol.api.tickets import TicketRequest

from ..services import unavailable
from .network import ADMIN_PASSWORD, Network, start_network

try:
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, seed, settings
    from schemathesis import GenerationMode
    from schemathesis.checks import not_a_server_error
    from schemathesis.core.result import Err
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    INSTALLED = True
except ImportError:  # the dev extra installs it; without it the tests below skip (fail under CI)
    INSTALLED = False

pytestmark = pytest.mark.slow

SPEC = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"
EXAMPLES = 10
"""Examples per operation and mode: about 70 operations, two modes, stays near a minute on two cores."""
SEED = 20261207
USER, PASSWORD = "fuzz", "fuzz-integration-pw"
ENDS_SESSION = {("POST", "/api/auth/logout"), ("DELETE", "/api/auth/sessions/{session_id}")}
"""Operations that would end the session every later request rides on: fuzzed last, with a session of their own."""


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    if not INSTALLED:
        unavailable("schemathesis is not installed", "CI needs it: `make test` installs the dev extra")
    limits = {"COFFER_RATE_LIMIT_PER_ADDRESS": "0", "COFFER_RATE_LIMIT_PER_USER": "0"}
    # The web page's routes are fuzzed against a stand-in build, whether or not `make web` ran here
    # (an unbuilt page answers 503 on purpose: tests/server/test_web_page.py pins that).
    page = tmp_path_factory.mktemp("fuzz-web")
    (page / "assets").mkdir()
    for name in ("index.html", "link.html"):
        (page / name).write_text("<!doctype html><title>Coffer</title>")
    extra = limits | {"COFFER_WEB_DIR": str(page)}
    net = start_network(tmp_path_factory.mktemp("fuzz-net"), fileservers=1, server_extra=extra)
    try:
        net.create_user(USER, PASSWORD)
        yield net
    finally:
        net.stop()


@pytest.fixture(scope="module")
def tickets(network: Network, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, str]]:
    """Method → (ticket, file id): a put ticket for a pending file, a get ticket for a stored one.

    Made before any fuzzing, which may well apply a topology without the shard they name.
    """
    root = tmp_path_factory.mktemp("fuzz-client")
    source = root / "stored.bin"
    source.write_bytes(b"fuzz" * 1000)
    with Coffer.login(network.url, USER, PASSWORD, config_dir=root / "config") as coffer:
        stored = coffer.upload(source).file_id
        pending = coffer.api.create_file(CreateFile("default", 10, 10, 1, "AAAA")).id
        get = coffer.api.tickets(stored, TicketRequest("get")).tickets[0].ticket
        put = coffer.api.tickets(pending, TicketRequest("put")).tickets[0].ticket
    return {"PUT": (put, pending), "GET": (get, stored), "HEAD": (get, stored)}


def operations(program: str) -> list[Any]:
    """The document's operations that *program* serves (``x-coffer-program``), in document order."""
    schema = schemathesis.openapi.from_path(str(SPEC))
    paths = schema.raw_schema["paths"]
    found = []
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise AssertionError(f"docs/openapi.yaml has an operation schemathesis cannot read: {result.err()}")
        operation = result.ok()
        programs = paths[operation.path]["x-coffer-program"]
        if program in ([programs] if isinstance(programs, str) else programs):
            found.append(operation)
    return found


def key(operation: Any) -> tuple[str, str]:
    return operation.method.upper(), operation.path


def error_body_as_documented(response: Any) -> None:
    """Every 4xx/5xx answer but HEAD's carries ``{"error": code, "message": text}`` as JSON (not HTML, not empty)."""
    if response.status_code < 400 or response.request.method == "HEAD":
        return
    content_type = response.headers.get("content-type", [""])[0]
    assert content_type.startswith("application/json"), f"error answered as {content_type!r}"
    body = json.loads(response.text)
    assert isinstance(body.get("error"), str) and body["error"], body
    assert isinstance(body.get("message"), str) and body["message"], body


def fuzz(operation: Any, base_url: str, headers: dict[str, str], tally: Counter[int], **fixed: Any) -> None:
    """Send EXAMPLES valid and EXAMPLES invalid requests of *operation*; fail on the first answer off the document.

    *fixed* pins parts of the request (``path_parameters``), so a real ticket meets the path it names;
    *tally* counts the answers by status.
    """
    checks = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
    has_input = bool(operation.path_parameters or operation.query or operation.headers or operation.body)
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE) if has_input else (GenerationMode.POSITIVE,):

        @seed(SEED)
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
            database=None,
            print_blob=False,
        )
        @given(case=operation.as_strategy(generation_mode=mode, **fixed))
        def send(case: Any) -> None:
            response = case.call(base_url=base_url, headers=headers, timeout=15)
            tally[response.status_code] += 1
            try:
                case.validate_response(response, checks=checks)
                error_body_as_documented(response)
            except BaseException as exc:
                request = case.as_curl_command(headers=headers)
                raise AssertionError(f"{request}\n-> {response.status_code} {response.text[:500]}") from exc

        send()


def test_no_server_answer_is_a_5xx_or_off_the_document(network: Network, tickets: dict[str, tuple[str, str]]) -> None:
    assert network.admin is not None and network.admin.token
    admin = {"Authorization": f"Bearer {network.admin.token}"}
    server_ops = operations("server")
    assert len(server_ops) > 50, "every server operation of the document is fuzzed"
    tally: Counter[int] = Counter()
    for operation in [op for op in server_ops if key(op) not in ENDS_SESSION]:
        fuzz(operation, network.url, admin, tally)
    for operation in [op for op in server_ops if key(op) in ENDS_SESSION]:
        own = ServerClient(network.url)
        own.login("admin", ADMIN_PASSWORD)
        fuzz(operation, network.url, {"Authorization": f"Bearer {own.token}"}, tally)
        own.close()
    print(f"server: {sum(tally.values())} requests, answers by status {sorted(tally.items())}")
    assert sum(tally.values()) > 10 * len(server_ops), "the fuzzer sent requests"
    assert sum(n for status, n in tally.items() if status < 300) > 50, "with a session, requests got through"


def test_no_fileserver_answer_is_a_5xx_or_off_the_document(
    network: Network, tickets: dict[str, tuple[str, str]]
) -> None:
    fileserver = network.fileservers[0].url
    chunk_ops = {op.method.upper(): op for op in operations("fileserver") if op.path.startswith("/api/chunks/")}
    assert set(chunk_ops) == {"PUT", "GET", "HEAD"}
    ticketed: Counter[int] = Counter()
    tally: Counter[int] = Counter()
    for method, (ticket, file_id) in tickets.items():
        with_ticket = {"Authorization": f"Ticket {ticket}"}
        in_scope = {"shard": "default", "file_id": file_id}
        fuzz(chunk_ops[method], fileserver, with_ticket, ticketed, path_parameters=in_scope)
        fuzz(chunk_ops[method], fileserver, with_ticket, tally)
    for operation in operations("fileserver"):
        if not operation.path.startswith("/api/chunks/"):
            fuzz(operation, fileserver, {}, tally)
    print(f"fileserver: {sum((ticketed + tally).values())} requests, with tickets in scope {sorted(ticketed.items())}")
    assert set(ticketed) - {401, 403}, "requests with a ticket in scope got past the ticket check"
