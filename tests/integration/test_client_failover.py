"""The Python client when fileservers die: SIGKILL half-way through an upload or a download, shared storage.

One network per module: a server on SQLite and three fileservers of cluster
``local`` (shard ``default``), plus, for the shared-storage test, cluster
``office`` with shard ``shared`` whose two fileservers keep their chunks in one
directory. A fileserver killed by a test is started again before the next one.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from coffer.client.coffer import Coffer

from .network import Fileserver, Network, clean_env, start_network
from .network import coffer as coffer_command

USER, PASSWORD = "bob", "bob-integration-pw"
MiB = 1024 * 1024

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    net = start_network(tmp_path_factory.mktemp("failover-net"), fileservers=3)
    try:
        net.create_user(USER, PASSWORD)
        yield net
    finally:
        net.stop()


@pytest.fixture
def coffer(network: Network, tmp_path: Path) -> Iterator[Coffer]:
    with Coffer.login(network.url, USER, PASSWORD, config_dir=tmp_path / "config") as c:
        yield c


@pytest.fixture
def revive(network: Network) -> Iterator[list[Fileserver]]:
    """Fileservers a test kills; started again afterwards so the next test has them all."""
    killed: list[Fileserver] = []
    yield killed
    for fs in killed:
        network.start_fileserver(fs)


def random_file(path: Path, size: int) -> str:
    data = os.urandom(size)
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def kill_at(
    fraction: float, fs: Fileserver, killed: list[Fileserver], seen: list[int] | None = None
) -> Callable[[int, int], None]:
    """A progress callback that SIGKILLs *fs* (master and workers) once *fraction* of the bytes moved."""

    def progress(done: int, total: int) -> None:
        if not killed and done >= total * fraction and done < total:
            fs.proc.kill(signal.SIGKILL)
            killed.append(fs)
            if seen is not None:
                seen.append(done)

    return progress


def test_an_upload_survives_a_fileserver_killed_half_way(
    network: Network, coffer: Coffer, tmp_path: Path, revive: list[Fileserver]
) -> None:
    source = tmp_path / "upload.bin"
    digest = random_file(source, 96 * MiB)
    victim = network.fileservers[0]
    at: list[int] = []
    result = coffer.upload(source, chunk_size=MiB, in_flight=8, on_progress=kill_at(0.5, victim, revive, at))
    assert revive == [victim] and not victim.proc.alive()
    assert result.chunks_sent == 96
    record = coffer.api.request("GET", f"/api/files/{result.file_id}")
    victim_id = network.fileserver_id(victim)
    read_before_kill = at[0] // MiB + 8 + 1
    assert all(victim_id not in c["fileservers"] for c in record["chunks"][read_before_kill:]), (
        "no chunk read after the kill is placed on the dead fileserver"
    )
    assert len(result.per_fileserver) == 3
    # The chunks it took before dying are on its disk: once it is back, the file reads whole.
    network.start_fileserver(victim)
    revive.clear()
    assert sha256_of(coffer.download(result.file_id, tmp_path / "copy.bin")) == digest


def test_a_download_survives_a_holder_killed_half_way(
    network: Network, coffer: Coffer, tmp_path: Path, revive: list[Fileserver]
) -> None:
    source = tmp_path / "download.bin"
    digest = random_file(source, 96 * MiB)
    result = coffer.upload(source, chunk_size=MiB, copies=2)
    victim = network.fileservers[1]
    victim_id = network.fileserver_id(victim)
    record = coffer.api.request("GET", f"/api/files/{result.file_id}")
    assert sum(victim_id in c["fileservers"] for c in record["chunks"]) > 0
    down = coffer.download_result(
        result.file_id, tmp_path / "copy.bin", on_progress=kill_at(0.5, victim, revive), in_flight=4
    )
    assert revive == [victim]
    assert sha256_of(down.path) == digest
    assert down.chunks_fetched == 96
    print(f"\ndownload with a holder killed half way: {down.retries} failed attempt(s) moved to other holders")


def test_fileservers_on_shared_storage_each_serve_every_chunk(network: Network, tmp_path: Path) -> None:
    assert network.admin is not None
    topology = {
        "shards": [{"name": "shared"}],
        "clusters": [{"name": "office", "shards": [{"name": "shared", "read": True, "write": True}]}],
    }
    network.admin.request("POST", "/api/admin/apply", {"config": topology, "prune": False, "dry_run": False})
    storage = network.root / "shared-storage"
    config = network.export_config("office", {"shared": str(storage)})
    first, second = network.add_fileserver(config=config), network.add_fileserver(config=config)
    with Coffer.login(network.url, USER, PASSWORD, config_dir=tmp_path / "config") as coffer:
        source = tmp_path / "shared.bin"
        digest = random_file(source, 24 * MiB)
        result = coffer.upload(source, shard="shared", chunk_size=MiB)
        assert set(result.per_fileserver) == {first.url, second.url}, "chunks went to both"
        record = coffer.api.request("GET", f"/api/files/{result.file_id}")
        second_id = network.fileserver_id(second)
        held_by_second = sum(c["fileservers"] == [second_id] for c in record["chunks"])
        assert held_by_second > 0
        second.proc.kill(signal.SIGKILL)
        try:
            down = coffer.download_result(result.file_id, tmp_path / "copy.bin")
        finally:
            first.proc.kill(signal.SIGTERM)
    assert sha256_of(down.path) == digest
    assert set(down.per_fileserver) == {first.url}, "the survivor served the chunks the other one took"


def test_the_cli_tells_of_a_dead_fileserver_once_with_the_chunk_the_fileserver_and_the_reason(
    network: Network, tmp_path: Path, revive: list[Fileserver]
) -> None:
    """Killed just before the upload, it is still listed live (its lease runs on) and every chunk sent to it fails."""
    victim = network.fileservers[0]
    source = tmp_path / "big.bin"
    random_file(source, 40_000_000)
    env = clean_env(
        COFFER_CONFIG_DIR=str(tmp_path / "cli"), COFFER_SERVER=network.url, COFFER_USER=USER, COFFER_PASSWORD=PASSWORD
    )
    victim.proc.kill(signal.SIGKILL)
    revive.append(victim)
    done = subprocess.run(
        coffer_command("upload", "--json", str(source)), env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    [result] = json.loads(done.stdout)
    warnings = [line for line in done.stderr.splitlines() if line.startswith("coffer: warning:")]
    assert len(warnings) == (1 if result["retries"] else 0), done.stderr
    for line in warnings:
        chunk = line.removeprefix("coffer: warning: chunk ").split(" ")[0]
        assert line == (
            f"coffer: warning: chunk {chunk} upload failed on {victim.url}: cannot reach the fileserver at "
            f"{victim.url} (ConnectError); trying another fileserver (shown once per fileserver and cause)"
        )
