"""Build the web page for a test run and drive it in Debian's chromium through Playwright.

Playwright's own browser downloads are never used: the tests launch /usr/bin/chromium
(installed by ``make test-tools``). Where chromium, Node.js or Playwright is missing, the web
tests skip, except under CI (``CI`` set), where that fails the run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
WEB = REPO / "web"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def unavailable(reason: str) -> None:
    """Skip the calling test, or fail it under CI, where every tool must be there."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI needs it: run `make test-tools web`)")
    pytest.skip(reason)


def _installed() -> bool:
    """Return True if every package web/package.json names is in web/node_modules (one added since is not)."""
    wanted = json.loads((WEB / "package.json").read_text())
    names = {**wanted.get("dependencies", {}), **wanted.get("devDependencies", {})}
    return all((WEB / "node_modules" / name / "package.json").exists() for name in names)


def build(out: Path) -> Path:
    """Build the page with its test pages into *out* (about a second) and return *out*."""
    node = shutil.which("node")
    if node is None:
        unavailable("Node.js is not installed: the web page cannot be built")
    if not _installed():
        if shutil.which("npm") is None:
            unavailable("npm is not installed: the web page's build tools cannot be installed")
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=WEB, check=True, timeout=300)
    done = subprocess.run(
        [str(node), str(WEB / "build.mjs"), "--out", str(out), "--tests"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return out


def chromium_path() -> str:
    """Return Debian's chromium; skip (or fail under CI) without it."""
    if not CHROMIUM.exists():
        unavailable(f"{CHROMIUM} is not installed: run `make test-tools`")
    return str(CHROMIUM)
