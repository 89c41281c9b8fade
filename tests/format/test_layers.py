"""The format package stands alone: it imports only the protocol package, and no fileserver imports it.

A browser client mirrors ``coffer.format`` name for name, so it must not lean on the client's
I/O; fileservers only ever see ciphertext, so they have no use for the format at all.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]


def coffer_imports(folder: str) -> set[tuple[str, str]]:
    """Return ``(file, module)`` for every ``coffer.*`` module imported by the files under *folder*."""
    found = set()
    for path in (ROOT / folder).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add((path.name, node.module))
            elif isinstance(node, ast.Import):
                found.update((path.name, alias.name) for alias in node.names)
    return {(name, module) for name, module in found if module.startswith("coffer")}


def test_the_format_package_imports_only_the_protocol_package() -> None:
    outside = {(name, m) for name, m in coffer_imports("format") if not m.startswith("coffer.protocol")}
    assert outside == set()


@pytest.mark.parametrize("folder", ["fileserver", "protocol"])
def test_fileservers_and_the_protocol_never_import_the_format(folder: str) -> None:
    assert {(name, m) for name, m in coffer_imports(folder) if m.startswith("coffer.format")} == set()


def test_the_format_package_does_no_io() -> None:
    """No sockets, files, subprocesses or clock: only bytes in, bytes out."""
    banned = {"socket", "subprocess", "time", "datetime", "pathlib", "httpx", "io", "shutil", "tempfile"}
    for path in (ROOT / "format").glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        modules = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        modules |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module and n.level == 0}
        assert not {m.split(".")[0] for m in modules} & banned, path.name
        calls = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
        assert "open" not in calls, path.name
