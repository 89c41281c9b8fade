"""Deletion, expiry, hold and garbage collection with a real server and real fileservers on local disk.

Time is moved, not waited for: the lifecycle sweep is run against the server's
database with a ``now`` a month ahead. What the tests then wait for is the real
protocol: the purge order in a heartbeat answer, the fileserver deleting and
verifying, its confirmation in the next beat.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from coffer.client.coffer import Coffer
from coffer.devnet.procs import wait_until
from coffer.server.jobs import retention
from coffer.server.store.db import Database

from .network import ADMIN_PASSWORD, LEASE, Fileserver, Network, chunk_files, start_network

USER, PASSWORD = "dora", "lifecycle-password-1"
DAY = 86400.0
MiB = 1 << 20


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    network = start_network(
        tmp_path_factory.mktemp("lifecycle"),
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


def _upload(coffer: Coffer, tmp_path: Path, size: int = 3 * MiB, **kw: Any) -> str:
    source = tmp_path / f"file-{os.urandom(4).hex()}"
    source.write_bytes(os.urandom(size))
    return coffer.upload(source, chunk_size=MiB, **kw).file_id


def on_disk(fs: Fileserver, file_id: str) -> list[Path]:
    return chunk_files(fs, file_id)


def everywhere(net: Network, file_id: str) -> list[Path]:
    return [p for fs in net.fileservers if fs.proc.alive() for p in on_disk(fs, file_id)]


def _sweep_at(net: Network, now: float) -> retention.SweepResult:
    """Run the lifecycle sweep on the server's database at *now*; log the admin in again (sessions expire)."""
    db = Database(net.database_url)
    try:
        result = retention.sweep(db, now, upload_grace=DAY, lease=LEASE)
    finally:
        db.close()
    assert net.admin is not None
    net.admin.login("admin", ADMIN_PASSWORD)
    return result


def _gone(net: Network, file_id: str, timeout: float = 30) -> None:
    wait_until(lambda: not everywhere(net, file_id), timeout, f"the chunks of {file_id} to leave every disk")


def test_deleted_files_chunks_leave_every_disk_and_the_purges_are_confirmed(
    net: Network, coffer: Coffer, tmp_path: Path
) -> None:
    file_id = _upload(coffer, tmp_path)
    assert len(everywhere(net, file_id)) == 3
    coffer.remove(file_id)
    _gone(net, file_id)
    admin = net.admin
    assert admin is not None
    wait_until(lambda: admin.request("GET", "/api/admin/purges") == [], 15, "every purge to be confirmed")


def test_expired_file_leaves_the_server_and_the_disks_but_a_held_one_stays_until_released(
    net: Network, tmp_path: Path
) -> None:
    with Coffer.login(net.url, USER, PASSWORD, config_dir=tmp_path / "c1") as coffer:
        expiring = _upload(coffer, tmp_path, expires_in=DAY)
        held = _upload(coffer, tmp_path, expires_in=DAY)
    assert net.admin is not None
    net.admin.request("PUT", f"/api/admin/holds/files/{held}", {"reason": "test"})
    assert _sweep_at(net, time.time() + 2 * DAY).expired == 1
    _gone(net, expiring)
    assert len(everywhere(net, held)) == 3, "a held file keeps its chunks"
    net.admin.request("DELETE", f"/api/admin/holds/files/{held}")
    assert _sweep_at(net, time.time() + 2 * DAY).expired == 1
    _gone(net, held)
    with Coffer.login(net.url, USER, PASSWORD, config_dir=tmp_path / "c2") as coffer:
        assert {expiring, held}.isdisjoint(f.id for f in coffer.list())


def _ticket(coffer: Coffer, file_id: str, op: str) -> dict[str, Any]:
    answer: dict[str, Any] = coffer.api.request("POST", f"/api/files/{file_id}/tickets", {"op": op})
    return answer


def test_upload_reusing_a_deleted_files_chunks_survives_its_purge(net: Network, coffer: Coffer, tmp_path: Path) -> None:
    """A second file stores the very ciphertext of a first; deleting the first never touches the second's."""
    first = _upload(coffer, tmp_path, size=2 * MiB)
    record = coffer.api.request("GET", f"/api/files/{first}")
    urls = {fs["id"]: fs["url"] for fs in _ticket(coffer, first, "get")["fileservers"]}
    get = _ticket(coffer, first, "get")["tickets"][0]["ticket"]
    blobs = []
    for chunk in record["chunks"]:
        url = f"{urls[chunk['fileservers'][0]]}/api/chunks/default/{first}/{chunk['hash']}"
        blobs.append(httpx.get(url, headers={"Authorization": f"Ticket {get}"}).content)

    second = coffer.api.request(
        "POST",
        "/api/files",
        {
            "shard": "default",
            "size": sum(len(b) for b in blobs),
            "chunk_count": len(blobs),
            "chunk_size": max(len(b) for b in blobs),
            "metadata": record["metadata"],
        },
    )["id"]
    put = _ticket(coffer, second, "put")
    target = put["fileservers"][0]["url"]
    receipts = []
    for blob in blobs:
        url = f"{target}/api/chunks/default/{second}/{hashlib.sha256(blob).hexdigest()}"
        answer = httpx.put(url, content=blob, headers={"Authorization": f"Ticket {put['tickets'][0]['ticket']}"})
        assert answer.status_code == 201, answer.text
        receipts.append(answer.json()["receipt"])

    coffer.remove(first)
    _gone(net, first)

    chunks = [
        {"index": i, "hash": hashlib.sha256(b).hexdigest(), "size": len(b), "receipts": [r]}
        for i, (b, r) in enumerate(zip(blobs, receipts, strict=True))
    ]
    done = coffer.api.request("POST", f"/api/files/{second}/finalize", {"chunks": chunks})
    assert done["state"] == "complete"
    get = _ticket(coffer, second, "get")["tickets"][0]["ticket"]
    for blob in blobs:
        url = f"{target}/api/chunks/default/{second}/{hashlib.sha256(blob).hexdigest()}"
        assert httpx.get(url, headers={"Authorization": f"Ticket {get}"}).content == blob


