"""Many files in one `coffer upload` past the per-user rate limit: the client waits, says so, and goes on.

The limit is lowered so that a few dozen files meet it (three API calls a file), as a
thousand do at the default; the wait is one fixed window at most, so the test stays
under two minutes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from .network import Network, clean_env
from .test_cli import PASSWORD, run

pytestmark = pytest.mark.slow

LIMIT = 30
FILES = 20
"""Two calls a file (a create answers with its ticket): 40 calls and the session's few cross the limit of 30 once,
and fit in the next window, so the command waits once, a window at most. 32 files made 64 calls, which need a third
window: the command then waited up to two windows, and passed the run's 120 s when the user's window had just begun."""


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    root = tmp_path_factory.mktemp("bulk")
    net = Network.launch(root, 1, server_extra={"COFFER_RATE_LIMIT_PER_USER": str(LIMIT)})
    try:
        yield net
    finally:
        net.stop()


def test_an_upload_of_more_files_than_the_rate_limit_allows_waits_and_finishes(
    limited: Network, tmp_path: Path
) -> None:
    name = f"bulk{os.urandom(3).hex()}"
    limited.create_user(name, PASSWORD)
    env = clean_env(
        COFFER_CONFIG_DIR=str(tmp_path / "config"),
        COFFER_SERVER=limited.url,
        COFFER_USER=name,
        COFFER_PASSWORD=PASSWORD,
    )
    sources = []
    for i in range(FILES):
        path = tmp_path / f"f{i:03}.txt"
        path.write_bytes(os.urandom(1000))
        sources.append(str(path))
    done = run(["upload", "-q", *sources], env)
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.split()) == FILES
    assert "the server is limiting requests from this client: waiting" in done.stderr
    listed = json.loads(run(["ls", "--json"], env).stdout)
    assert sorted(f["name"] for f in listed) == [Path(s).name for s in sources]
    assert all(f["state"] == "complete" for f in listed)
