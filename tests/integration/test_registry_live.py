"""Registration and liveness observed on real processes: heartbeats, SIGKILL, restart."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

from coffer.devnet.procs import Service, wait_until
from coffer.protocol.signing import SigningKey

from .network import LEASE, Network, clean_env, coffer, free_port


def test_fileservers_register_and_heartbeat(network: Network) -> None:
    listing = network.listing()
    live = {s["url"] for s in listing if s["live"]}
    assert {fs.url for fs in network.fileservers} <= live
    first = {s["id"]: s["last_seen"] for s in listing}
    wait_until(lambda: all(s["last_seen"] > first[s["id"]] for s in network.listing() if s["live"]), 5, "heartbeats")


def test_admin_fileservers_json_lists_id_url_live_last_seen_shards(
    network: Network, tmp_path: os.PathLike[str]
) -> None:
    env = clean_env(COFFER_CONFIG_DIR=str(tmp_path), COFFER_PASSWORD="integration-admin-pw")
    login = subprocess.run(coffer("login", "admin", "--server", network.url), env=env, capture_output=True, text=True)
    assert login.returncode == 0, login.stderr
    out = subprocess.run(coffer("admin", "fileservers", "--json"), env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    servers = json.loads(out.stdout)
    assert len(servers) >= 2
    for s in servers:
        assert {"id", "url", "live", "last_seen", "shards"} <= set(s)
        assert isinstance(s["live"], bool)
        assert {"name", "read", "write"} <= set(s["shards"][0])


def test_killed_fileserver_leaves_the_live_list_and_returns_with_its_identity(network: Network) -> None:
    fs = network.fileservers[0]
    fs_id = network.fileserver_id(fs)
    rows_before = len(network.listing())
    fs.proc.kill(signal.SIGKILL)
    killed_at = time.monotonic()
    wait_until(lambda: not network.live(fs), LEASE + 5, "the killed fileserver to leave the live list")
    assert time.monotonic() - killed_at <= LEASE + 2
    network.start_fileserver(fs)
    assert network.fileserver_id(fs) == fs_id
    listing = network.listing()
    assert len(listing) == rows_before, "a restart must reuse its row"
    assert [s["live"] for s in listing if s["id"] == fs_id] == [True]


def test_fileserver_survives_a_server_outage_and_comes_back_live(network: Network) -> None:
    assert network.server is not None
    network.server.kill(signal.SIGTERM)
    time.sleep(1.5)
    assert all(fs.proc.alive() for fs in network.fileservers)
    network.start_server()
    wait_until(lambda: all(network.live(fs) for fs in network.fileservers), 15, "fileservers to be live again")


def test_a_peer_claiming_anothers_id_with_its_own_key_is_refused_and_the_real_one_keeps_its_address(
    network: Network, tmp_path: Path
) -> None:
    """The confirmed attack: a second fileserver of the cluster re-registers a peer's id with its own key and URL."""
    real = network.fileservers[0]
    real_id = network.fileserver_id(real)
    data_dir = tmp_path / "impostor"
    data_dir.mkdir(mode=0o700)
    identity = {"v": 1, "id": real_id, "key": SigningKey.generate().to_text()}
    fd = os.open(data_dir / "identity.json", os.O_WRONLY | os.O_CREAT, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(identity, f)
    port = free_port()
    env = clean_env(
        COFFER_FS_BIND=f"127.0.0.1:{port}",
        COFFER_FS_PUBLIC_URL=f"http://127.0.0.1:{port}",
        COFFER_FS_DATA_DIR=str(data_dir),
        COFFER_FS_HEARTBEAT_INTERVAL="0.5",
    )
    log = tmp_path / "impostor.log"
    impostor = Service("impostor", coffer("fileserver", "--config", str(network.cluster_config)), log, env).start()
    try:
        wait_until(lambda: "fileserver_key_mismatch" in impostor.tail(20000), 60, "the impostor to be refused")
        assert f"coffer admin fileserver forget {real_id}" in impostor.tail(20000)
        time.sleep(1.0)
        mine = [(s["url"], s["live"]) for s in network.listing() if s["id"] == real_id]
        assert mine == [(real.url, True)]
        assert real.proc.alive()
    finally:
        impostor.stop()
    server_log = network.root / "server.log"
    assert "fileserver_key_mismatch" in server_log.read_text(errors="replace")
