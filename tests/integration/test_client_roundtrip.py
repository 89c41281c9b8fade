"""The Python client against real processes: byte-identical round trips, resume, and tampering detected.

One network per module (a server on SQLite, three fileservers under gunicorn); each
test logs in as the same user with the real Argon2id login and uses its own config
directory, so resume states never leak between tests.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from coffer.client import resume
from coffer.client.coffer import Coffer
from coffer.format.errors import IntegrityError
from coffer.format.sizes import DEFAULT_CHUNK_SIZE, chunk_count

from .network import Network, start_network

USER, PASSWORD = "alice", "alice-integration-pw"
MiB = 1024 * 1024

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    net = start_network(tmp_path_factory.mktemp("client-net"), fileservers=3)
    try:
        net.create_user(USER, PASSWORD)
        yield net
    finally:
        net.stop()


@pytest.fixture
def coffer(network: Network, tmp_path: Path) -> Iterator[Coffer]:
    with Coffer.login(network.url, USER, PASSWORD, config_dir=tmp_path / "config") as c:
        yield c


def random_file(path: Path, size: int) -> str:
    """Write *size* random bytes to *path* in pieces; return their SHA-256."""
    digest = hashlib.sha256()
    with open(path, "wb") as f:
        left = size
        while left:
            block = os.urandom(min(left, 8 * MiB))
            digest.update(block)
            f.write(block)
            left -= len(block)
    return digest.hexdigest()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(8 * MiB):
            digest.update(block)
    return digest.hexdigest()


def chunk_file(network: Network, file_id: str, hash_: str) -> Path:
    """Where a fileserver's local backend keeps a chunk: <data_dir>/chunks/<shard>/<ab>/<file id>/<hash>."""
    for fs in network.fileservers:
        path = fs.data_dir / "chunks" / "default" / file_id[:2] / file_id / hash_
        if path.exists():
            return path
    raise AssertionError(f"no fileserver holds chunk {hash_} of file {file_id}")


@pytest.mark.parametrize("size", [0, 1, MiB, MiB + 1], ids=["empty", "one-byte", "one-chunk", "chunk-plus-one"])
def test_small_files_round_trip_byte_identical(coffer: Coffer, tmp_path: Path, size: int) -> None:
    source = tmp_path / "source.bin"
    digest = random_file(source, size)
    result = coffer.upload(source, chunk_size=MiB)
    assert result.chunk_count == chunk_count(size, MiB) == result.chunks_sent
    out = coffer.download(result.file_id, tmp_path / "copy.bin")
    assert out.stat().st_size == size and sha256_of(out) == digest
    info = coffer.info(result.file_id)
    assert (info.name, info.size, info.state, info.sha256) == ("source.bin", size, "complete", digest)


