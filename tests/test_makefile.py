"""``make run`` installs what running needs; ``make test`` adds the test tooling, as ``make -n`` shows."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def planned(target: str, venv: Path) -> str:
    """Return the commands ``make TARGET`` would run with no virtual environment yet, without running them."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    done = subprocess.run(
        ["make", "-n", "--no-print-directory", target, f"VENV={venv}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_make_run_installs_the_server_and_fileserver_and_no_test_tooling(tmp_path: Path) -> None:
    commands = planned("run", tmp_path / "venv")
    assert "pip install --quiet -e '.[server,fileserver]'" in commands
    assert "tests/emulators" not in commands and ",dev" not in commands and "bench" not in commands
    assert commands.rstrip().endswith("coffer devnet")


def test_make_run_builds_the_web_page_and_says_so_when_npm_is_missing(tmp_path: Path) -> None:
    commands = planned("run", tmp_path / "venv")
    assert "node web/build.mjs" in commands
    assert "npm ci --prefix web" in commands or (REPO / "web/node_modules/.installed").exists()
    assert "install them (Debian: apt-get install nodejs npm)" in (REPO / "Makefile").read_text()


def test_make_test_sets_up_everything_on_a_fresh_clone(tmp_path: Path) -> None:
    commands = planned("test", tmp_path / "venv")
    assert "'.[server,fileserver]'" in commands and "'.[server,fileserver,dev,bench]'" in commands
    assert "npm ci --prefix tests/emulators" in commands
    assert "tsc --noEmit" in commands and "node web/build.mjs" in commands
    assert "-m pytest" in commands


def test_the_editable_install_asks_for_no_deprecated_mode() -> None:
    """setuptools warns that the "compat" editable mode is transitional: nothing here asks for it."""
    for name in ("Makefile", "setup.cfg", "pyproject.toml"):
        assert "editable_mode" not in (REPO / name).read_text(), name
