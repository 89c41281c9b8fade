"""`coffer rm` of many files: a page of ids per request, each refusal reported, the rest still deleted."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from coffer.client import errors
from coffer.client.cli import files
from coffer.client.coffer import Coffer
from coffer.format.keys import UserKeys
from coffer.protocol.api.deletions import MAX_DELETIONS
from coffer.protocol.ids import new_id

Handler = Callable[[httpx.Request], httpx.Response]


def _coffer(handle: Handler, tmp_path: Path) -> Coffer:
    transport = httpx.MockTransport(handle)
    return Coffer("http://server", "token", UserKeys.generate(), config_dir=tmp_path, transport=transport)


def batch_server(seen: list[httpx.Request], refuse: dict[str, tuple[int, str]]) -> Handler:
    """A server that deletes every file of a batch except those in *refuse* (id → status, code)."""

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        ids = json.loads(request.content)["ids"]
        refused = [
            {"id": i, "error": refuse[i][1], "message": f"{i} refused", "status": refuse[i][0]}
            for i in ids
            if i in refuse
        ]
        return httpx.Response(200, json={"deleted": [i for i in ids if i not in refuse], "refused": refused})

    return handle


def test_many_files_are_deleted_a_page_per_request_and_refusals_come_back_as_errors(tmp_path: Path) -> None:
    ids = [new_id() for _ in range(2 * MAX_DELETIONS + 500)]
    seen: list[httpx.Request] = []
    refuse = {ids[3]: (404, "file_not_found"), ids[1500]: (403, "file_on_hold")}
    with _coffer(batch_server(seen, refuse), tmp_path) as coffer:
        results = list(coffer.remove_many(ids))
    assert [(r.method, r.url.path) for r in seen] == [("POST", "/api/files/deletions")] * 3
    assert [len(json.loads(r.content)["ids"]) for r in seen] == [MAX_DELETIONS, MAX_DELETIONS, 500]
    assert [i for i, _ in results] == ids
    failed = {i: e for i, e in results if e is not None}
    assert set(failed) == set(refuse)
    assert isinstance(failed[ids[3]], errors.NotFoundError) and errors.exit_code(failed[ids[3]]) == 6
    assert isinstance(failed[ids[1500]], errors.PermissionDenied) and failed[ids[1500]].code == "file_on_hold"


def test_a_server_without_batches_gets_one_delete_per_file(tmp_path: Path) -> None:
    ids = [new_id() for _ in range(3)]
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.method == "POST":
            return httpx.Response(405, json={"error": "method_not_allowed", "message": "no"})
        if request.url.path.endswith(ids[1]):
            return httpx.Response(404, json={"error": "file_not_found", "message": "no such file of yours"})
        return httpx.Response(204)

    with _coffer(handle, tmp_path) as coffer:
        results = list(coffer.remove_many(ids))
    assert [(r.method, r.url.path.rsplit("/", 1)[-1]) for r in seen[1:]] == [("DELETE", i) for i in ids]
    assert [(i, type(e)) for i, e in results] == [
        (ids[0], type(None)),
        (ids[1], errors.NotFoundError),
        (ids[2], type(None)),
    ]


def _rm(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, handle: Handler, *ids: str) -> int:
    monkeypatch.setattr(files, "open_coffer", lambda: _coffer(handle, tmp_path))
    top = argparse.ArgumentParser()
    files.register(top.add_subparsers())
    args = top.parse_args(["rm", *ids])
    result: int = args.func(args)
    return result


def test_rm_reports_each_file_refused_deletes_the_rest_and_exits_with_the_first_refusals_code(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = [new_id() for _ in range(4)]
    seen: list[httpx.Request] = []
    handle = batch_server(seen, {ids[1]: (403, "file_on_hold"), ids[2]: (404, "file_not_found")})
    assert _rm(monkeypatch, tmp_path, handle, *ids, ids[0]) == 5
    assert len(seen) == 1 and json.loads(seen[0].content)["ids"] == ids
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        f"deleted {ids[0]}",
        f"coffer: {ids[1]} was not deleted: {ids[1]} refused",
        f"coffer: {ids[2]} was not deleted: {ids[2]} refused",
        f"deleted {ids[3]}",
    ]


def test_rm_of_many_ids_with_one_that_is_no_id_deletes_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seen: list[httpx.Request] = []
    with pytest.raises(errors.UsageError, match="'report.pdf' is not a file id"):
        _rm(monkeypatch, tmp_path, batch_server(seen, {}), new_id(), "report.pdf")
    assert seen == []
