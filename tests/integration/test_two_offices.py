"""Two offices, each in its own network namespace behind a 50 Mbit/s line: what crosses the lines, and when."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from coffer.devnet.offices import FORWARD, Offices

from .network import chunk_files
from .sites import TWO_OFFICES, start_offices

PASSWORD = "two-offices-password"


@pytest.fixture(scope="module")
def offices(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Offices]:
    net = start_offices(tmp_path_factory.mktemp("offices"), TWO_OFFICES)
    try:
        net.create_user("alice", PASSWORD)
        yield net
    finally:
        net.stop()


def login(net: Offices, cluster: str, config_dir: Path) -> Path:
    """Sign alice in from *cluster*'s office, her session in *config_dir*."""
    done = net.coffer_in(cluster, config_dir, "login", "alice", "--password-stdin", stdin=PASSWORD + "\n")
    assert done.returncode == 0, done.stderr
    return config_dir


def test_an_office_network_leaves_no_namespace_line_or_routing_behind(tmp_path: Path) -> None:
    """Made and removed whole: the namespaces, the veth lines and ip_forward as it was."""
    forwarding = FORWARD.read_text()
    net = start_offices(tmp_path, TWO_OFFICES, per_office=0)
    names = [o.netns for o in net.offices.values()]
    lines = [o.host_dev for o in net.offices.values()]
    net.stop()
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    assert not any(name in listed for name in names)
    assert not any(Path("/sys/class/net", line).exists() for line in lines)
    if not any(n.startswith("coffer-") for n in listed.split()):
        assert FORWARD.read_text() == forwarding


def test_a_person_in_each_office_reaches_the_server_and_the_fileservers(offices: Offices, tmp_path: Path) -> None:
    """A file uploaded in office A downloads byte-identical in office B."""
    a, b = login(offices, "office-a", tmp_path / "a"), login(offices, "office-b", tmp_path / "b")
    source = tmp_path / "plan.bin"
    source.write_bytes(os.urandom(3 * 1024 * 1024))
    done = offices.coffer_in("office-a", a, "upload", str(source), "--shard", "shared", "--quiet")
    assert done.returncode == 0, done.stderr
    file_id = done.stdout.split()[-1]
    copy = tmp_path / "copy.bin"
    done = offices.coffer_in("office-b", b, "download", file_id, "-o", str(copy), "--quiet")
    assert done.returncode == 0, done.stderr
    assert copy.read_bytes() == source.read_bytes()


def test_an_upload_in_an_office_stores_on_that_office_s_fileservers(offices: Offices, tmp_path: Path) -> None:
    """With its site set (``COFFER_SITE``), a person in office A writes every chunk to A, none across the line."""
    a = login(offices, "office-a", tmp_path / "a")
    source = tmp_path / "minutes.bin"
    source.write_bytes(os.urandom(20 * 1024 * 1024))  # three chunks: spread over both offices without a site
    done = offices.coffer_in(
        "office-a", a, "upload", str(source), "--shard", "shared", "--quiet", "--json", COFFER_SITE="office-a"
    )
    assert done.returncode == 0, done.stderr
    file_id = json.loads(done.stdout)[0]["file_id"]
    in_a, in_b = (offices.fileservers[n] for n in (0, 1))
    assert chunk_files(in_a, file_id) and not chunk_files(in_b, file_id)
