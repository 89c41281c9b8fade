"""The server's PostgreSQL stopped and started again while transfers run.

A throwaway PostgreSQL cluster is made for this module (``initdb`` and ``pg_ctl``
as the ``postgres`` user, on a free port, in a temporary directory), so restarting it
touches nothing else on the machine. While it is down, every call that needs the
database answers 503 ``unavailable`` with a message saying to try again; chunks keep
moving between the client and the fileservers. Once it is back the very next calls
work, and a finalize cut off by the outage left no part of its record written: the
upload runs again and completes. Needs root and PostgreSQL's server binaries; skipped
otherwise, failed under CI.
"""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from coffer.client.coffer import Coffer
from coffer.client.errors import ApiError
from coffer.devnet.procs import free_port

from ..services import unavailable
from .network import Network

USER, PASSWORD = "pia", "pia-integration-pw"
MiB = 1 << 20

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


@dataclass
class Cluster:
    """A PostgreSQL cluster of our own, run by the ``postgres`` user; stopped and removed by the fixture."""

    root: Path
    bin: Path
    port: int

    def pg_ctl(self, *args: str) -> None:
        data, log = str(self.root / "data"), str(self.root / "postgres.log")
        done = subprocess.run(
            ["runuser", "-u", "postgres", "--", str(self.bin / "pg_ctl"), "-D", data, "-l", log, "-w", *args],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr + done.stdout

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} -c fsync=off"
        self.pg_ctl("-o", options, "start")

    def stop(self) -> None:
        self.pg_ctl("-m", "fast", "stop")

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if os.geteuid() != 0 or not found or shutil.which("runuser") is None:
        unavailable("a throwaway PostgreSQL needs root, runuser and initdb", "CI runs as root with PostgreSQL")
    # Not under pytest's own temporary directory: its parents are closed to the postgres user.
    root = Path(tempfile.mkdtemp(prefix="coffer-pg-"))
    shutil.chown(root, "postgres", "postgres")
    pg = Cluster(root, Path(found[-1]).parent, free_port())
    try:
        done = subprocess.run(
            ["runuser", "-u", "postgres", "--", str(pg.bin / "initdb"), "-D", str(root / "data"), "-A", "trust"]
            + ["-U", "postgres", "--no-sync"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        pg.start()
        try:
            yield pg
        finally:
            pg.pg_ctl("-m", "immediate", "stop") if (root / "data" / "postmaster.pid").exists() else None
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory, cluster: Cluster) -> Iterator[Network]:
    network = Network.launch(tmp_path_factory.mktemp("pg-restart"), 2, database_url=cluster.url)
    try:
        network.create_user(USER, PASSWORD)
        yield network
    finally:
        network.stop()


@pytest.fixture
def coffer(net: Network, tmp_path: Path) -> Iterator[Coffer]:
    with Coffer.login(net.url, USER, PASSWORD, config_dir=tmp_path / "config") as c:
        yield c


def random_file(path: Path, size: int) -> str:
    data = os.urandom(size)
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def refused_clearly(call: Callable[[], object]) -> ApiError:
    with pytest.raises(ApiError) as caught:
        call()
    assert (caught.value.status, caught.value.code) == (503, "unavailable")
    assert "database is unavailable: try again shortly" in caught.value.message
    return caught.value


def test_an_upload_runs_on_through_a_database_restart_with_clear_errors_meanwhile(
    net: Network, cluster: Cluster, coffer: Coffer, tmp_path: Path
) -> None:
    source = tmp_path / "through.bin"
    digest = random_file(source, 48 * MiB)
    seen: list[str] = []

    def outage(done: int, total: int) -> None:
        if not seen and done >= total * 0.25:
            cluster.stop()
            seen.append("down")
        elif seen == ["down"] and done >= total * 0.5:
            refused_clearly(coffer.api.my_quota)
            cluster.start()
            for _ in range(12):  # more than the two workers' pooled connections: none of them stale
                coffer.api.my_quota()
            seen.append("up")

    result = coffer.upload(source, chunk_size=MiB, on_progress=outage)
    assert seen == ["down", "up"]
    assert coffer.api.get_file(result.file_id).state == "complete"
    # The outage outlasted the fileservers' leases: a download sent before their first beat after it finds
    # the chunks on no live fileserver, and rightly says so. Wait for the beats, as a user would retry.
    for fs in net.fileservers:
        net.wait_fileserver(fs)
    assert sha256_of(coffer.download(result.file_id, tmp_path / "copy.bin")) == digest
    assert net.server is not None and "Traceback" not in net.server.tail(10**7), "no request failed unhandled"


def test_a_request_during_an_outage_waits_for_the_database_once_not_in_its_rate_limit_check_too(
    cluster: Cluster, coffer: Coffer
) -> None:
    """The limit check lets a request through when its store is down, after a second at most; the request then
    waits for the pool once, in its handler (10 s), and answers 503. It waited twice, 20 s, holding a thread."""
    coffer.api.my_quota()  # the session is known and the pool is warm
    cluster.stop()
    try:
        started = time.monotonic()
        refused_clearly(coffer.api.my_quota)
        waited = time.monotonic() - started
    finally:
        cluster.start()
    assert waited < 16, f"a request during the outage took {waited:.1f} s to answer 503"


def test_a_finalize_cut_off_by_the_database_writes_nothing_and_the_upload_completes_when_run_again(
    net: Network, cluster: Cluster, coffer: Coffer, tmp_path: Path
) -> None:
    source = tmp_path / "cut.bin"
    digest = random_file(source, 6 * MiB)

    def down_before_finalize(done: int, total: int) -> None:
        if done == total:
            cluster.stop()

    try:
        refused_clearly(lambda: coffer.upload(source, chunk_size=MiB, on_progress=down_before_finalize))
    finally:
        cluster.start()
    # Once the database is back, the very next requests are served: the pool checks each connection it hands out
    # and replaces the ones the restart broke, in every worker, instead of answering 503 until they age out; and a
    # worker left with no connection by the outage tries again within a second, not after a backoff grown meanwhile.
    for _ in range(6):
        [pending] = [f for f in coffer.list() if f.state == "pending"]
    # The outage outlasted the fileservers' leases: a rerun confirms chunks only on fileservers listed live, and
    # would rightly send again those held by one whose first beat after the restart has not come in yet.
    for fs in net.fileservers:
        net.wait_fileserver(fs)
    assert net.sql("SELECT count(*) AS n FROM chunks WHERE file_id = ?", (pending.id,)) == [{"n": 0}]
    assert net.sql("SELECT count(*) AS n FROM chunk_locations WHERE file_id = ?", (pending.id,)) == [{"n": 0}]

    again = coffer.upload(source, chunk_size=MiB)
    assert again.resumed and again.file_id == pending.id and (again.chunks_sent, again.chunks_skipped) == (0, 6)
    assert coffer.api.get_file(pending.id).state == "complete"
    # No wait here: fileservers seen live stay live. The beats that waited in the server through the outage commit
    # after the fresh ones and once dated the lease back, dropping a fileserver from the list just before this.
    assert sha256_of(coffer.download(pending.id, tmp_path / "copy.bin")) == digest


def test_no_request_after_a_database_restart_is_handed_a_connection_the_restart_broke(
    net: Network, cluster: Cluster, coffer: Coffer
) -> None:
    """Every worker's pool holds several idle connections when the database restarts; each is checked when
    handed out and replaced if broken, so the first requests after the restart are served, not answered 503."""

    def burst() -> list[BaseException]:
        failed: list[BaseException] = []

        def calls() -> None:
            for _ in range(4):
                try:
                    coffer.api.my_quota()
                except ApiError as exc:
                    failed.append(exc)

        threads = [threading.Thread(target=calls) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        return failed

    assert burst() == [], "the server serves before the restart"  # and its pools hold connections to break
    cluster.pg_ctl("-m", "fast", "restart")
    assert burst() == [], "a request after the restart was handed a broken connection"
