"""The admin listing, apply and cluster config commands print the server's answer as they always have."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from coffer.client.api import ServerClient
from coffer.client.cli import admin

USERS = [{"id": "u-1", "name": "alice", "role": "admin", "created_at": 1.5}]
SHARDS = [
    {
        "name": "hq",
        "description": "head office",
        "copies": 2,
        "clusters": [{"name": "main", "read": True, "write": False}],
        "below_copies": 5,
        "unrepairable": 1,
    }
]
CLUSTERS = [{"id": "c-1", "name": "main", "generation": 2, "shards": [{"name": "hq", "read": True, "write": True}]}]
APPLIED = {
    "changes": [
        {"action": "create", "kind": "shard", "name": "hq", "description": "head office"},
        {"action": "remove", "kind": "cluster", "name": "old"},
    ],
    "dry_run": True,
}
CONFIG = {
    "config": {"server": {"url": "http://server"}, "cluster": {"name": "main"}, "shards": []},
    "toml": "[server]\n",
}
ANSWERS: dict[str, Any] = {
    "/api/admin/users": USERS,
    "/api/admin/shards": SHARDS,
    "/api/admin/clusters": CLUSTERS,
    "/api/admin/apply": APPLIED,
    "/api/admin/clusters/main/config": CONFIG,
    "/api/admin/clusters/main/rotate": CONFIG,
}


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch) -> list[httpx.Request]:
    requests: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(200, json=ANSWERS[request.url.path])

    transport = httpx.MockTransport(handle)
    monkeypatch.setattr(admin, "client", lambda: ServerClient("http://server", "token", transport=transport))
    return requests


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    top = argparse.ArgumentParser(prog="coffer")
    admin.register(top.add_subparsers(dest="command", required=True))
    args = top.parse_args(["admin", *argv])
    assert args.func(args) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize(("name", "answer"), [("users", USERS), ("shards", SHARDS), ("clusters", CLUSTERS)])
def test_a_listing_prints_the_answer_as_json_and_as_rows(
    name: str, answer: list[dict[str, Any]], seen: list[httpx.Request], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run([name, "--json"], capsys) == json.dumps(answer, indent=2) + "\n"
    rows = "\n".join(
        "  ".join(f"{k}={v if isinstance(v, (str, int, float)) else json.dumps(v)}" for k, v in row.items())
        for row in answer
    )
    assert run([name], capsys) == rows + "\n"
    assert [r.url.path for r in seen] == [f"/api/admin/{name}"] * 2


def test_apply_prints_its_changes_as_json_and_as_lines(
    tmp_path: Path, seen: list[httpx.Request], capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "shards.toml"
    config.write_text('[[shards]]\nname = "hq"\n')
    assert run(["apply", str(config), "--dry-run", "--json"], capsys) == json.dumps(APPLIED, indent=2) + "\n"
    assert run(["apply", str(config), "--dry-run"], capsys) == (
        "create shard   hq\nremove cluster old\nwould change 2 item(s)\n"
    )
    assert json.loads(seen[0].content)["config"] == {"shards": [{"name": "hq"}]}


def test_cluster_config_and_rotate_print_the_toml(
    seen: list[httpx.Request], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["cluster-config", "main"], capsys) == "[server]\n"
    assert run(["rotate", "main", "--grace", "60"], capsys) == "[server]\n"
    assert json.loads(seen[1].content) == {"grace_seconds": 60.0}


def test_fileserver_forget_posts_to_the_server_and_says_what_to_do_next(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fs_id = "5b3a6c1e-0d4f-4a8b-9c2d-1e0f3a4b5c6d"
    requests: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(204)

    transport = httpx.MockTransport(handle)
    monkeypatch.setattr(admin, "client", lambda: ServerClient("http://server", "token", transport=transport))
    out = run(["fileserver", "forget", fs_id], capsys)
    assert [(r.method, r.url.path) for r in requests] == [("POST", f"/api/admin/fileservers/{fs_id}/forget")]
    assert f"forgot the identity key of fileserver {fs_id}" in out and "restart" in out
