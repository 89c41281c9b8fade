"""How the client meets 429s: the server's (wait and retry what is safe, else say when) and a busy fileserver's.

How one 429 from a fileserver is read and how the balancer rests it are the transfer engine's
(tests/transfer); here, what an upload does when the fileservers stay busy.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import httpx
import pytest

from coffer.client import errors
from coffer.client.api import MAX_RATE_LIMIT_WAIT, MAX_TOTAL_RATE_LIMIT_WAIT, RATE_LIMIT_RETRIES, ServerClient
from coffer.client.coffer import Coffer
from coffer.transfer.errors import TransferFailed
from coffer.transfer.failover import MAX_BUSY

from .fakenet import FakeNet


def limited(code: str = "rate_limited", wait: int = 2) -> httpx.Response:
    body = {"retry_after": wait, "error": code, "message": "slow down"}
    return httpx.Response(429, json=body, headers={"Retry-After": str(wait)})


class Script:
    """A server transport that answers from a list, then 200 ``{"ok": true}``; it records what it was sent."""

    def __init__(self, *answers: httpx.Response):
        self.answers = list(answers)
        self.seen: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request.method)
        return self.answers.pop(0) if self.answers else httpx.Response(200, json={"ok": True})


def client(script: Script, slept: list[float], told: list[float] | None = None) -> ServerClient:
    on_wait = told.append if told is not None else None
    return ServerClient(
        "http://server.test", "t", transport=httpx.MockTransport(script), sleep=slept.append, on_wait=on_wait
    )


def test_an_idempotent_request_waits_out_a_429_and_is_sent_again() -> None:
    script, slept = Script(limited(wait=2), limited(wait=3)), list[float]()
    assert client(script, slept).request("GET", "/api/files") == {"ok": True}
    assert slept == [2.0, 3.0] and script.seen == ["GET"] * 3


def test_retries_after_429_are_bounded() -> None:
    script, slept = Script(*[limited(wait=1)] * 10), list[float]()
    with pytest.raises(errors.RateLimited) as caught:
        client(script, slept).request("GET", "/api/files")
    assert len(slept) == RATE_LIMIT_RETRIES and len(script.seen) == RATE_LIMIT_RETRIES + 1
    assert caught.value.retry_after == 1 and caught.value.exit_code == 1


def test_a_post_refused_by_a_request_limit_waits_it_out_says_so_and_goes_on() -> None:
    """The request limits refuse before any handler runs, so a POST refused by them was not acted on."""
    script, slept, told = Script(limited(wait=42)), list[float](), list[float]()
    assert client(script, slept, told).request("POST", "/api/files", {"x": 1}) == {"ok": True}
    assert told == [42.0] and slept == [42.0] and script.seen == ["POST", "POST"]


def test_a_post_refused_by_another_429_is_not_repeated_and_the_error_says_when_to_retry() -> None:
    script, slept = Script(limited("overloaded", wait=12)), list[float]()
    with pytest.raises(errors.RateLimited) as caught:
        client(script, slept).request("POST", "/api/files", {"x": 1})
    assert slept == [] and script.seen == ["POST"]
    assert caught.value.code == "overloaded" and caught.value.status == 429
    assert "try again in 12 s" in caught.value.message


def test_the_total_wait_of_one_request_is_bounded() -> None:
    wait = int(MAX_RATE_LIMIT_WAIT)
    script, slept = Script(*[limited(wait=wait)] * 10), list[float]()
    with pytest.raises(errors.RateLimited):
        client(script, slept).request("POST", "/api/files", {"x": 1})
    assert sum(slept) <= MAX_TOTAL_RATE_LIMIT_WAIT and len(slept) == int(MAX_TOTAL_RATE_LIMIT_WAIT // wait)


def test_a_post_marked_safe_to_repeat_is_retried() -> None:
    script, slept = Script(limited(wait=1)), list[float]()
    assert client(script, slept).request("POST", "/api/files/x/tickets", {}, retry=True) == {"ok": True}
    assert slept == [1.0]


def test_a_long_wait_is_not_slept_through_but_raised() -> None:
    script, slept = Script(limited(wait=int(MAX_RATE_LIMIT_WAIT) + 1)), list[float]()
    with pytest.raises(errors.RateLimited):
        client(script, slept).request("GET", "/api/files")
    assert slept == []


@pytest.mark.parametrize(
    ("code", "wait", "words"),
    [("login_locked", 900, ["locked", "15 min", "administrator"]), ("login_throttled", 4, ["failed logins", "4 s"])],
)
def test_a_refused_login_tells_the_user_how_long_to_wait(code: str, wait: int, words: list[str]) -> None:
    script, slept = Script(limited(code, wait)), list[float]()
    with pytest.raises(errors.RateLimited) as caught:
        client(script, slept).request("POST", "/api/auth/login", {"username": "a", "auth_key": "b"})
    assert slept == [], "a login is never retried by itself"
    assert all(word in caught.value.message for word in words), caught.value.message


def test_an_upload_waits_while_every_fileserver_is_busy_then_completes(
    net: FakeNet, coffer: Coffer, tmp_path: Path
) -> None:
    answers = {"busy": 4}
    lock = threading.Lock()

    def busy_for_a_while(request: httpx.Request) -> httpx.Response | None:
        with lock:
            if answers["busy"] <= 0:
                return None
            answers["busy"] -= 1
        body = json.dumps({"error": "fileserver_busy", "message": "full"}).encode()
        return httpx.Response(429, content=body, headers={"Retry-After": "0", "Content-Type": "application/json"})

    for fs in net.fileservers.values():
        net.faults[fs.id] = busy_for_a_while
    path = tmp_path / "data.bin"
    path.write_bytes(os.urandom(3000))
    result = coffer.upload(path, chunk_size=1000, in_flight=1)
    assert result.chunks_sent == 3 and result.retries == 4


def test_a_chunk_gives_up_after_too_many_busy_answers(net: FakeNet, coffer: Coffer, tmp_path: Path) -> None:
    calls = []

    def always_busy(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(429, json={"error": "fileserver_busy", "message": "full"}, headers={"Retry-After": "0"})

    for fs in net.fileservers.values():
        net.faults[fs.id] = always_busy
    path = tmp_path / "data.bin"
    path.write_bytes(os.urandom(1000))
    with pytest.raises(TransferFailed) as caught:
        coffer.upload(path, chunk_size=1000, in_flight=1)
    assert "busy" in caught.value.message and "later" in caught.value.message
    assert len(calls) == MAX_BUSY
