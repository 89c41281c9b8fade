"""What one xdist worker's fixtures gave it, written where :mod:`tests.test_workers` reads it.

Not a ``test_*`` file: only :mod:`tests.test_workers` runs it, with ``--dist each`` so
every worker runs it once.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests import postgres
from tests.backends.gcs_emulator import GcsEmulator
from tests.backends.s3_emulator import MotoEmulator
from tests.redis_server import redis_space


def test_record_what_this_worker_was_given(
    tmp_path: Path,
    pg_databases: postgres.PostgresDatabases,
    s3_emulator: MotoEmulator,
    gcs_emulator: GcsEmulator,
) -> None:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    assert worker, "this probe runs on an xdist worker"
    with redis_space() as space:
        redis_prefix = space.prefix
    record = {
        "worker": worker,
        "tmp_path": str(tmp_path),
        "database": pg_databases.create().rsplit("/", 1)[1],
        "s3_port": s3_emulator.port,
        "gcs_port": gcs_emulator.port,
        "redis_prefix": redis_prefix,
    }
    out = Path(os.environ["COFFER_TEST_PROBE_OUT"]) / f"{worker}.json"
    out.write_text(json.dumps(record))