def test_orphans_are_collected_after_the_grace_and_uploads_in_progress_are_not(
    net: Network, coffer: Coffer, tmp_path: Path
) -> None:
    live = _upload(coffer, tmp_path, size=MiB)
    fs = next(f for f in net.fileservers if on_disk(f, live))
    sample = on_disk(fs, live)[0]
    shard_root = sample.parents[2]
    assert (sample.parent.name, sample.parent.parent.name) == (live, live[:2]), "layout: <root>/<ab>/<file id>/<hash>"

    def plant(file_id: str, age: float) -> Path:
        data = os.urandom(1000)
        path = shard_root / file_id[:2] / file_id / hashlib.sha256(data).hexdigest()
        path.parent.mkdir(parents=True)
        path.write_bytes(data)
        os.utime(path, (time.time() - age, time.time() - age))
        return path

    from coffer.protocol.ids import new_id

    old_orphan = plant(new_id(), 2 * DAY)
    young_orphan = plant(new_id(), 60)
    pending = coffer.api.request(
        "POST", "/api/files", {"shard": "default", "size": 1000, "chunk_count": 1, "chunk_size": 1000, "metadata": ""}
    )["id"]
    in_progress = plant(pending, 2 * DAY)
    wait_until(lambda: not old_orphan.exists(), 30, "reconciliation to collect the old orphan")
    assert young_orphan.exists(), "an orphan younger than the grace is kept"
    assert in_progress.exists(), "a chunk of an upload in progress is never an orphan"
    assert on_disk(fs, live), "a live file's chunks stay"


def test_a_fileserver_down_during_a_deletion_catches_up_when_it_returns(
    net: Network, coffer: Coffer, tmp_path: Path
) -> None:
    file_id = _upload(coffer, tmp_path, size=4 * MiB)
    holders = [fs for fs in net.fileservers if on_disk(fs, file_id)]
    assert len(holders) == 2, "the upload spreads over both fileservers"
    down = holders[1]
    down.proc.kill(signal.SIGTERM)
    wait_until(lambda: not down.proc.alive(), 20, f"{down.name} to stop")
    coffer.remove(file_id)
    wait_until(lambda: not on_disk(holders[0], file_id), 30, "the live fileserver to purge")
    assert on_disk(down, file_id), "the stopped fileserver still holds its chunks"
    net.start_fileserver(down)
    wait_until(lambda: not on_disk(down, file_id), 30, f"{down.name} to catch up")


def test_deleted_chunks_leave_the_disks_within_a_minute_with_default_settings(tmp_path: Path) -> None:
    """The `make run` network's settings: 10 s heartbeats, 30 s lease."""
    (tmp_path / "defaults").mkdir()
    network = start_network(
        tmp_path / "defaults",
        server_extra={"COFFER_LEASE_SECONDS": "30", "COFFER_HEARTBEAT_INTERVAL": "10"},
        fileserver_extra={"COFFER_FS_HEARTBEAT_INTERVAL": "10"},
    )
    try:
        network.create_user(USER, PASSWORD)
        with Coffer.login(network.url, USER, PASSWORD, config_dir=tmp_path / "config") as coffer:
            file_id = _upload(coffer, tmp_path)
            assert everywhere(network, file_id)
            deleted = time.monotonic()
            coffer.remove(file_id)
        wait_until(lambda: not everywhere(network, file_id), 60, "the chunks to leave within a minute")
        assert time.monotonic() - deleted < 60
    finally:
        network.stop()


def test_a_deleted_file_leaves_the_disks_while_the_revocation_list_is_large(
    net: Network, coffer: Coffer, tmp_path: Path
) -> None:
    """104,000 revoked tickets (as one user once minted in 67 s) and 5,000 revocations: purges still flow."""
    assert net.database_url.startswith("sqlite:")
    far = time.time() + DAY
    net.sql(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 104000) "
        "INSERT INTO tickets (jti, file_id, op, expires_at, revoked, holder) "
        "SELECT printf('minted-%d', i), '00000000-0000-4000-8000-000000000000', 'get', ?, 1, "
        "'00000000-0000-4000-8000-000000000001' FROM n",
        (far,),
    )
    net.sql(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000) "
        "INSERT INTO revocations (holder, file_id, op, issued_before, expires_at) "
        "SELECT printf('%08x-0000-4000-8000-000000000000', i), NULL, NULL, ?, ? FROM n",
        (int(time.time()), int(far)),
    )
    newest = net.sql("SELECT MAX(seq) AS seq FROM revocations")[0]["seq"]
    file_id = _upload(coffer, tmp_path)
    coffer.remove(file_id)
    _gone(net, file_id)

    def caught_up(fs: Fileserver) -> bool:
        held = json.loads((fs.data_dir / "revoked.json").read_text())
        return bool(held["cursor"] >= newest and len(held["entries"]) >= 5000)

    wait_until(lambda: all(caught_up(fs) for fs in net.fileservers), 30, "every fileserver to page in the list")
    assert all(fs.proc.alive() and net.live(fs) for fs in net.fileservers)
