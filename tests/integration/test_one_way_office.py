"""One way: the branch reads head office's shard, head office does not read the branch's.

shard-config/office-per-shard.toml with one of its two links: cluster ``hq`` reads and
writes ``hq-files``; cluster ``branch`` reads and writes ``branch-files`` and only reads
``hq-files``. Head office's files are copied to the branch; the branch's writes never
cross to head office.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from coffer.client.coffer import Coffer
from coffer.devnet.offices import Offices
from coffer.devnet.procs import wait_until

from .network import chunk_files
from .sites import ONE_WAY, held_in, offices_with_user

PASSWORD = "one-way-password"
HQ, BRANCH = "hq", "branch"


@pytest.fixture(scope="module")
def offices_and_user(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Offices, Coffer]]:
    with offices_with_user(tmp_path_factory.mktemp("one-way"), ONE_WAY, "bob", PASSWORD) as both:
        yield both


def upload_in(net: Offices, office: str, shard: str, tmp_path: Path, size: int) -> str:
    """Sign bob in from *office* and upload *size* random bytes to *shard*; return the file id."""
    config = tmp_path / office
    done = net.coffer_in(office, config, "login", "bob", "--password-stdin", stdin=PASSWORD + "\n")
    assert done.returncode == 0, done.stderr
    source = tmp_path / f"{office}.bin"
    source.write_bytes(os.urandom(size))
    args = ("upload", str(source), "--shard", shard, "--quiet", "--json")
    done = net.coffer_in(office, config, *args, COFFER_SITE=office)
    assert done.returncode == 0, done.stderr
    return str(json.loads(done.stdout)[0]["file_id"])


def test_head_office_files_are_copied_to_the_branch(offices_and_user: tuple[Offices, Coffer], tmp_path: Path) -> None:
    offices, bob = offices_and_user
    file_id = upload_in(offices, HQ, "hq-files", tmp_path, 10 * 10**6)
    wait_until(lambda: held_in(offices, bob, file_id, BRANCH), 120, "the branch's copy", interval=0.5)


def test_the_branch_s_writes_never_cross_to_head_office(
    offices_and_user: tuple[Offices, Coffer], tmp_path: Path
) -> None:
    """Twenty heartbeats after the branch's upload, head office's line carried requests only, its disks nothing."""
    offices, bob = offices_and_user
    line = offices.office(HQ)
    before = line.line_bytes()
    size = 10 * 10**6
    file_id = upload_in(offices, BRANCH, "branch-files", tmp_path, size)
    time.sleep(10)  # proving that nothing happens: twenty beats of 0.5 s
    assert line.line_bytes() - before < 0.02 * size
    assert not any(chunk_files(fs, file_id) for fs in offices.fileservers if fs.host == line.office_ip)
    assert not held_in(offices, bob, file_id, HQ) and held_in(offices, bob, file_id, BRANCH)