def test_a_300_mb_file_round_trips_over_three_fileservers(
    coffer: Coffer, tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    source = tmp_path / "big.bin"
    size = 300 * 1000 * 1000
    digest = random_file(source, size)
    up = coffer.upload(source)
    assert up.chunk_count == chunk_count(size, DEFAULT_CHUNK_SIZE) == up.chunks_sent
    assert len(up.per_fileserver) == 3, "one file is spread over every live fileserver"
    source.unlink()
    started = time.monotonic()
    down = coffer.download_result(up.file_id, tmp_path / "copy.bin")
    down_seconds = time.monotonic() - started
    assert sha256_of(down.path) == digest
    record_property("upload_mb_per_s", round(size / up.seconds / 1e6))
    record_property("download_mb_per_s", round(size / down_seconds / 1e6))
    print(f"\n300 MB: upload {size / up.seconds / 1e6:.0f} MB/s, download {size / down_seconds / 1e6:.0f} MB/s")


def test_an_interrupted_upload_run_again_sends_only_the_missing_chunks(coffer: Coffer, tmp_path: Path) -> None:
    source = tmp_path / "resumable.bin"
    digest = random_file(source, 40 * MiB)

    class Interrupt(Exception):
        pass

    def stop_half_way(done: int, total: int) -> None:
        if done >= total // 2:
            raise Interrupt()

    with pytest.raises(Interrupt):
        coffer.upload(source, chunk_size=MiB, on_progress=stop_half_way)
    [state_path] = (tmp_path / "config" / resume.UPLOADS).glob("*.json")
    state = resume.load_upload(state_path)
    assert state is not None and 20 <= len(state.chunks) < 40

    result = coffer.upload(source, chunk_size=MiB)
    assert result.resumed and result.file_id == state.file_id
    assert (result.chunks_skipped, result.chunks_sent) == (len(state.chunks), 40 - len(state.chunks))
    assert not state_path.exists()
    assert sha256_of(coffer.download(result.file_id, tmp_path / "copy.bin")) == digest


def test_a_chunk_altered_on_disk_is_detected_named_and_never_written(
    network: Network, coffer: Coffer, tmp_path: Path
) -> None:
    source = tmp_path / "victim.bin"
    random_file(source, 3 * MiB + 5)
    result = coffer.upload(source, chunk_size=MiB)
    record = coffer.api.request("GET", f"/api/files/{result.file_id}")
    target = chunk_file(network, result.file_id, record["chunks"][1]["hash"])
    target.chmod(0o600)
    with open(target, "r+b") as f:
        f.seek(1000)
        byte = f.read(1)
        f.seek(1000)
        f.write(bytes([byte[0] ^ 0xFF]))
    holder = next(fs for fs in network.fileservers if fs.data_dir in target.parents)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with pytest.raises(IntegrityError, match=rf"chunk 1 .*{holder.url}"):
        coffer.download(result.file_id, out_dir / "victim.bin")
    assert list(out_dir.iterdir()) == [], "no partial file and nothing under the final name"


def edit_records(network: Network, sql: str, params: tuple[object, ...]) -> None:
    with sqlite3.connect(network.root / "coffer.db") as db:
        db.execute(sql, params)


def test_chunks_reordered_in_the_servers_records_are_detected(network: Network, coffer: Coffer, tmp_path: Path) -> None:
    source = tmp_path / "ordered.bin"
    random_file(source, 4 * MiB)
    result = coffer.upload(source, chunk_size=MiB)
    record = coffer.api.request("GET", f"/api/files/{result.file_id}")
    h0, h1 = record["chunks"][0]["hash"], record["chunks"][1]["hash"]
    edit_records(
        network,
        "UPDATE chunks SET hash = CASE idx WHEN 0 THEN ? ELSE ? END WHERE file_id = ? AND idx IN (0, 1)",
        (h1, h0, result.file_id),
    )
    out = tmp_path / "out.bin"
    with pytest.raises(IntegrityError, match="chunk [01] .*out of order"):
        coffer.download(result.file_id, out)
    assert not out.exists() and not resume.part_path(out).exists()


def test_chunks_dropped_from_the_servers_records_are_detected(network: Network, coffer: Coffer, tmp_path: Path) -> None:
    source = tmp_path / "whole.bin"
    random_file(source, 4 * MiB)
    result = coffer.upload(source, chunk_size=MiB)
    edit_records(network, "DELETE FROM chunks WHERE file_id = ? AND idx = 3", (result.file_id,))
    out = tmp_path / "out.bin"
    with pytest.raises(IntegrityError, match="lists 3 chunks"):
        coffer.download(result.file_id, out)
    assert not out.exists()


def test_logging_in_again_unwraps_the_same_key_pair_and_lists_the_names(
    network: Network, coffer: Coffer, tmp_path: Path
) -> None:
    source = tmp_path / "named-report.txt"
    source.write_bytes(b"hello")
    result = coffer.upload(source)
    with Coffer.login(network.url, USER, PASSWORD, config_dir=tmp_path / "other") as again:
        assert again.keys.public == coffer.keys.public
        names = {f.id: f.name for f in again.list()}
        assert names[result.file_id] == "named-report.txt"
        again.remove(result.file_id)
    assert result.file_id not in {f.id for f in coffer.list()}
