"""The client walks the file listing a page at a time, and `coffer ls` prints each page as it arrives."""

from __future__ import annotations

import argparse
import io
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from coffer.client import errors
from coffer.client.api import ServerClient
from coffer.client.cli import common, files
from coffer.protocol.api.files import FileFilter
from coffer.protocol.api.pages import MAX_PAGE_SIZE

from .test_server_api import RECORD


def _record(n: int) -> dict[str, Any]:
    return RECORD | {"id": f"{n:08x}-3f1a-4d5e-9a6b-7c8d9e0f1a2b", "created_at": float(n)}


def paged_client(pages: list[list[dict[str, Any]]], seen: list[httpx.Request]) -> ServerClient:
    """A server that answers *pages* in turn, each naming the next by its index."""

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        at = int(request.url.params.get("after", "0"))
        return httpx.Response(200, json={"files": pages[at], "next": str(at + 1) if at + 1 < len(pages) else None})

    return ServerClient("http://server", "token", transport=httpx.MockTransport(handle))


def test_the_client_asks_for_each_page_only_once_the_last_was_consumed() -> None:
    seen: list[httpx.Request] = []
    pages = [[_record(1), _record(2)], [_record(3)], [_record(4)]]
    walk = paged_client(pages, seen).file_pages(only=FileFilter(state="complete", shard="hq"))
    assert [r.id for r in next(walk).files] == [_record(1)["id"], _record(2)["id"]]
    assert len(seen) == 1
    assert dict(seen[0].url.params) == {"limit": str(MAX_PAGE_SIZE), "state": "complete", "shard": "hq"}
    assert [len(p.files) for p in walk] == [1, 1]
    assert [r.url.params.get("after") for r in seen] == [None, "1", "2"]


def test_the_whole_listing_joins_every_page_and_the_shared_listing_says_so() -> None:
    seen: list[httpx.Request] = []
    pages = [[_record(n) for n in range(k * 10, k * 10 + 10)] for k in range(3)]
    records = paged_client(pages, seen).list_files(shared=True)
    assert [r.created_at for r in records] == [float(n) for n in range(30)]
    assert {r.url.params["shared"] for r in seen} == {"true"}


def test_a_server_that_predates_pages_answers_the_whole_listing_as_one_page() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=[_record(n) for n in range(3)])

    api = ServerClient("http://server", "token", transport=httpx.MockTransport(handle))
    assert [len(p.files) for p in api.file_pages()] == [3]


def test_a_server_that_hands_back_the_same_cursor_is_stopped_not_followed_forever() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"files": [_record(1)], "next": "same"})

    api = ServerClient("http://server", "token", transport=httpx.MockTransport(handle))
    with pytest.raises(errors.ApiError, match="same page twice"):
        list(api.file_pages())


class FakeCoffer:
    """What `coffer ls` asks of a Coffer: pages, each handed out only after checking what was printed."""

    def __init__(self, pages: list[list[Any]], out: io.StringIO):
        self._pages, self._out = pages, out
        self.printed_before: list[int] = []
        self.asked: dict[str, Any] = {}

    def __enter__(self) -> FakeCoffer:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def pages(self, shared: bool, only: FileFilter) -> Iterator[list[Any]]:
        self.asked = {"shared": shared, "only": only}
        for page in self._pages:
            self.printed_before.append(self._out.getvalue().count("\n"))
            yield page


class Info:
    def __init__(self, n: int):
        self.n = n

    def to_json(self) -> dict[str, Any]:
        return {"id": str(self.n), "name": f"file-{self.n}.txt", "nested": {"size": self.n}}


def _ls(monkeypatch: pytest.MonkeyPatch, pages: list[list[Any]], *argv: str) -> tuple[FakeCoffer, str]:
    out = io.StringIO()
    fake = FakeCoffer(pages, out)
    monkeypatch.setattr(files, "open_coffer", lambda: fake)
    monkeypatch.setattr(files, "_row", lambda f: f"row {f.n}")
    monkeypatch.setattr("sys.stdout", out)
    top = argparse.ArgumentParser()
    files.register(top.add_subparsers())
    args = top.parse_args(["ls", *argv])
    assert args.func(args) == 0
    return fake, out.getvalue()


def test_ls_prints_each_page_before_it_asks_for_the_next(monkeypatch: pytest.MonkeyPatch) -> None:
    pages = [[Info(n) for n in range(k * 1000, k * 1000 + 1000)] for k in range(5)]
    fake, printed = _ls(monkeypatch, pages, "--state", "pending", "--shard", "hq")
    assert fake.printed_before == [0, 1000, 2000, 3000, 4000]
    assert printed.splitlines() == [f"row {n}" for n in range(5000)]
    assert fake.asked == {"shared": False, "only": FileFilter(state="pending", shard="hq")}


def test_ls_json_streams_the_same_array_scripts_always_read(monkeypatch: pytest.MonkeyPatch) -> None:
    pages = [[Info(1), Info(2)], [], [Info(3)]]
    fake, printed = _ls(monkeypatch, pages, "--json", "--shared")
    assert fake.printed_before[1] > 0, "the first page is out before the second is asked for"
    expected = io.StringIO()
    monkeypatch.setattr("sys.stdout", expected)
    common.print_json([i.to_json() for page in pages for i in page])
    assert printed == expected.getvalue()
    assert json.loads(printed)[2]["nested"] == {"size": 3}


def test_ls_json_of_no_files_is_an_empty_array(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _ls(monkeypatch, [[]], "--json")[1] == "[]\n"


def test_ls_refuses_a_state_that_is_not_one() -> None:
    top = argparse.ArgumentParser()
    files.register(top.add_subparsers())
    with pytest.raises(SystemExit):
        top.parse_args(["ls", "--state", "lost"])


def _link(n: int) -> dict[str, Any]:
    return {
        "id": f"{n:08x}-aaaa-4bbb-8ccc-dddddddddddd",
        "file": RECORD["id"],
        "created_at": float(n),
        "expires_at": 9e9,
        "max_downloads": None,
        "downloads": 0,
        "protected": False,
        "state": "active",
        "revoked_at": None,
    }


def test_the_links_are_walked_a_page_at_a_time_and_joined() -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        at = int(request.url.params.get("after", "0"))
        page = [_link(n) for n in range(at * 3, at * 3 + 3)]
        return httpx.Response(200, json={"links": page, "next": str(at + 1) if at < 2 else None})

    api = ServerClient("http://server", "token", transport=httpx.MockTransport(handle))
    assert [link.created_at for link in api.links(str(RECORD["id"]))] == [float(n) for n in range(9)]
    assert [(r.url.path, r.url.params.get("after")) for r in seen] == [
        ("/api/links", None),
        ("/api/links", "1"),
        ("/api/links", "2"),
    ]
    assert {(r.url.params["file"], r.url.params["limit"]) for r in seen} == {(RECORD["id"], str(MAX_PAGE_SIZE))}
