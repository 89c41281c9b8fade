"""A fileserver whose disk fills up: a small filesystem made for the test holds one fileserver's chunks.

A chunk that does not fit is refused with 507 ``storage_full`` and a message saying
what to do, leaves nothing behind and gets no receipt; an upload moves its chunks to
the other fileserver; the full fileserver then reports its shard not writable in its
heartbeats and refuses every write at once, until space is freed. Needs root (to
mount a 20 MiB tmpfs); skipped otherwise, failed under CI.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from coffer.client.coffer import Coffer
from coffer.devnet.procs import wait_until
from coffer.devnet.raw_chunks import chunk_url, new_file, put_chunk, put_ticket

from ..services import unavailable
from .network import Fileserver, Network, start_network

USER, PASSWORD = "fay", "fay-integration-pw"
MiB = 1 << 20
RESERVE = 2 * MiB
"""The small fileserver's ``min_free_bytes``: below it, its disk counts as full."""

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def small_disk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A 20 MiB tmpfs, mounted for this module and unmounted after it."""
    mount = tmp_path_factory.mktemp("small-disk")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=20m,mode=0700", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        unavailable(f"cannot mount a tmpfs: {done.stderr.decode().strip()}", "CI runs as root: mount must work")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory, small_disk: Path) -> Iterator[Network]:
    network = start_network(tmp_path_factory.mktemp("disk-full"), fileservers=1)
    try:
        network.create_user(USER, PASSWORD)
        network.fileserver_extra = network.fileserver_extra | {"COFFER_FS_MIN_FREE_BYTES": str(RESERVE)}
        network.add_fileserver(data_dir=small_disk / "fs")
        yield network
    finally:
        network.stop()


@pytest.fixture
def small(net: Network) -> Fileserver:
    return net.fileservers[1]


@pytest.fixture
def coffer(net: Network, tmp_path: Path) -> Iterator[Coffer]:
    with Coffer.login(net.url, USER, PASSWORD, config_dir=tmp_path / "config") as c:
        yield c


def free(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def writable(net: Network, fs: Fileserver) -> bool:
    """Whether the server lists *fs* as taking writes of shard ``default``, from its heartbeats."""
    listed = next(s for s in net.listing() if s["url"] == fs.url)
    return any(s["name"] == "default" and s["write"] for s in listed["shards"])


@pytest.fixture
def fill(net: Network, small: Fileserver, small_disk: Path) -> Iterator[None]:
    """Empty the small disk after the test (it fills it) and wait until its fileserver takes writes again."""
    yield
    (small_disk / "filler").unlink(missing_ok=True)
    wait_until(lambda: writable(net, small), 15, "the emptied fileserver to take writes again")


def fill_leaving(small_disk: Path, leave: int) -> None:
    with open(small_disk / "filler", "ab") as f:
        f.write(b"\0" * max(0, free(small_disk) - leave))
    assert free(small_disk) <= leave + 64 * 1024


def test_a_chunk_that_does_not_fit_is_refused_clearly_and_leaves_nothing(
    net: Network, coffer: Coffer, small: Fileserver, small_disk: Path, fill: None
) -> None:
    chunk = os.urandom(3 * MiB)
    file = new_file(coffer.api, [chunk])
    ticket, _ = put_ticket(coffer.api, file["id"])
    fill_leaving(small_disk, 2 * MiB + 512 * 1024)
    before = free(small_disk)
    answer = put_chunk(small.url, file["id"], chunk, ticket)
    assert answer.status_code == 507
    body = answer.json()
    assert body["error"] == "storage_full" and "receipt" not in body
    assert "full" in body["message"] and "another fileserver" in body["message"]
    head = httpx.head(chunk_url(small.url, "default", file["id"], chunk), headers={"Authorization": f"Ticket {ticket}"})
    assert head.status_code == 404, "nothing of the chunk was stored"
    assert free(small_disk) == before, "no temporary file left behind"


def test_a_full_fileserver_reports_it_and_refuses_every_write_until_space_is_freed(
    net: Network, coffer: Coffer, small: Fileserver, small_disk: Path, fill: None
) -> None:
    fill_leaving(small_disk, RESERVE - 512 * 1024)
    wait_until(lambda: not writable(net, small), 15, "the full fileserver to report its shard not writable")
    writers = {s.url for s in coffer.api.shard_fileservers("default", "write")}
    assert small.url not in writers and net.fileservers[0].url in writers
    tiny = os.urandom(1000)
    file = new_file(coffer.api, [tiny])
    ticket, _ = put_ticket(coffer.api, file["id"])
    refused = put_chunk(small.url, file["id"], tiny, ticket)
    assert refused.status_code == 507 and refused.json()["error"] == "storage_full", "even a chunk that would fit"
    (small_disk / "filler").unlink()
    wait_until(lambda: writable(net, small), 15, "the emptied fileserver to report its shard writable again")
    assert put_chunk(small.url, file["id"], tiny, ticket).status_code in (200, 201)


def test_an_upload_moves_its_chunks_off_a_fileserver_that_fills_up(
    net: Network, coffer: Coffer, small: Fileserver, small_disk: Path, tmp_path: Path, fill: None
) -> None:
    source = tmp_path / "spread.bin"
    source.write_bytes(os.urandom(16 * MiB))

    def fill_once_listed(done: int, total: int) -> None:
        # Called first once the client has the live writers: both, the small one still roomy. Then its
        # disk keeps more than its reserve free but less than a chunk: each chunk fails part-written.
        if done == 0:
            fill_leaving(small_disk, RESERVE + 512 * 1024)

    result = coffer.upload(source, chunk_size=4 * MiB, on_progress=fill_once_listed)
    record = coffer.api.request("GET", f"/api/files/{result.file_id}")
    small_id = net.fileserver_id(small)
    assert all(small_id not in c["fileservers"] for c in record["chunks"]), "no chunk acknowledged by the full one"
    refused = [line for line in small.proc.tail(10**7).splitlines() if f"file={result.file_id}" in line]
    assert refused and all("status=507" in line for line in refused), "it was tried, refused, and moved from"
    assert coffer.download(result.file_id, tmp_path / "copy.bin").read_bytes() == source.read_bytes()
