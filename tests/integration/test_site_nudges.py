"""A new file's copy reaches the other site long before that site's fileserver would next beat: the server nudged it.

Heartbeats every 60 s here (leases of 180 s), so a copy order that waited for a regular beat
would wait up to a minute. After each fileserver's first beat nothing else brings a beat
forward in this network (no revocation backlog, no corrupt chunk, no purge) except a nudge,
and a copier's report of orders it was handed, which needs an order first. So office B
holding a file's chunks, recorded by the server, before B's next regular beat was due can only
mean a nudge brought B's beat forward: the test asserts that order of events, with the
copy itself given a bound far above its work and far below the interval.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from coffer.client.coffer import Coffer
from coffer.devnet.procs import wait_until

from .network import Fileserver, Network

USER, PASSWORD = "nell", "nell-integration-pw"
INTERVAL = 60.0
CHUNK = 64 * 1024
COPIED_WITHIN = 20.0
"""Seconds from the upload's return until B holds the copies: generous for a loaded machine, a third of a beat."""
TOPOLOGY = {
    "shards": [{"name": "owned"}],
    "clusters": [
        {"name": "office-a", "shards": [{"name": "owned", "read": True, "write": True}]},
        {"name": "office-b", "shards": [{"name": "owned", "read": True, "write": False}]},
    ],
}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    net = Network.launch(
        tmp_path_factory.mktemp("nudge-net"),
        1,
        topology=TOPOLOGY,
        server_extra={
            "COFFER_HEARTBEAT_INTERVAL": str(INTERVAL),
            "COFFER_LEASE_SECONDS": str(3 * INTERVAL),
            "COFFER_REPAIR_GRACE": "600",
        },
        fileserver_extra={"COFFER_FS_HEARTBEAT_INTERVAL": str(INTERVAL)},
    )
    try:
        net.add_fileserver(config=net.export_config("office-b"))
        net.create_user(USER, PASSWORD)
        yield net
    finally:
        net.stop()


def last_seen(network: Network, fs: Fileserver) -> float:
    return float(
        network.sql("SELECT last_seen FROM fileservers WHERE id = ?", (network.fileserver_id(fs),))[0]["last_seen"]
    )


def copies_recorded(network: Network, fs: Fileserver, file_id: str) -> int:
    rows = network.sql(
        "SELECT COUNT(*) AS n FROM chunk_locations WHERE file_id = ? AND fileserver_id = ?",
        (file_id, network.fileserver_id(fs)),
    )
    return int(rows[0]["n"])


def chunk_hashes(network: Network, file_id: str) -> set[str]:
    return {str(r["hash"]) for r in network.sql("SELECT hash FROM chunks WHERE file_id = ?", (file_id,))}


def test_a_file_written_in_one_office_is_copied_to_the_other_well_before_its_next_heartbeat(
    network: Network, tmp_path: Path
) -> None:
    _a, b = network.fileservers
    source = tmp_path / "report.bin"
    source.write_bytes(os.urandom(3 * CHUNK + 99))
    with Coffer.login(network.url, USER, PASSWORD, config_dir=tmp_path / "config") as user:
        beat_before = last_seen(network, b)
        file_id = user.upload(source, shard="owned", chunk_size=CHUNK).file_id
        uploaded = time.time()
        chunks = len(user.api.get_file(file_id).to_json()["chunks"])
    next_regular_beat = beat_before + INTERVAL
    assert uploaded < next_regular_beat - COPIED_WITHIN, "the upload itself took most of a heartbeat interval"
    wait_until(
        lambda: copies_recorded(network, b, file_id) == chunks,
        COPIED_WITHIN,
        "office B holds every chunk, recorded by the server",
        interval=0.1,
    )
    copied = time.time()
    assert copied < next_regular_beat, "B's copy order came with a regular beat, not a nudged one"
    assert {p.name for p in b.chunk_files(file_id) if len(p.name) == 64} == chunk_hashes(network, file_id)
