"""The `coffer` command starts without loading what only the server and fileserver programs need."""

from __future__ import annotations

import subprocess
import sys


def test_building_the_cli_loads_no_database_driver_server_app_or_progress_bar() -> None:
    probe = (
        "import sys; from client.cli.main import build_parser; build_parser(); "
        "late = ('psycopg', 'falcon', 'gunicorn', 'boto3', 'server.db', 'tqdm'); "
        "print(' '.join(m for m in late if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "", f"loaded at start-up: {done.stdout.strip()}"
