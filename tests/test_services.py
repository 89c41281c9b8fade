"""A missing emulator skips its tests on a developer's machine and fails them under CI, as PostgreSQL and Redis do."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.services import start_emulator

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow  # two runs of pytest of their own
ONE_TEST_EACH = [
    "tests/fileserver/test_fs_azure.py::test_a_chunk_of_exactly_one_block_is_stored_whole",
    "tests/fileserver/test_fs_gcs.py::test_a_wrong_hash_is_caught_before_the_final_part_is_sent",
]
# A test run in which neither Azurite nor gcp-storage-emulator is installed: in this one process
# (``-n0``), since xdist workers would not see the paths patched here.
WITHOUT_EMULATORS = """
import sys
from pathlib import Path
import pytest
from coffer.devnet.emulators import azure, gcs
azure.AZURITE = gcs.EMULATOR = Path(sys.argv[1]) / "not-installed"
sys.exit(pytest.main(["-n0", "-p", "no:cacheprovider", "-q", "-rsE", *sys.argv[2:]]))
"""


def _run_without_emulators(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    args = [sys.executable, "-c", WITHOUT_EMULATORS, str(tmp_path), *ONE_TEST_EACH]
    return subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


def test_missing_emulators_skip_their_tests_with_the_reason_outside_ci(tmp_path: Path) -> None:
    done = _run_without_emulators(tmp_path, ci=None)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 skipped" in done.stdout
    assert "Azurite is not installed" in done.stdout and "gcp-storage-emulator is not installed" in done.stdout


def test_missing_emulators_fail_their_tests_under_ci(tmp_path: Path) -> None:
    done = _run_without_emulators(tmp_path, ci="true")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "2 error" in done.stdout and "skipped" not in done.stdout
    assert "Azurite is not installed" in done.stdout and "CI needs every emulator" in done.stdout


def test_an_emulator_that_starts_is_returned_as_started() -> None:
    assert start_emulator(lambda: "running") == "running"


def test_other_start_up_failures_are_not_turned_into_skips(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)

    def broken() -> None:
        raise RuntimeError("azurite did not come up on port 1")

    with pytest.raises(RuntimeError, match="did not come up"):
        start_emulator(broken)
