"""Copies on real processes: a shard at two copies survives a dead fileserver, and repair restores the count.

One network for the module: a server on SQLite (short lease, a repair grace of a few
seconds) and three fileservers of shard ``default`` at ``copies = 2``, scrubbing every
second. Each test leaves every fileserver running for the next.
"""

from __future__ import annotations

import hashlib
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from coffer.client.coffer import Coffer

from .network import LEASE, Fileserver, Network

USER, PASSWORD = "carol", "carol-integration-pw"
CHUNK = 64 * 1024
GRACE = LEASE + 1.0
TOPOLOGY = {
    "shards": [{"name": "default", "copies": 2}],
    "clusters": [{"name": "local", "shards": [{"name": "default", "read": True, "write": True}]}],
}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    net = Network.launch(
        tmp_path_factory.mktemp("copies-net"),
        3,
        topology=TOPOLOGY,
        server_extra={"COFFER_REPAIR_GRACE": str(GRACE)},
        fileserver_extra={
            "COFFER_FS_SCRUB_INTERVAL": "1",
            "COFFER_FS_SCRUB_DELAY": "0",
            "COFFER_FS_RECONCILE_INTERVAL": "0",
        },
    )
    try:
        net.create_user(USER, PASSWORD)
        yield net
    finally:
        net.stop()


@pytest.fixture
def coffer(network: Network, tmp_path: Path) -> Iterator[Coffer]:
    with Coffer.login(network.url, USER, PASSWORD, config_dir=tmp_path / "config") as c:
        yield c


def wait_for(what: str, check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.2)


def upload(coffer: Coffer, tmp_path: Path, name: str, size: int) -> tuple[str, bytes]:
    data = os.urandom(size)
    (tmp_path / name).write_bytes(data)
    return coffer.upload(tmp_path / name, chunk_size=CHUNK).file_id, data


def holders(coffer: Coffer, file_id: str) -> list[set[str]]:
    """Return, per chunk of the file, the ids of the fileservers the server lists for it."""
    return [set(c["fileservers"]) for c in coffer.api.get_file(file_id).to_json()["chunks"]]


def chunk_path(fs: Fileserver, file_id: str, chunk_hash: str) -> Path:
    return fs.data_dir / "chunks" / "default" / file_id[:2] / file_id / chunk_hash


def chunks_of(coffer: Coffer, file_id: str) -> list[dict[str, Any]]:
    return list(coffer.api.get_file(file_id).to_json()["chunks"])


def shard_figures(network: Network) -> dict[str, Any]:
    assert network.admin is not None
    return next(s.to_json() for s in network.admin.admin_shards() if s.name == "default")


def test_with_two_copies_every_file_survives_a_killed_fileserver_and_repair_restores_two_copies(
    network: Network, coffer: Coffer, tmp_path: Path
) -> None:
    files = [upload(coffer, tmp_path, f"f{i}.bin", 3 * CHUNK + 1000 * i) for i in range(3)]
    for file_id, _ in files:  # the library asked for one copy; the shard's count of two wins
        assert {len(h) for h in holders(coffer, file_id)} == {2}
    victim = network.fileservers[2]
    survivors = network.fileservers[:2]
    victim.proc.kill(signal.SIGKILL)
    try:
        for file_id, data in files:  # downloads fail over to the other listed copy at once
            out = coffer.download(file_id, tmp_path / f"{file_id}.out")
            assert hashlib.sha256(out.read_bytes()).digest() == hashlib.sha256(data).digest()
        wait_for(
            "the copies on the killed fileserver stop counting", lambda: shard_figures(network)["below_copies"] > 0
        )
        live = {network.fileserver_id(fs) for fs in survivors}

        def repaired() -> bool:
            return all(h >= live for file_id, _ in files for h in holders(coffer, file_id))

        wait_for("repair puts every chunk on both survivors", repaired)
        for file_id, _ in files:  # and on their disks, verified
            for chunk in chunks_of(coffer, file_id):
                for fs in survivors:
                    blob = chunk_path(fs, file_id, chunk["hash"]).read_bytes()
                    assert hashlib.sha256(blob).hexdigest() == chunk["hash"]
        wait_for("no chunk is below its count", lambda: shard_figures(network)["below_copies"] == 0)
        assert shard_figures(network)["unrepairable"] == 0
    finally:
        network.start_fileserver(victim)
    for file_id, _ in files:
        coffer.remove(file_id)

    def purged() -> bool:
        return not any(
            (fs.data_dir / "chunks" / "default" / file_id[:2] / file_id).exists()
            for fs in network.fileservers
            for file_id, _ in files
        )

    wait_for("a deleted file's chunks leave every fileserver, the repaired copies too", purged)


def test_a_copy_corrupted_on_disk_is_found_by_the_scrub_and_replaced_from_the_good_one(
    network: Network, coffer: Coffer, tmp_path: Path
) -> None:
    file_id, data = upload(coffer, tmp_path, "rot.bin", 2 * CHUNK)
    chunk = chunks_of(coffer, file_id)[0]
    by_id = {network.fileserver_id(fs): fs for fs in network.fileservers}
    damaged = by_id[sorted(chunk["fileservers"])[0]]
    path = chunk_path(damaged, file_id, chunk["hash"])
    path.write_bytes(b"\0" * path.stat().st_size)  # the same size, other bytes: only a hash finds it

    def good(fs_id: str) -> bool:
        try:
            blob = chunk_path(by_id[fs_id], file_id, chunk["hash"]).read_bytes()
        except FileNotFoundError:
            return False  # quarantined by the scrub, not yet copied again
        return bool(hashlib.sha256(blob).hexdigest() == chunk["hash"])

    def healthy() -> bool:
        now = holders(coffer, file_id)[0]
        return len(now) == 2 and all(good(fs) for fs in now)

    wait_for(
        "the scrub reports the damaged copy",
        lambda: network.fileserver_id(damaged) not in holders(coffer, file_id)[0] or healthy(),
    )
    wait_for("repair brings the chunk back to two good copies", healthy)
    assert "corrupt chunk quarantined" in (network.root / f"{damaged.name}.log").read_text()
    out = coffer.download(file_id, tmp_path / "rot.out")
    assert out.read_bytes() == data
    coffer.remove(file_id)
