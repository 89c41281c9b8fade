"""Registration and liveness observed on real processes: heartbeats, SIGKILL, restart."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

from coffer.devnet.procs import wait_until

from .network import LEASE, Network, clean_env, coffer


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
