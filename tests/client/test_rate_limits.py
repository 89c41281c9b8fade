"""How the client meets 429s: the server's (wait and retry what is safe, else say when) and a busy fileserver's."""

from __future__ import annotations

import json
import os
import threading
from email.utils import formatdate
from pathlib import Path

import httpx
import pytest

from coffer.client import errors
from coffer.client.api import MAX_RATE_LIMIT_WAIT, RATE_LIMIT_RETRIES, ServerClient, retry_after
from coffer.client.coffer import Coffer
from coffer.client.placement import MAX_BUSY, Balancer, FileserverInfo
from coffer.client.transfer_http import ChunkClient

from .fakenet import FakeNet

NOW = 1_800_000_000.0


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


def client(script: Script, slept: list[float]) -> ServerClient:
    return ServerClient("http://server.test", "t", transport=httpx.MockTransport(script), sleep=slept.append)


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


def test_a_post_is_not_repeated_and_the_error_says_when_to_retry() -> None:
    script, slept = Script(limited(wait=12)), list[float]()
    with pytest.raises(errors.RateLimited) as caught:
        client(script, slept).request("POST", "/api/files", {"x": 1})
    assert slept == [] and script.seen == ["POST"]
    assert caught.value.code == "rate_limited" and caught.value.status == 429
    assert "try again in 12 s" in caught.value.message


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


def test_retry_after_is_read_as_seconds_or_a_date_or_from_the_body() -> None:
    assert retry_after({"Retry-After": "7"}) == 7.0
    date = formatdate(NOW + 10, usegmt=True)
    assert retry_after({"Retry-After": date}, now=NOW) == 10.0
    assert retry_after({"Retry-After": date}, now=NOW + 100) == 0.0, "a date in the past means now"
    assert retry_after({}, {"retry_after": 5}) == 5.0
    assert retry_after({"Retry-After": "soon"}, {"retry_after": True}) is None
    assert retry_after({}) is None


def test_a_429_from_a_fileserver_is_busy_with_its_retry_after() -> None:
    def busy(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, json={"error": "fileserver_busy", "message": "full"}, headers={"Retry-After": "3"})

    with ChunkClient(transport=httpx.MockTransport(busy)) as chunks, pytest.raises(errors.FileserverBusy) as caught:
        chunks.head("http://fs.test", "default", "f", "c" * 64, "ticket")
    assert caught.value.retry_after == 3.0 and caught.value.code == "fileserver_busy"
    assert isinstance(caught.value, errors.FileserverUnavailable), "every engine path that moves a chunk on still does"


def test_a_busy_fileserver_rests_for_its_retry_after_without_counting_a_failure() -> None:
    clock = [NOW]
    balancer = Balancer([FileserverInfo("a", "http://a"), FileserverInfo("b", "http://b")], clock=lambda: clock[0])

    def refuse() -> int:
        raise errors.FileserverBusy("busy", retry_after=4)

    with pytest.raises(errors.FileserverBusy):
        balancer.attempt("a", refuse, lambda n: n)
    assert balancer.choose().id == "b"  # type: ignore[union-attr]
    assert balancer.ready_in(exclude={"b"}) == 4.0
    clock[0] += 4
    assert balancer.ready_in(exclude={"b"}) == 0.0
    balancer.failed("a")
    assert balancer.ready_in(exclude={"b"}) == balancer.cooldown(1), "the busy answer did not count as a failure"


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
    with pytest.raises(errors.TransferFailed) as caught:
        coffer.upload(path, chunk_size=1000, in_flight=1)
    assert "busy" in caught.value.message and "later" in caught.value.message
    assert len(calls) == MAX_BUSY
