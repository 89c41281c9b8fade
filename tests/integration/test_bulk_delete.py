"""A bulk delete on real processes: thousands of purges drain while every fileserver stays live.

Deleting a few hundred files at once used to take every fileserver out for good: the
heartbeat confirming the purges outgrew the signed-token cap, the server refused it as
malformed on every beat, and the leases ran out. This runs the whole path: 2,000 tiny
files uploaded and deleted at once through the client API, the purge orders paged in
heartbeat answers, the confirmations paged in heartbeats, and the chunks gone from disk.

The beat here is 3 s rather than the other tests' 0.5 s, so that, as in production (10 s
beats, a client deleting dozens of files a second), hundreds of purges fall into one beat.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from coffer.client.coffer import Coffer

from .network import Network, start_network

pytestmark = pytest.mark.slow

USER, PASSWORD = "bulk", "bulk-delete-password-1"
FILES = 2000
WORKERS = 4
DRAIN_TIMEOUT = 60.0
HEARTBEAT = "3"
SERVER = {
    "COFFER_HEARTBEAT_INTERVAL": HEARTBEAT,
    "COFFER_LEASE_SECONDS": "9",
    "COFFER_RATE_LIMIT_PER_ADDRESS": "0",
    "COFFER_RATE_LIMIT_PER_USER": "0",
    "COFFER_RATE_LIMIT_FILESERVERS": "0",
}


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    network = start_network(
        tmp_path_factory.mktemp("bulk"),
        server_extra=SERVER,
        fileserver_extra={"COFFER_FS_HEARTBEAT_INTERVAL": HEARTBEAT},
    )
    try:
        network.create_user(USER, PASSWORD)
        yield network
    finally:
        network.stop()


@pytest.fixture
def clients(net: Network, tmp_path: Path) -> Iterator[list[Coffer]]:
    """A few sessions of the user, one per thread of :func:`in_parallel`."""
    sessions = [Coffer.login(net.url, USER, PASSWORD, config_dir=tmp_path / f"config-{n}") for n in range(WORKERS)]
    try:
        yield sessions
    finally:
        for session in sessions:
            session.close()


def in_parallel(clients: list[Coffer], work: Callable[[Coffer, int], str | None], count: int) -> list[str | None]:
    """Run *work(client, i)* for every i below *count*, each client in its own thread."""
    with ThreadPoolExecutor(len(clients)) as pool:
        shares = [range(n, count, len(clients)) for n in range(len(clients))]
        done = pool.map(lambda n: [(i, work(clients[n], i)) for i in shares[n]], range(len(clients)))
        results = dict(pair for share in done for pair in share)
    return [results[i] for i in range(count)]


def chunks_on_disk(net: Network, file_ids: set[str]) -> int:
    """Count the chunk files of *file_ids* left in the fileservers' data directories.

    The fileservers delete while this walks: a directory removed between being listed and being read
    counts as empty (``os.walk`` passes over it), where ``Path.rglob`` raised FileNotFoundError.
    """
    return sum(
        len(files) for fs in net.fileservers for where, _, files in os.walk(fs.data_dir) if Path(where).name in file_ids
    )


class LivenessWatch:
    """Poll the server's fileserver list in the background; remember every moment one was not live."""

    def __init__(self, net: Network, every: float = 0.25):
        self.net, self.every = net, every
        self.polls = 0
        self.lapses: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="liveness-watch", daemon=True)

    def __enter__(self) -> LivenessWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        started = time.monotonic()
        while not self._stop.wait(self.every):
            listing = self.net.listing()
            self.polls += 1
            self.lapses += [(round(time.monotonic() - started, 1), fs["url"]) for fs in listing if not fs["live"]]


def test_deleting_2000_files_at_once_keeps_every_fileserver_live_and_empties_the_disks(
    net: Network, clients: list[Coffer], tmp_path: Path
) -> None:
    sources = tmp_path / "sources"
    sources.mkdir()

    def upload(client: Coffer, i: int) -> str:
        source = sources / f"f{i}.txt"
        source.write_text(f"file {i}\n")
        return client.upload(source).file_id

    file_ids = [f for f in in_parallel(clients, upload, FILES) if f is not None]
    assert len(set(file_ids)) == FILES
    stored = chunks_on_disk(net, set(file_ids))
    assert stored >= FILES

    def remove(client: Coffer, i: int) -> None:
        client.remove(file_ids[i])

    def backlog() -> tuple[int, int]:
        """Chunks still on disk, and purges the server still waits to see confirmed."""
        return chunks_on_disk(net, set(file_ids)), net.sql("SELECT COUNT(*) AS n FROM purges")[0]["n"]

    with LivenessWatch(net) as watch:
        in_parallel(clients, remove, FILES)
        deadline = time.monotonic() + DRAIN_TIMEOUT
        while (left := backlog()) != (0, 0) and time.monotonic() < deadline:
            time.sleep(0.5)
    assert left == (0, 0), f"(chunks on disk, purges unconfirmed) {left} after {DRAIN_TIMEOUT:.0f} s; {stored} stored"
    assert watch.polls >= 4
    assert watch.lapses == [], f"fileservers dropped out of the live list: {watch.lapses[:5]}"
    assert all(fs["live"] for fs in net.listing())
