"""Request ids: a sane incoming id is kept, others replaced; the id is echoed and put on the request's log lines."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import falcon
import falcon.testing
import httpx
import pytest

from coffer.protocol import requestids
from coffer.protocol.logs import KeyValueFormatter, RequestIdFilter
from coffer.serving.requestids import RequestIds
from coffer.transfer.http import stamp_request_id

seen: list[str | None] = []


@pytest.fixture(autouse=True)
def no_current_request() -> Iterator[None]:
    """Each test starts outside a request (an in-process app sets the id in the test's own thread)."""
    token = requestids.current.set(None)
    yield
    requestids.current.reset(token)


class _Echo:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        seen.append(requestids.current.get())
        resp.media = {"ok": True}


def _client() -> falcon.testing.TestClient:
    app: falcon.App[falcon.Request, falcon.Response] = falcon.App(middleware=[RequestIds()])
    app.add_route("/echo", _Echo())
    return falcon.testing.TestClient(app)


def test_a_sane_incoming_id_is_kept_and_echoed_and_is_current_while_the_request_runs() -> None:
    got = _client().simulate_get("/echo", headers={"X-Request-Id": "upload-7f3a.b_2"})
    assert got.headers["X-Request-Id"] == "upload-7f3a.b_2" and seen[-1] == "upload-7f3a.b_2"


@pytest.mark.parametrize("incoming", [None, "", "a b", "line\nbreak", "x" * 65, "name=alice"])
def test_a_missing_or_odd_id_is_replaced_by_a_fresh_one(incoming: str | None) -> None:
    headers = {} if incoming is None else {"X-Request-Id": incoming}
    got = _client().simulate_get("/echo", headers=headers)
    answered = got.headers["X-Request-Id"]
    assert answered != incoming and requestids.sane(answered) and len(answered) == 16


def test_the_id_is_forgotten_when_the_request_ends() -> None:
    _client().simulate_get("/echo", headers={"X-Request-Id": "trace-done"})
    assert seen[-1] == "trace-done" and requestids.current.get() is None


def test_an_error_answer_carries_the_id_too() -> None:
    got = _client().simulate_get("/nowhere", headers={"X-Request-Id": "trace-404"})
    assert got.status_code == 404 and got.headers["X-Request-Id"] == "trace-404"


def _line(**extra: Any) -> str:
    record = logging.LogRecord("coffer.test", logging.INFO, __file__, 1, "request", None, None)
    record.__dict__.update(extra)
    RequestIdFilter().filter(record)
    return KeyValueFormatter().format(record)


def test_log_lines_carry_the_current_request_id_and_none_outside_a_request() -> None:
    token = requestids.current.set("trace-42")
    try:
        assert "request_id=trace-42" in _line()
    finally:
        requestids.current.reset(token)
    assert "request_id" not in _line()


def test_the_client_sends_its_command_id_with_every_request_from_any_thread() -> None:
    sent: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request.headers["X-Request-Id"])
        return httpx.Response(200)

    with httpx.Client(transport=httpx.MockTransport(answer), event_hooks={"request": [stamp_request_id]}) as client:
        client.get("http://fs.test/a")
        command = requestids.begin()
        try:
            client.get("http://fs.test/b")
            client.get("http://fs.test/c")
        finally:
            requestids.end()
    assert sent[0] != command and sent[1:] == [command, command]
