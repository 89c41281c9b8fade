"""Two xdist workers of one run never share an emulator, a temporary directory, a database or a Redis prefix.

The rules of tests/README.md, held where a test can hold them: a small run of two workers
(``--dist each``, so both run the probe) records what each one's fixtures gave it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import postgres, redis_server

REPO = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def test_two_workers_get_emulators_directories_databases_and_redis_keys_of_their_own(tmp_path: Path) -> None:
    postgres.require()
    redis_server.require()
    env = os.environ | {"COFFER_TEST_PROBE_OUT": str(tmp_path)}
    args = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-n", "2", "--dist", "each"]
    done = subprocess.run(
        [*args, "tests/worker_probe.py"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    records = [json.loads(p.read_text()) for p in sorted(tmp_path.glob("gw*.json"))]
    assert [r["worker"] for r in records] == ["gw0", "gw1"]
    first, second = records
    for name in ("database", "s3_port", "gcs_port", "redis_prefix"):
        assert first[name] != second[name], name
    assert not Path(first["tmp_path"]).is_relative_to(Path(second["tmp_path"]).parent)
