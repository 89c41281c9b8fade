"""Zero knowledge: after real uploads, no plaintext, file key or master key is anywhere on the servers' side.

The files hold a unique marker (in their content and their names); then the
database (the SQLite file with its WAL, or a PostgreSQL dump), every file under
every fileserver's data directory, and every log are searched for the marker
and for each secret in the encodings a careless program would write it in.
"""

from __future__ import annotations

import base64
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

from client import crypto
from client.coffer import Coffer
from protocol import kdf
from protocol.encoding import b64decode, b64encode

from .network import Network

PASSWORD = "zero-knowledge-pw-1"


def _forms(secret: bytes) -> list[bytes]:
    """The ways a secret could be written down: raw, hex, base64 and base64url."""
    return [
        secret,
        secret.hex().encode(),
        base64.b64encode(secret).rstrip(b"="),
        b64encode(secret).encode(),
    ]


def _server_side_bytes(network: Network) -> Iterator[tuple[str, bytes]]:
    if network.database_url.startswith("sqlite:///"):
        db = Path(network.database_url.removeprefix("sqlite:///"))
        for path in db.parent.glob(db.name + "*"):
            yield str(path), path.read_bytes()
    else:
        dump = subprocess.run(["pg_dump", network.database_url], capture_output=True, check=True, timeout=60)
        yield "pg_dump", dump.stdout
    for fs in network.fileservers:
        for path in fs.data_dir.rglob("*"):
            if path.is_file():
                yield str(path), path.read_bytes()
    for path in network.root.glob("*.log"):
        yield str(path), path.read_bytes()


def test_no_marker_file_key_or_master_key_reaches_the_servers(network: Network, tmp_path: Path) -> None:
    assert network.admin is not None
    marker = f"COFFER-MARKER-{os.urandom(8).hex()}"
    body = {"username": "zk", "role": "user"}
    from client.api import new_user_body

    network.admin.request("POST", "/api/admin/users", new_user_body("zk", PASSWORD, "user") | body)
    secrets: dict[str, bytes] = {}
    with Coffer.login(network.url, "zk", PASSWORD, config_dir=tmp_path / "config") as coffer:
        ids = []
        for n, size in enumerate((0, 1000, 3 * 1024 * 1024 + 17)):
            source = tmp_path / f"{marker}-{n}.txt"
            text = (marker + "\n").encode() * (size // (len(marker) + 1) + 1)
            source.write_bytes(text[:size] if size else b"")
            ids.append(coffer.upload(source, chunk_size=1024 * 1024).file_id)
        for file_id in ids:
            record = coffer.api.request("GET", f"/api/files/{file_id}")
            secrets[f"file key {file_id}"] = crypto.open_file_key(coffer.keys, b64decode(record["sealed_key"]))
        secrets["private key"] = coffer.keys.private
        pre = coffer.api.request("POST", "/api/auth/prelogin", {"username": "zk"})
    derived = kdf.derive(PASSWORD, kdf.KdfParams(b64decode(pre["salt"]), pre["opslimit"], pre["memlimit"]))
    secrets["master key"] = derived.master_key
    secrets["auth key"] = derived.auth_key
    needles = {"marker": [marker.encode()], "password": [PASSWORD.encode()]}
    needles |= {name: _forms(value) for name, value in secrets.items()}

    searched = 0
    for where, data in _server_side_bytes(network):
        searched += 1
        for name, forms in needles.items():
            assert not any(form in data for form in forms), f"the {name} appears in {where}"
    assert searched > 10, "the search must have covered the database, the chunks and the logs"
