"""Retention enforced by the server's own scheduler on a live network, with no test calling the sweep.

The server runs with a one-second lifecycle interval and short tickets; the test
only waits. An upload left unfinished is collected once its ticket and grace
ran out; a file past its expiry leaves the server and every disk, but not while it
is under legal hold. Two gunicorn workers both schedule the job, and the lease in
the database lets exactly one of them act on each file.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from coffer.client.coffer import Coffer
from coffer.devnet.procs import wait_until
from coffer.protocol import routes
from coffer.protocol.api.files import CreateFile
from coffer.protocol.api.tickets import TicketRequest

from .network import Fileserver, Network, chunk_files, start_network

USER, PASSWORD = "rhea", "rhea-integration-pw"
MiB = 1 << 20

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    network = start_network(
        tmp_path_factory.mktemp("scheduled-retention"),
        server_extra={"COFFER_LIFECYCLE_INTERVAL": "1", "COFFER_TICKET_TTL": "2", "COFFER_UPLOAD_GRACE": "1"},
        fileserver_extra={"COFFER_FS_RECONCILE_DELAY": "0.5", "COFFER_FS_RECONCILE_INTERVAL": "1"},
    )
    try:
        network.create_user(USER, PASSWORD)
        yield network
    finally:
        network.stop()


@pytest.fixture
def coffer(net: Network, tmp_path: Path) -> Iterator[Coffer]:
    with Coffer.login(net.url, USER, PASSWORD, config_dir=tmp_path / "config") as c:
        yield c


def on_disk(fs: Fileserver, file_id: str) -> list[Path]:
    return chunk_files(fs, file_id)


def everywhere(net: Network, file_id: str) -> list[Path]:
    return [p for fs in net.fileservers for p in on_disk(fs, file_id)]


def upload(coffer: Coffer, tmp_path: Path) -> str:
    source = tmp_path / f"file-{os.urandom(4).hex()}"
    source.write_bytes(os.urandom(3 * MiB))
    return coffer.upload(source, chunk_size=MiB).file_id


def swept(net: Network, reason: str, file_id: str) -> int:
    """How often the scheduler recorded dropping *file_id* for *reason* (``file.expired``, ``upload.abandoned``)."""
    return len(net.sql("SELECT id FROM audit_log WHERE action = ? AND object = ?", (reason, f"file:{file_id}")))


def test_the_scheduler_collects_an_abandoned_upload_and_frees_its_quota(net: Network, coffer: Coffer) -> None:
    pending = coffer.api.create_file(CreateFile("default", 10, 10, 1, "AAAA")).id
    coffer.api.tickets(pending, TicketRequest("put"))
    files_before = coffer.api.my_quota().files.used
    # The put ticket lives 2 s, the grace is 1 s, the sweep runs every second.
    wait_until(lambda: swept(net, "upload.abandoned", pending) > 0, 20, "the scheduler to collect the upload")
    assert pending not in {f.id for f in coffer.list()}
    assert coffer.api.my_quota().files.used == files_before - 1
    time.sleep(2)
    assert swept(net, "upload.abandoned", pending) == 1, "one worker holds the lease and acts, once"


def test_the_scheduler_expires_a_file_from_the_server_and_every_disk_but_not_a_held_one(
    net: Network, coffer: Coffer, tmp_path: Path
) -> None:
    expiring, held = upload(coffer, tmp_path), upload(coffer, tmp_path)
    assert net.admin is not None
    net.admin.set_hold(routes.admin_file_hold(held), True, {"reason": "test"})
    # SECURITY: the one edit made behind the server's back: the files' expiry moved to the past, which
    # stands for waiting out their shortest lifetime (a minute). Everything after is the scheduler's.
    net.sql("UPDATE files SET expires_at = ? WHERE id IN (?, ?)", (time.time() - 1, expiring, held))
    wait_until(lambda: swept(net, "file.expired", expiring) > 0, 20, "the scheduler to expire the file")
    wait_until(lambda: not everywhere(net, expiring), 30, "its chunks to leave every disk")
    assert expiring not in {f.id for f in coffer.list()}
    time.sleep(2)
    assert swept(net, "file.expired", expiring) == 1, "one worker holds the lease and acts, once"
    assert swept(net, "file.expired", held) == 0 and len(everywhere(net, held)) == 3, "the held file stays whole"
    net.admin.set_hold(routes.admin_file_hold(held), False, None)
    wait_until(lambda: not everywhere(net, held), 30, "the released file to go at a following sweep")
