"""Every API path is spelled once, in coffer.protocol.routes, and its builders fill the templates."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from coffer.protocol import routes

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("client", "server", "fileserver", "protocol", "format", "transfer", "devnet", "src", "bench")
ROUTES_MODULE = ROOT / "protocol" / "routes.py"


def _docstrings(tree: ast.AST) -> set[int]:
    """Return the string statements (module, class, function and attribute docstrings): prose, not paths."""
    return {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
    }


def _path_literals(path: Path, root: Path = ROOT) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    skip = _docstrings(tree)
    hits = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            if "/api/" in node.value or node.value.startswith("/api"):
                hits.append(f"{path.relative_to(root)}:{node.lineno}: {node.value!r}")
    return hits


def test_no_api_path_literal_outside_the_routes_module() -> None:
    hits = [
        hit
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if path != ROUTES_MODULE
        for hit in _path_literals(path)
    ]
    assert hits == []


def test_the_literal_check_finds_a_path_in_code_but_not_in_a_docstring(tmp_path: Path) -> None:
    sample = tmp_path / "probe.py"
    sample.write_text('"""Talk to ``/api/files``."""\n\nPATH = f"/api/files/{1}"\n')
    assert _path_literals(sample, tmp_path) == ["probe.py:3: '/api/files/'"]


def test_every_template_is_under_the_api_prefix() -> None:
    templates = [v for k, v in vars(routes).items() if k.isupper() and isinstance(v, str)]
    assert len(templates) == len(set(templates))
    assert all(t.startswith(routes.PREFIX) for t in templates)


@pytest.mark.parametrize(
    ("built", "expected"),
    [
        (routes.session("s1"), "/api/auth/sessions/s1"),
        (routes.shard_fileservers("hq"), "/api/shards/hq/fileservers"),
        (routes.file("f1"), "/api/files/f1"),
        (routes.file_tickets("f1"), "/api/files/f1/tickets"),
        (routes.file_finalize("f1"), "/api/files/f1/finalize"),
        (routes.file_shares("f1"), "/api/files/f1/shares"),
        (routes.file_share("f1", "bob"), "/api/files/f1/shares/bob"),
        (routes.file_links("f1"), "/api/files/f1/links"),
        (routes.user_public_key("bob"), "/api/users/bob/public-key"),
        (routes.link("l1"), "/api/links/l1"),
        (routes.link_downloads("l1"), "/api/links/l1/downloads"),
        (routes.link_tickets("l1"), "/api/links/l1/tickets"),
        (routes.admin_user("bob"), "/api/admin/users/bob"),
        (routes.admin_user_quota("bob"), "/api/admin/users/bob/quota"),
        (routes.admin_file_hold("f1"), "/api/admin/holds/files/f1"),
        (routes.admin_user_hold("bob"), "/api/admin/holds/users/bob"),
        (routes.admin_share("f1", "bob"), "/api/admin/shares/f1/bob"),
        (routes.admin_link("l1"), "/api/admin/links/l1"),
        (routes.admin_cluster_config("hq"), "/api/admin/clusters/hq/config"),
        (routes.admin_cluster_rotate("hq"), "/api/admin/clusters/hq/rotate"),
        (routes.chunk("hq", "f1", "c1"), "/api/chunks/hq/f1/c1"),
    ],
)
def test_builders_fill_their_template_with_the_ids(built: str, expected: str) -> None:
    assert built == expected
