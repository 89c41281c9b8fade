"""What a fileserver writes to its data directory is its owner's alone, whatever the umask."""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from coffer.fileserver.identity import load_or_create
from coffer.fileserver.revocations import Revocations, write_revocations
from coffer.fileserver.storage.local import LocalBackend
from coffer.protocol.ids import new_id
from coffer.protocol.messages import Revocation
from tests.fileserver.fs_helpers import stored_chunk


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def test_identity_revocations_and_chunks_are_private_under_a_permissive_umask(
    tmp_path: Path, permissive_umask: None
) -> None:
    data_dir = tmp_path / "data"
    load_or_create(data_dir)
    write_revocations(data_dir / "revoked.json", Revocations(1, (Revocation(0, 2_000_000_000, holder=new_id()),)))
    backend = LocalBackend(data_dir / "chunks")
    data, name = stored_chunk(1000)
    assert backend.put(name, io.BytesIO(data), len(data))
    modes = {str(p.relative_to(tmp_path)): stat.S_IMODE(p.stat().st_mode) for p in tmp_path.rglob("*")}
    assert {"data/identity.json", "data/revoked.json"} <= modes.keys() and len(modes) > 4
    exposed = {path: oct(mode) for path, mode in modes.items() if mode & 0o077}
    assert exposed == {}
