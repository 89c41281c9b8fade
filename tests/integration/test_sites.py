"""Two sites on loopback: shards synced two ways and one way between clusters, checked by sync status and verify.

One network for the module: a server on SQLite and one fileserver per site, each of its
own cluster (``office-a``, ``office-b``), with half-second beats, scrubs and inventories
every second. Shard ``shared`` is read and written by both offices; ``owned`` is written
by office A and only read by office B (one way); ``branch`` is office B's alone (it never
leaves). Each test leaves both fileservers running for the next.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from coffer.client.coffer import Coffer
from coffer.devnet.procs import wait_until

from .network import Fileserver, Network, chunk_files, clean_env, coffer

USER, PASSWORD = "dora", "dora-integration-pw"
ADMIN = "sites-admin"
CHUNK = 64 * 1024
TOPOLOGY = {
    "shards": [{"name": "shared"}, {"name": "owned"}, {"name": "branch"}],
    "clusters": [
        {
            "name": "office-a",
            "shards": [
                {"name": "shared", "read": True, "write": True},
                {"name": "owned", "read": True, "write": True},
            ],
        },
        {
            "name": "office-b",
            "shards": [
                {"name": "shared", "read": True, "write": True, "bandwidth": "400 Mbit/s"},
                {"name": "owned", "read": True, "write": False, "bandwidth": "2 Mbit/s"},
                {"name": "branch", "read": True, "write": True},
            ],
        },
    ],
}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    net = Network.launch(
        tmp_path_factory.mktemp("sites-net"),
        1,
        topology=TOPOLOGY,
        server_extra={"COFFER_REPAIR_GRACE": "600"},
        fileserver_extra={
            "COFFER_FS_SCRUB_INTERVAL": "1",
            "COFFER_FS_SCRUB_DELAY": "0",
            "COFFER_FS_RECONCILE_INTERVAL": "1",
            "COFFER_FS_RECONCILE_DELAY": "0",
        },
    )
    try:
        net.add_fileserver(config=net.export_config("office-b"))
        net.create_user(USER, PASSWORD)
        net.create_user(ADMIN, PASSWORD, "admin")
        yield net
    finally:
        net.stop()


@pytest.fixture
def sites(network: Network) -> tuple[Fileserver, Fileserver]:
    a, b = network.fileservers
    return a, b


@pytest.fixture
def user(network: Network, tmp_path: Path) -> Iterator[Coffer]:
    with Coffer.login(network.url, USER, PASSWORD, config_dir=tmp_path / "config") as c:
        yield c


@pytest.fixture
def admin_env(network: Network, tmp_path: Path) -> dict[str, str]:
    return clean_env(
        COFFER_CONFIG_DIR=str(tmp_path / "admin-config"),
        COFFER_SERVER=network.url,
        COFFER_USER=ADMIN,
        COFFER_PASSWORD=PASSWORD,
    )


def wait_for(what: str, check: Callable[[], bool], timeout: float = 60.0) -> None:
    wait_until(check, timeout, what, interval=0.25)


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(coffer(*args), env=env, capture_output=True, text=True, timeout=120)


def sync_status(env: dict[str, str]) -> dict[tuple[str, str], dict[str, Any]]:
    done = cli(env, "admin", "sync", "status", "--json")
    assert done.returncode == 0, done.stderr
    return {(r["shard"], r["site"]): r for r in json.loads(done.stdout)}


def verify(env: dict[str, str], shard: str) -> tuple[int, dict[str, Any]]:
    done = cli(env, "admin", "verify", shard, "--json")
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(done.stdout)


def upload(user: Coffer, tmp_path: Path, shard: str, name: str, size: int = 3 * CHUNK + 99) -> str:
    (tmp_path / name).write_bytes(os.urandom(size))
    return user.upload(tmp_path / name, shard=shard, chunk_size=CHUNK).file_id


def chunk_hashes(user: Coffer, file_id: str) -> set[str]:
    return {c["hash"] for c in user.api.get_file(file_id).to_json()["chunks"]}


def on_disk(fs: Fileserver, file_id: str) -> set[str]:
    """The chunks of the file on the fileserver's disk (a quarantined copy keeps a suffix, and is not one)."""
    return {p.name for p in chunk_files(fs, file_id) if len(p.name) == 64}


