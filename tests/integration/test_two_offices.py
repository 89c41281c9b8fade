"""Two offices, each in its own network namespace behind a 50 Mbit/s line: what crosses the lines, and when.

The server runs in the root namespace; office A's and office B's fileservers in their
own namespaces, both clusters linked to one shard with read and write
(shard-config/two-offices.toml). A ``coffer`` command run inside an office, with
``COFFER_SITE`` set to it, is a person there; the bytes each line carried are its
veth counters.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from coffer.client.coffer import Coffer
from coffer.devnet.offices import FORWARD, Offices
from coffer.devnet.procs import coffer_command, wait_until

from .network import ADMIN_PASSWORD, chunk_files
from .sites import TWO_OFFICES, held_in, offices_with_user, start_offices
from .test_zero_knowledge import _server_side_bytes

PASSWORD = "two-offices-password"
SHARD = "shared"
A, B = "office-a", "office-b"
MB = 1024 * 1024


@pytest.fixture(scope="module")
def offices_and_user(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Offices, Coffer]]:
    with offices_with_user(tmp_path_factory.mktemp("offices"), TWO_OFFICES, "alice", PASSWORD) as both:
        yield both


@pytest.fixture(scope="module")
def offices(offices_and_user: tuple[Offices, Coffer]) -> Offices:
    return offices_and_user[0]


@pytest.fixture(scope="module")
def alice(offices_and_user: tuple[Offices, Coffer]) -> Coffer:
    """Alice's library client in the root namespace: what the server records of her files."""
    return offices_and_user[1]


@pytest.fixture(scope="module")
def admin(offices: Offices, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment of ``coffer admin`` commands run by the administrator at the server (the root namespace)."""
    env = offices.cli_env(tmp_path_factory.mktemp("admin"))
    done = subprocess.run(
        coffer_command("login", "admin", "--password-stdin"),
        env=env,
        input=ADMIN_PASSWORD + "\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return env


def admin_run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(coffer_command("admin", *args), env=env, capture_output=True, text=True, timeout=120)


def backlog(env: dict[str, str], site: str) -> int:
    """Return the chunks *site* lacks of the shared shard, as ``coffer admin sync status --json`` says."""
    done = admin_run(env, "sync", "status", "--json")
    assert done.returncode == 0, done.stderr
    return sum(r["backlog_chunks"] for r in json.loads(done.stdout) if r["shard"] == SHARD and r["site"] == site)


def login(net: Offices, office: str, config_dir: Path) -> Path:
    """Sign alice in from *office*, her session in *config_dir*."""
    done = net.coffer_in(office, config_dir, "login", "alice", "--password-stdin", stdin=PASSWORD + "\n")
    assert done.returncode == 0, done.stderr
    return config_dir


def upload_in(net: Offices, office: str, config: Path, source: Path) -> str:
    """Upload *source* to the shared shard as a person in *office*; return the file id."""
    done = net.coffer_in(
        office, config, "upload", str(source), "--shard", SHARD, "--quiet", "--json", COFFER_SITE=office
    )
    assert done.returncode == 0, done.stderr
    return str(json.loads(done.stdout)[0]["file_id"])


def settled(net: Offices, coffer: Coffer) -> None:
    """Wait until every file of the user is held in both offices: nothing left to copy that a count could catch."""

    def synced() -> bool:
        return all(held_in(net, coffer, f.id, office) for f in coffer.list() for office in (A, B))

    wait_until(synced, 180, "both offices to hold every file", interval=0.5)


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


def test_an_upload_in_an_office_stores_on_that_office_s_fileservers(offices: Offices, tmp_path: Path) -> None:
    """With its site set (``COFFER_SITE``), a person in office A writes every chunk to A, none across the line."""
    a = login(offices, A, tmp_path / "a")
    source = tmp_path / "minutes.bin"
    source.write_bytes(os.urandom(20 * MB))  # three chunks: spread over both offices without a site
    file_id = upload_in(offices, A, a, source)
    in_a, in_b = (offices.fileservers[n] for n in (0, 1))
    assert len(chunk_files(in_a, file_id)) == 3


def test_a_file_read_twenty_times_in_office_b_crosses_its_line_about_once(
    offices: Offices, alice: Coffer, tmp_path: Path
) -> None:
    """Uploaded in A, copied to B once by the fileservers, then read locally: B's line carries one copy."""
    a, b = login(offices, A, tmp_path / "a"), login(offices, B, tmp_path / "b")
    source = tmp_path / "drawings.bin"
    source.write_bytes(os.urandom(25 * 10**6))
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    line = offices.office(B)
    settled(offices, alice)
    before = line.line_bytes()
    file_id = upload_in(offices, A, a, source)
    wait_until(lambda: held_in(offices, alice, file_id, B), 120, "the copy in office B", interval=0.5)
    copied = line.line_bytes()
    for n in range(20):
        copy = tmp_path / f"copy-{n}.bin"
        done = offices.coffer_in(B, b, "download", file_id, "-o", str(copy), "--quiet", COFFER_SITE=B)
        assert done.returncode == 0, done.stderr
        assert hashlib.sha256(copy.read_bytes()).hexdigest() == digest
        copy.unlink()
    crossed = line.line_bytes() - before
    size = source.stat().st_size
    assert size <= copied - before < 1.1 * size, "the copy crossed once"
    assert line.line_bytes() - copied < 0.05 * size, "twenty reads in B crossed the line with requests only"
    assert crossed < 1.15 * size, crossed


def test_the_line_cut_and_restored_catches_up_by_itself_verifies_clean_and_no_site_holds_the_marker(
    offices: Offices, alice: Coffer, admin: dict[str, str], tmp_path: Path
) -> None:
    """A file uploaded while B's line is down (until B's fileserver is no longer live) is B's backlog; with the line
    back it reaches B by itself, untouched.

    Then ``coffer admin verify`` finds every chunk at every site, and neither site's disks nor any log
    hold the plaintext marker.
    """
    a = login(offices, A, tmp_path / "a")
    marker = f"COFFER-MARKER-{os.urandom(8).hex()}"
    source = tmp_path / f"{marker}.txt"
    source.write_bytes((marker + "\n").encode() * 300_000)
    line = offices.office(B)
    settled(offices, alice)
    line.cut()
    try:
        file_id = upload_in(offices, A, a, source)
        wait_until(lambda: backlog(admin, B) > 0, 30, "the file in office B's backlog", interval=0.5)
        in_b = [fs for fs in offices.fileservers if fs.host == line.office_ip]
        wait_until(lambda: not any(offices.live(fs) for fs in in_b), 30, "office B's lease to run out", interval=0.5)
        assert not any(chunk_files(fs, file_id) for fs in in_b)
    finally:
        line.restore()
    wait_until(lambda: backlog(admin, B) == 0, 180, "office B's backlog back to 0 after the cut", interval=1.0)
    assert held_in(offices, alice, file_id, B)
    done = admin_run(admin, "verify", SHARD)
    assert done.returncode == 0, done.stdout + done.stderr
    for where, data in _server_side_bytes(offices):
        assert marker.encode() not in data, f"the marker appears in {where}"
