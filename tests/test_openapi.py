"""docs/openapi.yaml describes exactly the routes the server and the fileserver really serve."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import falcon
import falcon.inspect
import yaml

from tests.fileserver.fs_helpers import fileserver_app
from tests.server.conftest import Harness

SPEC = Path(__file__).resolve().parent.parent / "docs" / "openapi.yaml"
METHODS = {"get", "put", "post", "delete", "head", "patch"}


def _documented(program: str) -> set[tuple[str, str]]:
    spec: dict[str, Any] = yaml.safe_load(SPEC.read_text())
    assert spec["openapi"].startswith("3.")
    routes = set()
    for path, item in spec["paths"].items():
        programs = item["x-coffer-program"]
        if program in ([programs] if isinstance(programs, str) else programs):
            routes |= {(method.upper(), path) for method in item if method in METHODS}
    return routes


def _served(app: falcon.App[falcon.Request, falcon.Response]) -> set[tuple[str, str]]:
    return {
        (m.method, route.path) for route in falcon.inspect.inspect_routes(app) for m in route.methods if not m.internal
    }


def test_openapi_lists_every_server_route_and_no_other(tmp_path: Path) -> None:
    harness = Harness(f"sqlite:///{tmp_path / 'coffer.db'}")
    assert _served(harness.client.app) == _documented("server")


def test_openapi_lists_every_fileserver_route_and_no_other(tmp_path: Path) -> None:
    assert _served(fileserver_app(tmp_path)) == _documented("fileserver")


def test_every_operation_documents_its_error_answers() -> None:
    spec: dict[str, Any] = yaml.safe_load(SPEC.read_text())
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in METHODS - {"head"}:
                codes = {int(c) for c in operation["responses"] if c != "default"}
                assert any(c >= 400 for c in codes) or "default" in operation["responses"], (method, path)