def test_a_two_way_shard_reaches_the_other_site_from_either_side_and_the_backlog_returns_to_zero(
    network: Network, sites: tuple[Fileserver, Fileserver], user: Coffer, admin_env: dict[str, str], tmp_path: Path
) -> None:
    a, b = sites
    b.proc.stop()  # only office A takes the first upload
    try:
        first = upload(user, tmp_path, "shared", "first.bin")
        assert on_disk(a, first) == chunk_hashes(user, first)
        backlog = sync_status(admin_env)["shared", "office-b"]
        assert backlog["backlog_chunks"] == 4 and backlog["backlog_bytes"] > 3 * CHUNK  # sealed chunks are larger
    finally:
        network.start_fileserver(b)
    wait_for("office B holds every chunk of the file A took", lambda: on_disk(b, first) == chunk_hashes(user, first))
    a.proc.stop()  # and now only office B takes one
    try:
        second = upload(user, tmp_path, "shared", "second.bin")
    finally:
        network.start_fileserver(a)
    wait_for("office A holds every chunk of the file B took", lambda: on_disk(a, second) == chunk_hashes(user, second))
    wait_for(
        "the backlog of both sites is 0",
        lambda: all(r["backlog_chunks"] == 0 for k, r in sync_status(admin_env).items() if k[0] == "shared"),
    )
    row = sync_status(admin_env)["shared", "office-b"]
    assert row["lag_seconds"] == 0 and row["bytes_per_s"] > 0 and row["errors"] == 0
    code, result = verify(admin_env, "shared")
    assert (code, result["clean"]) == (0, True), result
    shown = cli(admin_env, "admin", "sync", "status")
    line = next(x for x in shown.stdout.splitlines() if x.startswith("shared") and "office-b" in x)
    assert "backlog 0 chunk(s)" in line and "errors 0" in line
    checked = cli(admin_env, "admin", "verify", "shared")
    assert checked.returncode == 0 and "clean at every site" in checked.stdout


def test_a_one_way_shard_reaches_the_reader_and_the_readers_own_shard_never_reaches_the_writer(
    sites: tuple[Fileserver, Fileserver], user: Coffer, admin_env: dict[str, str], tmp_path: Path
) -> None:
    a, b = sites
    owned = upload(user, tmp_path, "owned", "owned.bin", 16 * CHUNK)
    started = time.monotonic()
    own = upload(user, tmp_path, "branch", "branch.bin")
    assert on_disk(b, own) == chunk_hashes(user, own)
    wait_for("office B holds every chunk of A's shard", lambda: on_disk(b, owned) == chunk_hashes(user, owned))
    # B's link to the shard is capped at 2 Mbit/s (250,000 B/s, a second's burst): over 1 MiB takes 3 s at least.
    assert time.monotonic() - started >= (16 * CHUNK - 250_000) / 250_000
    time.sleep(3)  # several beats: long enough for a wrong copy order to have been carried out
    assert on_disk(a, own) == set()
    assert not (a.data_dir / "chunks" / "branch").exists()
    for shard in ("owned", "branch"):
        code, result = verify(admin_env, shard)
        assert (code, result["clean"]) == (0, True), result


def test_verify_finds_a_chunk_deleted_from_one_sites_disk_and_a_corrupted_copy_and_sync_heals_both(
    network: Network, sites: tuple[Fileserver, Fileserver], user: Coffer, admin_env: dict[str, str], tmp_path: Path
) -> None:
    a, b = sites
    file_id = upload(user, tmp_path, "shared", "damaged.bin")
    wait_for("both offices hold the file", lambda: verify(admin_env, "shared")[0] == 0)
    lost, rotten = sorted(p for p in chunk_files(b, file_id) if len(p.name) == 64)[:2]
    a.proc.kill(signal.SIGKILL)  # no source for a while: what verify sees stays put
    try:
        # Once A is listed dead no copy is ordered from it (an order to a dead source fails, and three
        # failures give the copy up for an hour).
        wait_for("office A is no longer live", lambda: not network.live(a))
        lost.unlink()
        rotten.write_bytes(b"\0" * rotten.stat().st_size)

        seen: list[Any] = []

        def found() -> bool:
            code, result = verify(admin_env, "shared")
            seen[:] = [code, result]
            return code == 1 and {(e["chunk"], e["status"]) for e in result["entries"]} == {
                (lost.name, "MISSING"),
                (rotten.name, "CORRUPT"),
            }

        # A listing judges only copies recorded a minute before it (faults.INVENTORY_SETTLE).
        try:
            wait_for("verify reports the deleted chunk MISSING and the damaged one CORRUPT at office B", found, 180)
        except TimeoutError:
            raise AssertionError((lost.name, rotten.name, seen)) from None
        _, result = verify(admin_env, "shared")
        assert {e["site"] for e in result["entries"]} == {"office-b"}
        said = cli(admin_env, "admin", "verify", "shared")
        assert said.returncode == 1 and "NOT clean" in said.stdout
        assert f"MISSING  office-b             file {file_id} chunk {lost.name}" in said.stdout
        sites_seen = {s["site"]: s for s in result["sites"]}
        assert (sites_seen["office-b"]["missing"], sites_seen["office-b"]["corrupt"]) == (1, 1)
    finally:
        network.start_fileserver(a)
    wait_for("office B is copied to again", lambda: verify(admin_env, "shared")[0] == 0)
    assert on_disk(b, file_id) == chunk_hashes(user, file_id)
